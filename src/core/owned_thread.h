// OwnedThread: the one way a long-lived service owns its background thread.
//
// The services that run a loop on their own thread (the reaper, the SQLite
// checkpointer, the worker supervisor, the server's worker sessions) each had
// a copy of the same pattern: a std::thread, a `stop_` flag under the
// service's mutex, a notify, a join in Stop() and in the destructor. This is
// that pattern once, over std::jthread:
// - Start(body) runs body(std::stop_token) on a new thread, unless one runs.
// - Stop() requests stop and joins; idempotent, a no-op when never started,
//   and called by the destructor, so the thread never outlives its owner and
//   is never detached.
// - The body waits on a std::condition_variable_any with the stop token
//   (`cv.wait_until(lock, stop, deadline, pred)`): a stop request wakes the
//   wait through the token's callback, which notifies under the condition
//   variable's own lock, so no wake-up is lost and the service needs no stop
//   flag of its own.
//
// Not thread-safe itself: its owner serialises Start() and Stop() (as it did
// with the std::thread). Stop() must not be called from the thread itself.
#pragma once

#include <stop_token>
#include <thread>
#include <utility>

namespace jobwarden {

class OwnedThread {
 public:
  OwnedThread() = default;
  ~OwnedThread() { Stop(); }
  OwnedThread(const OwnedThread&) = delete;
  OwnedThread& operator=(const OwnedThread&) = delete;

  // Runs `body(std::stop_token)` on a new thread; a no-op while one runs.
  // A stopped OwnedThread may be started again (with a fresh stop token).
  template <typename Body>
  void Start(Body&& body) {
    if (thread_.joinable()) return;
    thread_ = std::jthread(std::forward<Body>(body));
  }

  // Requests stop and joins the thread. Idempotent.
  void Stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    thread_.join();
  }

  bool running() const { return thread_.joinable(); }

 private:
  std::jthread thread_;
};

}  // namespace jobwarden
