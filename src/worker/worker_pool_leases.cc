// The worker pool's lease keeper and watchdog: one batched heartbeat for
// every held job every TTL/3, the out-of-band stops (CancelJob, LeasesLost),
// and the watchdog that stops jobs at their limits, self-fences leases it
// could not renew and abandons handlers that ignore their stop.
#include "worker/worker_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>
#include <unordered_map>

#include "core/log_fields.h"
#include "worker/worker_pool_internal.h"

namespace jobwarden {

using namespace worker_pool_internal;

WorkerPool::SteadyDuration WorkerPool::HeartbeatInterval() const {
  // The TTL the engine granted (it may clamp what we asked), not the one asked.
  Duration ttl = options_.lease_ttl;
  {
    MutexLock lock(mu_);
    for (const auto& a : active_) ttl = std::min(ttl, a->job.lease_ttl > Duration(0) ? a->job.lease_ttl : ttl);
  }
  return std::chrono::duration_cast<SteadyDuration>(ttl / 3);
}

void WorkerPool::KeeperLoop() {
  auto last_sent = Now();
  while (true) {
    {
      MutexLock lock(mu_);
      if (phase_ == Phase::kStopped) return;
    }
    // Timed from the previous send, so a slow answer does not stretch the period.
    const auto next = last_sent + HeartbeatInterval();
    // A checkpoint, or jobs found late in a long poll, wake us early; waiting
    // a little lets several coalesce.
    const SteadyTime now = Now();
    const auto wait = std::clamp<SteadyDuration>(next - now, SteadyDuration(0), std::chrono::milliseconds(200));
    const bool notified = clock_ ? notifier_->WaitUntil(*clock_, now + wait) : notifier_->WaitFor(wait);
    if (notified) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (notified || Now() >= next) {
      last_sent = Now();
      // After a failure, try again sooner: the leases are running out.
      if (!SendHeartbeat()) last_sent -= HeartbeatInterval() * 2 / 3;
    }
  }
}

bool WorkerPool::SendHeartbeat() {
  std::vector<std::shared_ptr<ActiveJob>> held;
  {
    MutexLock lock(mu_);
    held = active_;
  }
  HeartbeatRequest req;
  req.worker_id = worker_id_;
  std::unordered_map<JobId, std::shared_ptr<ActiveJob>> by_id;
  std::vector<std::pair<bool, bool>> cleared;  // dirty flags taken, to restore on failure
  std::vector<std::shared_ptr<ActiveJob>> sent_jobs;
  for (auto& a : held) {
    MutexLock lock(a->mu);
    // Settled jobs are no longer held; lost or self-fenced ones are given up
    // (renewing them now would keep a job we are killing from its next worker).
    if (a->settled || IsUnreportable(a->stop_reason)) continue;
    HeartbeatItem item{a->job.id, a->job.lease_token, std::nullopt, std::nullopt};
    if (a->progress_dirty) item.progress = a->progress;
    if (a->checkpoint_dirty) item.checkpoint = a->checkpoint;
    cleared.emplace_back(a->progress_dirty, a->checkpoint_dirty);
    a->progress_dirty = false;
    a->checkpoint_dirty = false;
    req.jobs.push_back(std::move(item));
    by_id[a->job.id] = a;
    sent_jobs.push_back(a);
  }
  if (req.jobs.empty()) return true;
  auto sent = Now();
  auto answers = backend_.Heartbeat(req);
  if (!answers.ok() && answers.status().code() != StatusCode::kUnavailable) {
    // Refused for its content (a payload the engine rejects): the leases
    // matter more than progress, so renew them without it.
    spdlog::error("worker {}: heartbeat refused ({}); renewing the leases without progress and checkpoints", worker_id_,
                  answers.status().ToString());
    for (HeartbeatItem& item : req.jobs) {
      item.progress.reset();
      item.checkpoint.reset();
    }
    sent = Now();
    answers = backend_.Heartbeat(req);
  }
  if (!answers.ok()) {
    spdlog::warn("worker {}: heartbeat for {} job(s) failed: {}", worker_id_, req.jobs.size(),
                 answers.status().ToString());
    for (std::size_t i = 0; i < sent_jobs.size(); ++i) {
      MutexLock lock(sent_jobs[i]->mu);
      sent_jobs[i]->progress_dirty |= cleared[i].first;
      sent_jobs[i]->checkpoint_dirty |= cleared[i].second;
    }
    return false;
  }
  for (const HeartbeatResult& r : *answers) {
    auto it = by_id.find(r.id);
    if (it == by_id.end()) continue;
    const auto& a = it->second;
    if (r.answer == HeartbeatAnswer::kLost) {
      RequestStop(a, StopReason::kLeaseLost);
      continue;
    }
    {
      MutexLock lock(a->mu);
      a->lease_deadline = sent + a->job.lease_ttl;
    }
    if (r.answer == HeartbeatAnswer::kCancel) RequestStop(a, StopReasonFor(r.cancel_reason));
  }
  return true;
}

void WorkerPool::RequestStop(const std::shared_ptr<ActiveJob>& a, StopReason reason) {
  std::function<void(Duration)> terminate;
  std::function<void()> kill;
  {
    MutexLock lock(a->mu);
    if (a->stop_reason != StopReason::kNone || a->finished) {
      // A lost lease overrides an earlier reason: the outcome must not be reported,
      // and a command still running is killed now.
      if (reason == StopReason::kLeaseLost && !a->finished && a->stop_reason != StopReason::kLeaseLost) {
        a->stop_reason = reason;
        kill = a->kill;
      } else if (IsUnreportable(reason) && !IsUnreportable(a->stop_reason)) {
        a->stop_reason = reason;
      }
      if (!kill) return;
    } else {
      a->stop_reason = reason;
      a->stop_at = Now();
      terminate = a->terminate;
      // The job may be running elsewhere already: no grace for a command.
      if (reason == StopReason::kLeaseLost) kill = a->kill;
    }
  }
  const ScopedLogFields log_fields(JobLogFields(a->job, worker_id_));
  spdlog::info("job {} [{}]: stopping ({})", a->job.id, a->job.kind, ToString(reason));
  a->stop.request_stop();  // outside the lock: stop callbacks run here
  if (kill) {
    kill();
  } else if (terminate) {
    terminate(options_.grace);
  }
}

std::shared_ptr<ActiveJob> WorkerPool::FindHeld(JobId id, std::int64_t token) const {
  MutexLock lock(mu_);
  for (const auto& a : active_) {
    if (a->job.id == id && a->job.lease_token == token) return a;
  }
  return nullptr;
}

void WorkerPool::CancelJob(JobId id, std::int64_t token, CancelReason reason) {
  if (auto a = FindHeld(id, token)) RequestStop(a, StopReasonFor(reason));
}

void WorkerPool::LeasesLost(const std::vector<std::pair<JobId, std::int64_t>>& leases) {
  for (const auto& [id, token] : leases) {
    if (auto a = FindHeld(id, token)) RequestStop(a, StopReason::kLeaseLost);
  }
}

void WorkerPool::WatchdogLoop() {
  while (true) {
    {
      MutexLock lock(mu_);
      const SteadyTime until = Now() + kWatchdogTick;
      while (phase_ != Phase::kStopped && Now() < until) WaitUntil(cv_, until);
      if (phase_ == Phase::kStopped) return;
    }
    Watchdog();
  }
}

void WorkerPool::Watchdog() {
  const auto now = Now();
  std::vector<std::shared_ptr<ActiveJob>> held;
  std::vector<std::shared_ptr<ActiveJob>> running;  // by slot
  bool drain_expired = false;
  {
    MutexLock lock(mu_);
    held = active_;
    running = slot_job_;
    drain_expired = (phase_ == Phase::kDraining || phase_ == Phase::kStopping) && now >= drain_deadline_;
  }
  for (auto& a : held) {
    std::optional<StopReason> stop;
    std::function<void()> kill;
    {
      MutexLock lock(a->mu);
      if (a->finished || a->settled) continue;
      if (a->stop_reason == StopReason::kNone) {
        if (now + kFenceMargin >= a->lease_deadline - a->grace) {
          stop = StopReason::kSelfFence;  // the engine is about to give it away
        } else if (a->attempt_deadline && now >= *a->attempt_deadline) {
          stop = a->deadline_kind == CancelReason::kDeadline ? StopReason::kDeadline : StopReason::kTimeout;
        } else if (drain_expired) {
          stop = StopReason::kDrain;
        }
      } else if (a->kill && now + kFenceMargin >= a->lease_deadline) {
        kill = a->kill;     // a command still alive at lease end: kill it now
        a->kill = nullptr;  // once is enough
      }
    }
    if (stop) RequestStop(a, *stop);
    if (kill) kill();
  }
  // In-process handlers past their grace (or their lease) are abandoned.
  for (std::size_t slot = 0; slot < running.size(); ++slot) {
    const auto& a = running[slot];
    if (!a) continue;
    bool give_up = false;
    {
      MutexLock lock(a->mu);
      give_up = a->in_process && !a->finished && !a->abandoned && a->stop_reason != StopReason::kNone &&
                (now >= a->stop_at + a->grace || now + kFenceMargin >= a->lease_deadline);
      if (give_up) a->abandoned = true;
    }
    if (give_up) Abandon(a, slot);
  }
}

void WorkerPool::Abandon(const std::shared_ptr<ActiveJob>& a, std::size_t slot) {
  StopReason reason;
  {
    MutexLock lock(a->mu);
    reason = a->stop_reason;
  }
  std::int64_t count;
  bool give_up_now = false;
  bool report_here = false;
  RunOutcome outcome;
  outcome.failure = StoppedFailure(a->job, reason);
  outcome.stopped = true;
  outcome.failure.message += "; the handler ignored the stop request and its thread was abandoned";
  {
    MutexLock lock(mu_);
    // The documented exception to "every thread is joined": the hung handler's
    // thread is detached. It holds shared ownership of what it touches, and
    // returns without touching the pool if its handler ever comes back.
    slots_[slot].detach();
    slot_job_[slot] = nullptr;
    count = ++stats_.abandoned;
    if (count > options_.max_abandoned && !gave_up_) {
      gave_up_ = true;
      give_up_now = true;
    }
    if (phase_ != Phase::kStopped) {
      // The fresh thread reports the job first, so the watchdog never waits on the backend.
      slots_[slot] = std::thread([this, slot, a, outcome] {
        {
          const ScopedLogFields log_fields(JobLogFields(a->job, worker_id_));
          if (!Report(a, outcome)) Finish(a);
        }
        SlotLoop(slot);
      });
    } else {
      report_here = true;
    }
  }
  const ScopedLogFields log_fields(JobLogFields(a->job, worker_id_));
  spdlog::error("job {} [{}]: handler ignored its stop request ({}) for {}; abandoned its thread ({} abandoned so far)",
                a->job.id, a->job.kind, ToString(reason), FormatDurationShort(a->grace), count);
  if (report_here) {
    if (!Report(a, outcome)) Finish(a);
  }
  if (give_up_now) {
    spdlog::error("worker {}: more than {} abandoned handlers; draining and exiting so a supervisor restarts it",
                  worker_id_, options_.max_abandoned);
    Drain();
  }
}

}  // namespace jobwarden
