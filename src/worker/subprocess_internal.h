// The subprocess supervisor's internals, shared by its files (not part of the
// worker's interface; see subprocess.h for the design and the contract):
// - subprocess.cc          Create(), the supervisor's caller side (Start, shutdown), SignalName
// - subprocess_loop.cc     the supervisor thread: epoll loop, timers, the process table, attempt endings
// - subprocess_spawn.cc    spawning: PATH lookup, pipes, the vfork-style child up to execve
// - subprocess_kill.cc     killing an attempt's processes: group, descendants, marked leftovers
// - subprocess_io.cc       the handler's stdin and the captured output tail
// - subprocess_control.cc  the fd-3 control-line reader and ParseControlLine
// - reap_router.h/.cc      exit statuses reaped by any supervisor, routed by pid
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/owned_thread.h"
#include "core/thread_annotations.h"
#include "worker/subprocess.h"

namespace jobwarden::subprocess_internal {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

inline constexpr std::string_view kMarkName = "JOBWARDEN_ATTEMPT_MARK";
// After the leader exited and what it left was killed, how long its pipes and
// process group may linger (a process outside the attempt holding a pipe)
// before the attempt is declared over anyway.
inline constexpr auto kLeftoverBound = std::chrono::seconds(2);
inline constexpr auto kBusyTick = std::chrono::milliseconds(50);  // reaps orphans, checks leftovers
inline constexpr auto kIdleTick = std::chrono::seconds(1);
inline constexpr auto kNoPidfdTick = std::chrono::milliseconds(10);  // leader exits seen by polling
inline constexpr auto kShutdownBound = std::chrono::seconds(5);
// A leader whose pidfd said "exited" this long ago with no status routed to
// it was reaped by someone else (another supervisor routes within microseconds).
inline constexpr auto kStatusLostAfter = std::chrono::milliseconds(200);
inline constexpr int kMaxLoggedBadLines = 10;
inline constexpr std::size_t kReadChunk = 64 * 1024;

std::string ErrnoText(int err);

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Wakes the supervisor thread. Shared, so an attempt that outlives its
// supervisor can still call it harmlessly.
struct Waker {
  UniqueFd fd;
  void Wake() const {
    const std::uint64_t one = 1;
    while (::write(fd.get(), &one, sizeof one) < 0 && errno == EINTR) {
    }
  }
  void Drain() const {
    std::uint64_t v;
    while (::read(fd.get(), &v, sizeof v) > 0 || errno == EINTR) {
    }
  }
};

// Signals every descendant of this worker whose environment carries one of
// `marks` (attempt markers); returns how many were hit, per mark.
// Defined in subprocess_kill.cc.
std::vector<int> SignalMarked(int sig, const std::vector<std::string_view>& marks);

// The last `limit` bytes of `raw`, cut at a character boundary, with invalid
// UTF-8 replaced so the tail can be stored and shown as JSON text.
// Defined in subprocess_io.cc.
std::string OutputTail(const std::string& raw, std::size_t limit);

// The child's stack: clone(CLONE_VM) must not run the child on the calling
// thread's stack, which it would overwrite while the thread is suspended.
// Reused by every spawn (one at a time, on the supervisor thread: CLONE_VFORK
// returns only when the child no longer uses it). Defined in subprocess_spawn.cc.
class ChildStack {
 public:
  static constexpr std::size_t kSize = 256 * 1024;  // the child needs a few KiB; sanitizers more
  ChildStack();
  ~ChildStack();
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  bool ok() const { return base_ != nullptr; }
  void* top() const { return static_cast<char*>(base_) + kSize; }  // stacks grow down; mmap keeps 16-byte alignment

 private:
  void* base_ = nullptr;
};

// One running attempt: the state its callers share with the supervisor
// thread (under mu_), and the thread's own (pipes, buffers, timers).
// Terminate/Kill/SignalAllLocked are in subprocess_kill.cc.
class Attempt final : public Subprocess {
 public:
  Attempt(pid_t pid, std::string mark_entry, std::string name, std::shared_ptr<Waker> waker, ControlCallback cb,
          std::size_t tail_limit, std::size_t max_line, std::uint64_t serial, OwnedLogFields log_fields)
      : pid_(pid),
        mark_entry_(std::move(mark_entry)),
        name_(std::move(name)),
        log_fields_(std::move(log_fields)),
        waker_(std::move(waker)),
        on_control_(std::move(cb)),
        tail_limit_(tail_limit),
        max_line_(max_line),
        serial_(serial) {}

  pid_t pid() const override { return pid_; }
  void Terminate(Duration grace) override;
  void Kill() override;

  ExitInfo Wait() override {
    MutexLock lock(mu_);
    while (!done_) cv_.Wait(mu_);
    return info_;
  }

  std::optional<ExitInfo> WaitFor(Duration timeout) override {
    MutexLock lock(mu_);
    const TimePoint until = SteadyClock::now() + timeout;
    while (!done_ && cv_.WaitUntil(mu_, until) == std::cv_status::no_timeout) {
    }
    if (!done_) return std::nullopt;
    return info_;
  }

  // Signals every process of the attempt: its group, the leader and its
  // descendants while it lives, and every descendant of this worker that
  // carries the attempt's marker. Returns how many marked processes were hit.
  // REQUIRES: mu_ held.
  int SignalAllLocked(int sig) REQUIRES(mu_);

