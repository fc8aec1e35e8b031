// Killing an attempt's processes: its process group, the leader's
// descendants, and every descendant of the worker that carries the attempt's
// marker (a grandchild that called setsid()). Terminate() and Kill() run on
// the callers' threads; the leftovers of exited leaders are killed from the
// supervisor thread.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "worker/process_tree.h"
#include "worker/reap_router.h"
#include "worker/subprocess_internal.h"

namespace jobwarden::subprocess_internal {

// Live attempt leaders are pruned with their subtrees: what runs under a
// leader belongs to that leader's attempt (a process of another attempt is
// re-parented to the worker, a child subreaper, never under someone else's
// leader), and pruning saves the /proc reads of every other running attempt.
std::vector<int> SignalMarked(int sig, const std::vector<std::string_view>& marks) {
  std::vector<int> hits(marks.size(), 0);
  if (marks.empty()) return hits;
  for (pid_t p : ProcessDescendants(::getpid(), [](pid_t k) { return ReapRouter::Get().Owns(k); })) {
    // The pidfd is taken before the check, so the check and the signal see the same process.
    const int pidfd = PidfdOpen(p);
    if (pidfd < 0 && errno == ESRCH) continue;
    const int which = ProcessEnvEntryIndex(p, marks);
    if (which >= 0 && (pidfd >= 0 ? PidfdSignal(pidfd, sig) : ::kill(p, sig) == 0)) ++hits[which];
    if (pidfd >= 0) ::close(pidfd);
  }
  return hits;
}

void Attempt::Terminate(Duration grace) {
  {
    MutexLock lock(mu_);
    if (done_ || leader_exited_) return;
    killed_by_us_ = true;
    const TimePoint at = SteadyClock::now() + std::max(grace, Duration(0));
    if (!kill_at_ || at < *kill_at_) kill_at_ = at;
    if (!term_sent_) {
      term_sent_ = true;
      SignalAllLocked(SIGTERM);
      ::killpg(pid_, SIGCONT);  // a stopped handler must see its SIGTERM
    }
  }
  waker_->Wake();
}

void Attempt::Kill() {
  {
    MutexLock lock(mu_);
    if (done_) return;
    if (!leader_exited_) killed_by_us_ = true;
    SignalAllLocked(SIGKILL);
  }
  waker_->Wake();
}

int Attempt::SignalAllLocked(int sig) {
  ::killpg(pid_, sig);
  if (!leader_exited_) {
    if (pidfd_) {
      PidfdSignal(pidfd_.get(), sig);
    } else {
      ::kill(pid_, sig);
    }
    for (pid_t p : ProcessDescendants(pid_)) SignalProcessIf(p, sig, nullptr, {});
  }
  return SignalMarked(sig, {mark_entry_})[0];
}

// Kills every process that carries the marker of an attempt whose leader
// just exited (a setsid() grandchild, say). One walk of /proc serves every
// leader that exited in this pass: under load several end together, and the
// walk is most of what a leader's exit costs this thread.
void SupervisorImpl::KillMarkedLeftovers(const std::vector<Attempt*>& exited) {
  if (exited.empty()) return;
  std::vector<std::string_view> marks;
  marks.reserve(exited.size());
  for (Attempt* a : exited) marks.push_back(a->mark_entry_);
  const std::vector<int> hits = SignalMarked(SIGKILL, marks);
  for (std::size_t i = 0; i < exited.size(); ++i) {
    Attempt& a = *exited[i];
    a.recheck_marked_ = hits[i] > 0;
    const ScopedLogFields log_fields(a.log_fields_.view());
    if (hits[i] > 0) spdlog::info("{}: killed {} process(es) it left running outside its group", a.name_, hits[i]);
  }
}

}  // namespace jobwarden::subprocess_internal
