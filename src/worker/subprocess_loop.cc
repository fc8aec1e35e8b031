// The supervisor thread: one epoll loop over every attempt's pidfd and pipes,
// the table of running attempts, the timers (SIGKILL after the grace, the
// leftover bound), and each attempt's ending: its leader's exit status, the
// processes it left killed, its pipes drained, its waiters answered.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>

#include "worker/reap_router.h"
#include "worker/subprocess_internal.h"

namespace jobwarden::subprocess_internal {

void SupervisorImpl::Watch(int fd, std::uint64_t serial, Source source, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = (serial << 2) | source;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    spdlog::error("subprocess supervisor: epoll_ctl(ADD): {}", ErrnoText(errno));
  }
}

void SupervisorImpl::Unwatch(UniqueFd& fd) {
  if (!fd) return;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd.get(), nullptr);
  fd.reset();
}

void SupervisorImpl::Loop() {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  std::optional<TimePoint> shutdown_deadline;
  epoll_event events[64];
  while (true) {
    bool stopping;
    std::deque<std::shared_ptr<StartRequest>> starts;
    {
      MutexLock lock(mu_);
      stopping = stopping_;
      starts.swap(pending_);
    }
    for (auto& req : starts) {
      if (stopping) {
        Answer(*req, Status::Unavailable("the subprocess supervisor is shutting down"));
        continue;
      }
      auto spawned = Spawn(*req->spec, std::move(req->on_control));
      if (spawned.ok()) {
        Answer(*req, std::shared_ptr<Subprocess>(std::move(spawned).value()));
      } else {
        Answer(*req, spawned.status());
      }
    }
    if (stopping && !shutdown_deadline) {
      shutdown_deadline = SteadyClock::now() + kShutdownBound;
      for (auto& [serial, a] : attempts_) a->Kill();
    }
    ReapAll();
    const TimePoint now = SteadyClock::now();
    Advance(now);
    if (stopping && (attempts_.empty() || now >= *shutdown_deadline)) break;

    const int n = ::epoll_wait(epoll_.get(), events, 64, TimeoutMs(now));
    if (n < 0) {
      if (errno != EINTR) {
        spdlog::error("subprocess supervisor: epoll_wait: {}", ErrnoText(errno));
        std::this_thread::sleep_for(kBusyTick);
      }
      continue;
    }
    for (int i = 0; i < n; ++i) Dispatch(events[i]);
  }
  // Past the shutdown bound: whatever is left is declared over, so no Wait() hangs.
  for (auto& [serial, a] : std::unordered_map<std::uint64_t, std::shared_ptr<Attempt>>(attempts_)) {
    const ScopedLogFields log_fields(a->log_fields_.view());
    spdlog::warn("{}: still not gone {} after SIGKILL at shutdown", a->name_,
                 FormatDurationShort(std::chrono::duration_cast<Duration>(kShutdownBound)));
    Finish(*a);
  }
}

int SupervisorImpl::TimeoutMs(TimePoint now) {
  Duration tick = std::chrono::duration_cast<Duration>(kIdleTick);
  if (!attempts_.empty()) tick = std::chrono::duration_cast<Duration>(have_pidfd_ ? kBusyTick : kNoPidfdTick);
  TimePoint next = now + tick;
  for (auto& [serial, a] : attempts_) {
    {
      MutexLock lock(a->mu_);
      if (a->kill_at_ && !a->leader_exited_) next = std::min(next, *a->kill_at_);
    }
    if (a->leftover_deadline_) next = std::min(next, *a->leftover_deadline_);
  }
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000));
}

void SupervisorImpl::Dispatch(const epoll_event& ev) {
  if (ev.data.u64 == 0) {
    waker_->Drain();
    return;
  }
  const std::uint64_t serial = ev.data.u64 >> 2;
  auto it = attempts_.find(serial);
  if (it == attempts_.end()) return;
  Attempt& a = *it->second;
  const ScopedLogFields log_fields(a.log_fields_.view());  // what it reads may be logged, fd-3 callbacks too
  switch (static_cast<Source>(ev.data.u64 & 3)) {
    case kPidfd: {
      // The leader exited: ReapAll() picks it up. Stop watching (it stays
      // readable) so a status that never comes cannot spin this loop.
      a.pidfd_ready_at_ = SteadyClock::now();
      MutexLock lock(a.mu_);
      if (a.pidfd_) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, a.pidfd_.get(), nullptr);
      break;
    }
    case kStdin: WriteInput(a); break;
    case kOutput: ReadOutput(a); break;
    case kControl: ReadControl(a); break;
  }
}

