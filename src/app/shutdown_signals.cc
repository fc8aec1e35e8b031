#include "app/shutdown_signals.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>

namespace jobwarden {

namespace {

sigset_t ShutdownSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockShutdownSignals() {
  const sigset_t set = ShutdownSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

ShutdownSignals::ShutdownSignals(std::function<void(int, int)> on_signal) : on_signal_(std::move(on_signal)) {
  thread_.Start([this](const std::stop_token&) { Loop(); },
                [this] {
                  closing_ = true;
                  // Directed at the thread, which has SIGTERM blocked: it stays pending for
                  // that thread and ends its sigwait(); nothing else sees it.
                  pthread_kill(thread_.native_handle(), SIGTERM);
                });
}

ShutdownSignals::~ShutdownSignals() { thread_.Stop(); }

void ShutdownSignals::Loop() {
  const sigset_t set = ShutdownSet();
  int count = 0;
  while (true) {
    int signo = 0;
    if (sigwait(&set, &signo) != 0) continue;
    if (closing_) return;
    on_signal_(++count, signo);
  }
}

}  // namespace jobwarden
