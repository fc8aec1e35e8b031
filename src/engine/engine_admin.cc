// The engine's admin operations: reading and listing jobs, cancel, retry,
// delete (one and by filter), reset of stuck jobs, pausing queues and the
// doctor's diagnosis. Producers, workers and maintenance are in engine.cc.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "engine/engine.h"
#include "engine/engine_internal.h"

namespace jobwarden {

using engine_internal::kChunk;

Result<Job> Engine::Get(JobId id) { return store_.JobGet(id); }

Result<std::vector<Job>> Engine::List(const JobListParams& params) {
  if (params.limit < 1 || params.limit > 10'000) return Status::InvalidArgument("limit: must be 1-10000");
  return store_.JobList(params);
}

Result<Job> Engine::Cancel(JobId id) {
  return PlanAndApply(id, [](const Job& j, Timestamp now) { return PlanCancel(j, now); });
}

Result<Job> Engine::Retry(JobId id) {
  return PlanAndApply(id, [](const Job& j, Timestamp now) { return PlanRetry(j, now); });
}

Status Engine::Delete(JobId id) {
  Status s = store_.JobDelete(id, clock_.Now());
  if (s.ok()) Emit({id, "", "", std::nullopt, std::nullopt, std::nullopt, "deleted", clock_.Now()});
  return s;
}

Result<std::int64_t> Engine::DeleteMany(const DeleteFilter& filter) {
  if (filter.state == JobState::kRunning) {
    return Status::InvalidArgument("state: running jobs are never deleted (cancel them first)");
  }
  if (filter.older_than && *filter.older_than < Duration(0)) {
    return Status::InvalidArgument("older_than: must not be negative");
  }
  JobDeleteParams p;
  if (filter.state) p.states = {*filter.state};
  p.queue = filter.queue;
  if (filter.older_than) p.before = clock_.Now() - *filter.older_than;
  p.limit = kChunk;
  p.now = clock_.Now();
  std::int64_t total = 0;
  // Chunks keep each transaction short, so heartbeats never wait behind a purge.
  while (true) {
    JW_ASSIGN_OR_RETURN(std::int64_t n, store_.JobDeleteMany(p));
    total += n;
    if (n < p.limit) break;
  }
  if (total > 0) spdlog::info("deleted {} jobs", total);
  return total;
}

Result<BulkActionResult> Engine::ActOnMatching(BulkAction action, JobListParams filter,
                                               std::optional<Timestamp> finished_before) {
  BulkActionResult out;
  filter.after_id = 0;
  filter.limit = kChunk;
  filter.with_errors = false;
  // Pages in id order: a job the action moved out of the filter's state is
  // behind the cursor, so each job is seen once.
  while (true) {
    JW_ASSIGN_OR_RETURN(std::vector<Job> page, store_.JobList(filter));
    const Timestamp now = clock_.Now();
    if (action == BulkAction::kDelete) {
      for (const Job& j : page) {
        if (finished_before && j.finished_at.value_or(j.created_at) >= *finished_before) continue;
        ++out.matched;
        if (j.state == JobState::kRunning) {
          ++out.skipped;
          continue;
        }
        Status s = Delete(j.id);
        if (s.ok()) {
          ++out.changed;
        } else if (s.code() == StatusCode::kConflict || s.code() == StatusCode::kNotFound) {
          ++out.skipped;  // it started, or went, since the page was read
        } else {
          return s.WithContext("delete " + FormatJobId(j.id));
        }
      }
    } else {
      std::vector<JobChange> changes;
      std::vector<Job> before;
      for (const Job& j : page) {
        ++out.matched;
        auto planned = action == BulkAction::kCancel ? PlanCancel(j, now) : PlanRetry(j, now);
        if (!planned.ok()) {
          ++out.skipped;  // a state the action does not apply to (the transition table refuses it)
          continue;
        }
        changes.push_back(std::move(planned).value());
        before.push_back(j);
      }
      std::vector<Status> per;
      JW_ASSIGN_OR_RETURN(std::int64_t applied, ApplyAndEmit(std::move(changes), before, now, &per));
      out.changed += applied;
      out.skipped += static_cast<std::int64_t>(before.size()) - applied;  // lost a race: it moved meanwhile
    }
    if (page.size() < static_cast<std::size_t>(filter.limit)) break;
    filter.after_id = page.back().id;
  }
  if (out.changed > 0) {
    spdlog::info("{} {} of {} matching jobs ({} skipped)",
                 action == BulkAction::kCancel  ? "cancelled"
                 : action == BulkAction::kRetry ? "retried"
                                                : "deleted",
                 out.changed, out.matched, out.skipped);
  }
  return out;
}

Result<ResetStuckResult> Engine::ResetStuck(Duration older_than) {
  if (older_than < Duration(0)) return Status::InvalidArgument("older_than: must not be negative");
  ResetStuckResult out;
  const Timestamp now = clock_.Now();
  const Timestamp cutoff = now - older_than;
  JobListParams lp;
  lp.state = JobState::kRunning;
  lp.limit = kChunk;
  while (true) {
    JW_ASSIGN_OR_RETURN(std::vector<Job> page, store_.JobList(lp));
    std::vector<JobChange> changes;
    std::vector<Job> before;
    for (const Job& j : page) {
      const Timestamp last = j.heartbeat_at.value_or(j.started_at.value_or(now));
      if (last > cutoff) continue;
      Failure f;
      f.error_class = ErrorClass::kLeaseExpired;
      f.message = "reset by an admin (reset-stuck, older than " + FormatDurationShort(older_than) +
                  "): last heartbeat at " + FormatRfc3339(last);
      MutexLock lock(rng_mu_);
      auto planned = PlanFailure(j, f, now, BackoffFor(j.kind), Rng());
      if (!planned.ok()) continue;  // it left running since the page was read
      changes.push_back(std::move(planned).value());
      before.push_back(j);
    }
    std::vector<Status> per;
    std::vector<JobChange> copy = changes;
    JW_RETURN_IF_ERROR(ApplyAndEmit(std::move(copy), before, now, &per).status());
    for (std::size_t i = 0; i < per.size(); ++i) {
      if (per[i].ok()) out.job_ids.push_back(changes[i].id);
    }
    if (page.size() < static_cast<std::size_t>(lp.limit)) break;
    lp.after_id = page.back().id;
  }
  out.reset_count = static_cast<std::int64_t>(out.job_ids.size());
  return out;
}

Status Engine::PauseQueue(const std::string& name) {
  if (!IsValidName(name, kMaxQueueNameLength))
    return Status::InvalidArgument("queue: '" + name + "' is not a valid queue name");
  return store_.QueueSetPaused(name, true, clock_.Now());
}

Status Engine::ResumeQueue(const std::string& name) {
  if (!IsValidName(name, kMaxQueueNameLength))
    return Status::InvalidArgument("queue: '" + name + "' is not a valid queue name");
  return store_.QueueSetPaused(name, false, clock_.Now());
}

Result<std::vector<JobDiagnosis>> Engine::Doctor() {
  const Timestamp now = clock_.Now();
  std::vector<JobDiagnosis> out;
  JobListParams lp;
  lp.state = JobState::kRunning;
  lp.limit = kChunk;
  while (true) {
    JW_ASSIGN_OR_RETURN(std::vector<Job> page, store_.JobList(lp));
    for (Job& j : page) out.push_back(DiagnoseRunningJob(std::move(j), now));
    if (page.size() < static_cast<std::size_t>(lp.limit)) break;
    lp.after_id = out.back().job.id;
  }
  return out;
}

JobDiagnosis DiagnoseRunningJob(Job j, Timestamp now) {
  JobDiagnosis d;
  if (j.lease_expires_at) d.lease_left = *j.lease_expires_at - now;
  if (j.heartbeat_at) d.heartbeat_age = now - *j.heartbeat_at;
  d.attempt_used = j.started_at ? now - *j.started_at : Duration(0);
  if (j.stall_since) d.progress_age = now - *j.stall_since;
  const Duration ttl = j.lease_ttl;
  using V = JobDiagnosis::Verdict;
  if (d.lease_left && *d.lease_left <= Duration(0)) {
    d.verdict = V::kStuck;
    d.reason = "lease expired " + FormatDurationShort(-*d.lease_left) +
               " ago and nobody took it back: is a reaper running (`jobwarden up` or `jobwarden server`)?";
  } else if (j.cancel_requested && j.takeback_at && *j.takeback_at <= now) {
    d.verdict = V::kStuck;
    d.reason = "stop requested (" + std::string(LimitName(j.cancel_reason)) + ") and the take-back is " +
               FormatDurationShort(now - *j.takeback_at) + " overdue: no reaper is running";
  } else if (j.cancel_requested) {
    d.verdict = V::kAtRisk;
    d.reason = "stop requested (" + std::string(LimitName(j.cancel_reason)) + "); the server takes it back at " +
               (j.takeback_at ? FormatRfc3339(*j.takeback_at) : std::string("lease end"));
  } else if (d.heartbeat_age && *d.heartbeat_age > ttl / 2) {
    d.verdict = V::kAtRisk;
    d.reason = "missed heartbeats: the last one was " + FormatDurationShort(*d.heartbeat_age) + " ago (TTL " +
               FormatDurationShort(ttl) + ")";
  } else if (const std::optional<AtRisk> risk = ProjectAtRisk(j)) {
    d.verdict = V::kAtRisk;
    d.reason = "projected to finish at " + FormatRfc3339(risk->projected_finish_at) + " at its progress rate (" +
               std::to_string(j.progress.done) + "/" + std::to_string(*j.progress.total) + "), after its " +
               risk->limit + " at " + FormatRfc3339(risk->limit_at);
  } else if (j.timeout > Duration(0) && d.attempt_used * 5 > j.timeout * 4) {
    d.verdict = V::kAtRisk;
    d.reason = "used " + std::to_string(d.attempt_used * 100 / j.timeout) + "% of its " +
               FormatDurationShort(j.timeout) + " timeout";
  } else if (j.stall_timeout && d.progress_age && *d.progress_age * 5 > *j.stall_timeout * 4) {
    d.verdict = V::kAtRisk;
    d.reason = "no progress for " + FormatDurationShort(*d.progress_age) + " of its " +
               FormatDurationShort(*j.stall_timeout) + " stall timeout";
  } else if (j.deadline_at && *j.deadline_at - now < ttl) {
    d.verdict = V::kAtRisk;
    d.reason = "job deadline in " + FormatDurationShort(*j.deadline_at - now);
  } else {
    d.verdict = V::kHealthy;
    d.reason = "heartbeat " + (d.heartbeat_age ? FormatDurationShort(*d.heartbeat_age) : std::string("?")) +
               " ago, lease renewed";
  }
  d.job = std::move(j);
  return d;
}

Result<Engine::Failures> Engine::FailureGroups(Timestamp since, int limit) {
  if (limit < 1 || limit > 1000) return Status::InvalidArgument("limit: must be 1-1000").WithField("limit");
  JW_ASSIGN_OR_RETURN(std::vector<FailedAttempt> attempts, store_.JobErrorsSince(since, kFailureScan + 1));
  Failures out;
  out.truncated = attempts.size() > static_cast<std::size_t>(kFailureScan);
  if (out.truncated) attempts.resize(kFailureScan);
  out.attempts = static_cast<std::int64_t>(attempts.size());
  out.groups = GroupFailures(attempts);
  if (out.groups.size() > static_cast<std::size_t>(limit)) out.groups.resize(limit);
  return out;
}

}  // namespace jobwarden
