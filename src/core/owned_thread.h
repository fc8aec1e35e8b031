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
// - The body checks its stop token. If it waits on a
//   std::condition_variable_any with the token
//   (`cv.wait_until(lock, stop, deadline, pred)`), a stop request wakes the
//   wait through the token's callback. If it waits on something the token
//   cannot reach (a CondVar over an annotated Mutex, an epoll loop), Start()
//   takes a `wake` that Stop() calls after the request and before the join;
//   it must wake the body so that the wake-up cannot be lost, e.g. take the
//   body's mutex (the body checks the token under it), then notify.
//
// Not thread-safe itself: its owner serialises Start() and Stop() (as it did
// with the std::thread). Stop() must not be called from the thread itself.
#pragma once

#include <functional>
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
  void Start(Body&& body, std::function<void()> wake = {}) {
    if (thread_.joinable()) return;
    wake_ = std::move(wake);
    thread_ = std::jthread(std::forward<Body>(body));
  }

  // Requests stop, wakes the body (see Start), and joins the thread. Idempotent.
  void Stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    if (wake_) wake_();
    thread_.join();
  }

  bool running() const { return thread_.joinable(); }
  // For a wake that must reach the thread itself (pthread_kill of a sigwait()).
  std::jthread::native_handle_type native_handle() { return thread_.native_handle(); }

 private:
  std::function<void()> wake_;
  std::jthread thread_;  // last: destroyed (and so joined) before wake_
};

}  // namespace jobwarden
