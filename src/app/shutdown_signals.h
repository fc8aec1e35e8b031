// SIGTERM and SIGINT for a long-running command (worker, up), handled on a
// dedicated thread with sigwait() instead of an async signal handler, so the
// reaction (drain, stop now) may lock, log and allocate.
//
// Usage: BlockShutdownSignals() first thing, before any thread is started, so
// every thread inherits the blocked mask and the signals can only be taken by
// sigwait(); then construct ShutdownSignals once the things it acts on exist.
// A signal that arrives in between stays pending and is handled then.
#pragma once

#include <atomic>
#include <functional>
#include "core/owned_thread.h"

namespace jobwarden {

// Blocks SIGTERM and SIGINT in the calling thread (and so in every thread it starts later).
void BlockShutdownSignals();

class ShutdownSignals {
 public:
  // `on_signal(count, signo)` runs on the signal thread for every SIGTERM or
  // SIGINT; count is 1 for the first, 2 for the second, ...
  explicit ShutdownSignals(std::function<void(int count, int signo)> on_signal);
  ~ShutdownSignals();  // wakes the thread and joins it
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

 private:
  void Loop();

  std::function<void(int, int)> on_signal_;
  std::atomic<bool> closing_{false};
  OwnedThread thread_;  // last: stopped (woken and joined) by the destructor before the rest goes
};

}  // namespace jobwarden