  const pid_t pid_;
  const std::string mark_entry_;  // "JOBWARDEN_ATTEMPT_MARK=<unique>"
  const std::string name_;
  const OwnedLogFields log_fields_;  // set around the supervisor thread's work on this attempt
  const std::shared_ptr<Waker> waker_;
  const ControlCallback on_control_;
  const std::size_t tail_limit_;
  const std::size_t max_line_;
  const std::uint64_t serial_;

  Mutex mu_;
  CondVar cv_;
  UniqueFd pidfd_ GUARDED_BY(mu_);  // open until the leader is reaped
  bool leader_exited_ GUARDED_BY(mu_) = false;
  bool killed_by_us_ GUARDED_BY(mu_) = false;
  bool term_sent_ GUARDED_BY(mu_) = false;
  std::optional<TimePoint> kill_at_ GUARDED_BY(mu_);  // SIGKILL then, unless the leader exited
  bool done_ GUARDED_BY(mu_) = false;
  ExitInfo info_ GUARDED_BY(mu_);

  // Supervisor thread only.
  UniqueFd in_, out_, ctl_;
  std::string in_data_;
  std::size_t in_off_ = 0;
  std::string tail_;
  std::string line_;
  bool skipping_long_line_ = false;
  int bad_lines_ = 0;
  int wait_status_ = -1;                        // -1: unknown (lost to other code's waitpid(), or never reaped)
  std::optional<TimePoint> pidfd_ready_at_;     // when the pidfd said the leader exited
  std::optional<TimePoint> leftover_deadline_;  // set when the leader exited
  bool recheck_marked_ = false;
};

// Defined in subprocess_spawn.cc.
struct ChildPlan;
struct AttemptPipes;
struct ClonedChild;

class SupervisorImpl final : public SubprocessSupervisor {
 public:
  SupervisorImpl(UniqueFd epoll, std::shared_ptr<Waker> waker, bool have_pidfd);
  ~SupervisorImpl() override;
  Result<std::shared_ptr<Subprocess>> Start(const CommandSpec& spec, ControlCallback on_control) override;

 private:
  struct StartRequest {
    const CommandSpec* spec = nullptr;  // the caller blocks until answered
    ControlCallback on_control;
    Mutex mu;
    CondVar cv;
    std::optional<Result<std::shared_ptr<Subprocess>>> result GUARDED_BY(mu);
  };
  enum Source : std::uint64_t { kPidfd = 0, kStdin = 1, kOutput = 2, kControl = 3 };

  static void Answer(StartRequest& req, Result<std::shared_ptr<Subprocess>> r);

  // --- the supervisor thread (subprocess_loop.cc)
  void Loop();
  int TimeoutMs(TimePoint now);
  void Watch(int fd, std::uint64_t serial, Source source, std::uint32_t events);
  void Unwatch(UniqueFd& fd);
  void Dispatch(const epoll_event& ev);
  void Advance(TimePoint now);
  void OnLeaderExit(Attempt& a, int status, TimePoint now);
  bool LeftoversGone(Attempt& a, TimePoint now);
  void Finish(Attempt& a);

  // --- killing (subprocess_kill.cc)
  void KillMarkedLeftovers(const std::vector<Attempt*>& exited);

  // --- stdin and output (subprocess_io.cc), fd 3 (subprocess_control.cc)
  void WriteInput(Attempt& a);
  void ReadOutput(Attempt& a);
  void ReadControl(Attempt& a);
  void ConsumeControl(Attempt& a, std::string_view data);
  void HandleLine(Attempt& a, std::string_view line);

  // --- spawning (subprocess_spawn.cc)
  Result<std::shared_ptr<Attempt>> Spawn(const CommandSpec& spec, ControlCallback on_control);
  std::string MarkEntry(std::uint64_t serial) const;
  ClonedChild CloneChild(ChildPlan& plan);
  std::shared_ptr<Attempt> Adopt(const CommandSpec& spec, ControlCallback on_control, pid_t pid, UniqueFd leader_fd,
                                 std::string mark_entry, std::uint64_t serial, AttemptPipes& pipes, std::size_t in_off);

  const UniqueFd epoll_;
  const std::shared_ptr<Waker> waker_;
  const bool have_pidfd_;
  const pid_t self_;
  std::uint64_t mark_salt_ = 0;
  ChildStack child_stack_;   // supervisor thread only: the stack every spawned child starts on
  bool clone_pidfd_ = true;  // supervisor thread only: clone() hands back a pidfd (CLONE_PIDFD)

  Mutex mu_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::deque<std::shared_ptr<StartRequest>> pending_ GUARDED_BY(mu_);

  // Supervisor thread only.
  std::unordered_map<std::uint64_t, std::shared_ptr<Attempt>> attempts_;
  std::uint64_t next_serial_ = 0;

  // Joined by the destructor, after stopping_ is set. Its stop token goes
  // unused: the loop waits in epoll, not on a condition variable, so it is
  // woken by waker_, and stopping_ (under mu_ with pending_) is what lets a
  // Start() racing the shutdown be answered rather than lost.
  OwnedThread thread_;
};

}  // namespace jobwarden::subprocess_internal
