// Lock annotations that Clang's -Wthread-safety checks (STYLE.md §6), and the
// annotated Mutex, MutexLock and CondVar they need.
//
//   class Queue {
//    public:
//     void Push(int v) EXCLUDES(mu_) {
//       { MutexLock lock(mu_); items_.push_back(v); }
//       cv_.NotifyOne();
//     }
//     int Pop() EXCLUDES(mu_) {
//       MutexLock lock(mu_);
//       while (items_.empty()) cv_.Wait(mu_);  // a loop, not a predicate lambda: see CondVar
//       return TakeFront();
//     }
//    private:
//     int TakeFront() REQUIRES(mu_);  // REQUIRES: mu_ held
//     Mutex mu_;
//     CondVar cv_;
//     std::deque<int> items_ GUARDED_BY(mu_);
//   };
//
// The macros expand to Clang's attributes under Clang and to nothing under
// other compilers: GCC does not know them and -Wattributes fails -Werror.
// scripts/check_thread_safety.sh (the third CI stage) builds with Clang and
// -Wthread-safety -Werror (CMake option JOBWARDEN_THREAD_SAFETY).
//
// Why a Mutex of our own: libstdc++'s std::mutex and std::lock_guard carry no
// annotations, so Clang cannot see that code locking them holds anything.
// Mutex, MutexLock and CondVar are thin inline wrappers over std::mutex,
// std::lock_guard's behaviour and std::condition_variable: the generated code
// is the same as theirs (no std::condition_variable_any, which is slower).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define JW_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define JW_THREAD_ANNOTATION(x)
#endif

// On a class: its objects are capabilities (locks).
#define CAPABILITY(x) JW_THREAD_ANNOTATION(capability(x))
// On a class: an RAII object that holds a capability for its lifetime.
#define SCOPED_CAPABILITY JW_THREAD_ANNOTATION(scoped_lockable)
// On a data member: read or written only with the capability held.
#define GUARDED_BY(x) JW_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: what it points to is guarded (the pointer itself is not).
#define PT_GUARDED_BY(x) JW_THREAD_ANNOTATION(pt_guarded_by(x))
// On a lock member: the order in which locks are taken.
#define ACQUIRED_BEFORE(...) JW_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) JW_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
// On a function: the caller must hold the capability (and the // REQUIRES:
// comment says so to readers; LevelDB style).
#define REQUIRES(...) JW_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) JW_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// On a function: it takes / releases the capability and returns with it held / free.
#define ACQUIRE(...) JW_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) JW_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) JW_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: the caller must not hold the capability (the function takes it).
#define EXCLUDES(...) JW_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: after the call the analysis takes the capability as held.
#define ASSERT_CAPABILITY(x) JW_THREAD_ANNOTATION(assert_capability(x))
// On a function: it returns a reference to the capability given.
#define RETURN_CAPABILITY(x) JW_THREAD_ANNOTATION(lock_returned(x))
// On a function: not analyzed. Only where the analysis cannot follow, with a
// comment saying why.
#define NO_THREAD_SAFETY_ANALYSIS JW_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace jobwarden {

class CondVar;

// A std::mutex that the analysis knows as a capability.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis that the calling thread holds the lock where it cannot
  // see it. Checks nothing at run time (std::mutex cannot tell its owner).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex for its scope, as std::lock_guard does.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// Releases a held Mutex for its scope and takes it back at the end, even when
// the scope throws: for the IO that must not run under the lock (STYLE.md §6).
class SCOPED_CAPABILITY MutexUnlock {
 public:
  explicit MutexUnlock(Mutex& mu) RELEASE(mu) : mu_(mu) { mu_.Unlock(); }
  ~MutexUnlock() RELEASE() { mu_.Lock(); }
  MutexUnlock(const MutexUnlock&) = delete;
  MutexUnlock& operator=(const MutexUnlock&) = delete;

 private:
  Mutex& mu_;
};

// A std::condition_variable that waits on a held Mutex.
//
// There are no predicate overloads on purpose: Clang analyzes a lambda as a
// function of its own that holds no lock, so a predicate reading guarded
// members would not pass. Callers write the loop instead, which the analysis
// follows:
//   while (!ready_) cv_.Wait(mu_);
//   while (!ready_ && cv_.WaitUntil(mu_, deadline) == std::cv_status::no_timeout) {}
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases `mu` while waiting; returns with it held. May wake spuriously.
  void Wait(Mutex& mu) REQUIRES(mu) {
    Adopted lock(mu);
    cv_.wait(lock.lock);
  }
  template <class Clock, class Dur>
  std::cv_status WaitUntil(Mutex& mu, const std::chrono::time_point<Clock, Dur>& deadline) REQUIRES(mu) {
    Adopted lock(mu);
    return cv_.wait_until(lock.lock, deadline);
  }
  template <class Rep, class Period>
  std::cv_status WaitFor(Mutex& mu, const std::chrono::duration<Rep, Period>& timeout) REQUIRES(mu) {
    Adopted lock(mu);
    return cv_.wait_for(lock.lock, timeout);
  }

  void NotifyOne() noexcept { cv_.notify_one(); }
  void NotifyAll() noexcept { cv_.notify_all(); }

 private:
  // The caller's lock as the std::unique_lock that std::condition_variable
  // waits on: adopted, and released (not unlocked) at the end, because the
  // caller still holds the Mutex. A wait that throws has relocked the mutex
  // first ([thread.condition.condvar]), so releasing stays right then too.
  struct Adopted {
    explicit Adopted(Mutex& mu) : lock(mu.mu_, std::adopt_lock) {}
    ~Adopted() { lock.release(); }
    Adopted(const Adopted&) = delete;
    Adopted& operator=(const Adopted&) = delete;
    std::unique_lock<std::mutex> lock;
  };

  std::condition_variable cv_;
};

}  // namespace jobwarden
