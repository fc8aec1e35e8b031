// ReapRouter and ReapAll: see reap_router.h.
#include "worker/reap_router.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <cerrno>

namespace jobwarden::subprocess_internal {

ReapRouter& ReapRouter::Get() {
  static ReapRouter* router = new ReapRouter();  // never destroyed: reaping may go on at exit
  return *router;
}

void ReapRouter::Disown(pid_t pid) {
  MutexLock lock(mu_);
  owners_.erase(pid);
  statuses_.erase(pid);
}

bool ReapRouter::Route(pid_t pid, int status) {
  std::shared_ptr<Waker> owner;
  {
    MutexLock lock(mu_);
    auto it = owners_.find(pid);
    if (it == owners_.end()) return false;
    owner = it->second;
    statuses_[pid] = status;
  }
  owner->Wake();
  return true;
}

bool ReapRouter::Owns(pid_t pid) {
  MutexLock lock(mu_);
  return owners_.count(pid) != 0 && statuses_.count(pid) == 0;
}

std::optional<int> ReapRouter::Take(pid_t pid) {
  MutexLock lock(mu_);
  auto it = statuses_.find(pid);
  if (it == statuses_.end()) return std::nullopt;
  const int st = it->second;
  statuses_.erase(it);
  owners_.erase(pid);
  return st;
}

void ReapAll() {
  while (true) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;  // none exited (0) or no children (ECHILD)
    if (!ReapRouter::Get().Route(pid, status)) spdlog::debug("subprocess supervisor: reaped orphan pid {}", pid);
  }
}

}  // namespace jobwarden::subprocess_internal