// Timers and endings, for every attempt.
void SupervisorImpl::Advance(TimePoint now) {
  std::vector<Attempt*> exited;
  for (auto& [serial, ap] : attempts_) {
    Attempt& a = *ap;
    if (a.leftover_deadline_) continue;
    const ScopedLogFields log_fields(a.log_fields_.view());
    if (auto st = ReapRouter::Get().Take(a.pid_)) {
      OnLeaderExit(a, *st, now);
      exited.push_back(&a);
    } else if (a.pidfd_ready_at_ && now - *a.pidfd_ready_at_ >= kStatusLostAfter) {
      // Exited a while ago, yet no supervisor reaped it: other code in this
      // process waited for it (see the header). Its status is lost; say so.
      int status = 0;
      const pid_t r = ::waitpid(a.pid_, &status, WNOHANG);
      if (r == a.pid_) {
        ReapRouter::Get().Take(a.pid_);
        OnLeaderExit(a, status, now);
        exited.push_back(&a);
      } else if (r < 0 && errno == ECHILD) {
        spdlog::error(
            "{}: its exit status was taken by other code in this process (waitpid); "
            "reporting exit code -1",
            a.name_);
        ReapRouter::Get().Disown(a.pid_);
        OnLeaderExit(a, -1, now);
        exited.push_back(&a);
      }
    } else {
      MutexLock lock(a.mu_);
      if (a.kill_at_ && now >= *a.kill_at_) {
        a.kill_at_.reset();
        spdlog::warn("{}: still running after the grace; SIGKILL to all of its processes", a.name_);
        a.SignalAllLocked(SIGKILL);
      }
    }
  }
  KillMarkedLeftovers(exited);
  std::vector<std::shared_ptr<Attempt>> finished;
  for (auto& [serial, ap] : attempts_) {
    const ScopedLogFields log_fields(ap->log_fields_.view());
    if (ap->leftover_deadline_ && LeftoversGone(*ap, now)) finished.push_back(ap);
  }
  for (auto& a : finished) Finish(*a);
}

void SupervisorImpl::OnLeaderExit(Attempt& a, int status, TimePoint now) {
  a.wait_status_ = status;
  a.leftover_deadline_ = now + kLeftoverBound;
  Unwatch(a.in_);
  MutexLock lock(a.mu_);
  a.leader_exited_ = true;
  a.kill_at_.reset();
  Unwatch(a.pidfd_);
  // Nothing outlives its attempt: whatever the leader left in its group is
  // killed now, and what left the group in KillMarkedLeftovers.
  ::killpg(a.pid_, SIGKILL);
}

// True when the attempt is over: pipes drained and its processes gone (or
// the bound passed: a process outside the attempt may hold a pipe).
bool SupervisorImpl::LeftoversGone(Attempt& a, TimePoint now) {
  const bool group_gone = ::killpg(a.pid_, 0) != 0 && errno == ESRCH;
  if (!group_gone) ::killpg(a.pid_, SIGKILL);  // a straggler that forked as the group was killed
  if (group_gone && !a.out_ && !a.ctl_ && a.recheck_marked_) {
    MutexLock lock(a.mu_);
    a.recheck_marked_ = a.SignalAllLocked(SIGKILL) > 0;
  }
  if (group_gone && !a.out_ && !a.ctl_ && !a.recheck_marked_) return true;
  if (now < *a.leftover_deadline_) return false;
  spdlog::warn("{}: {} after the handler exited; not waiting any longer", a.name_,
               !group_gone || a.recheck_marked_ ? "some of its processes are still alive"
                                                : "a process outside the attempt still holds its output pipe");
  return true;
}

void SupervisorImpl::Finish(Attempt& a) {
  const ScopedLogFields log_fields(a.log_fields_.view());
  Unwatch(a.in_);
  if (a.ctl_) {
    ReadControl(a);  // what is still buffered in the pipe
    Unwatch(a.ctl_);
  }
  if (a.out_) {
    ReadOutput(a);
    Unwatch(a.out_);
  }
  if (a.bad_lines_ > kMaxLoggedBadLines) {
    spdlog::warn("{}: ignored {} malformed fd-3 lines in all", a.name_, a.bad_lines_);
  }
  ExitInfo info;
  const int st = a.wait_status_;
  info.signaled = st != -1 && WIFSIGNALED(st);
  info.signal = info.signaled ? WTERMSIG(st) : 0;
  info.exit_code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : (info.signaled ? 128 + info.signal : -1);
  info.output_tail = OutputTail(a.tail_, a.tail_limit_);
  std::shared_ptr<Attempt> keep = attempts_[a.serial_];  // `a` lives until it is answered
  attempts_.erase(a.serial_);
  if (!a.leftover_deadline_) ReapRouter::Get().Disown(a.pid_);
  {
    MutexLock lock(a.mu_);
    a.pidfd_.reset();
    info.killed_by_us = a.killed_by_us_;
    a.info_ = std::move(info);
    a.done_ = true;
  }
  a.cv_.NotifyAll();
}

}  // namespace jobwarden::subprocess_internal
