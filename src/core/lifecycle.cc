#include "core/lifecycle.h"

#include <algorithm>
#include <cassert>

namespace jobwarden {

namespace {

std::string JobRef(const Job& job) { return "job " + FormatJobId(job.id); }

JobChange Base(const Job& job) {
  JobChange c;
  c.id = job.id;
  c.from = job.state;
  c.token = job.lease_token;
  c.to = job.state;
  c.attempt = job.attempt;
  c.max_attempts = job.max_attempts;
  c.run_at = job.run_at;
  return c;
}

void Finish(JobChange& c, JobState to, Timestamp now) {
  c.to = to;
  c.finished_at = now;
}

int ApplyAttempt(int attempt, AttemptEffect effect) {
  switch (effect) {
    case AttemptEffect::kKeep: return attempt;
    case AttemptEffect::kIncrement: return attempt + 1;
    case AttemptEffect::kGiveBack: return std::max(0, attempt - 1);
  }
  return attempt;
}

bool DeadlinePassedBy(const Job& job, Timestamp t) { return job.deadline_at && t >= *job.deadline_at; }

}  // namespace

JobEvent EventForFailure(ErrorClass c) {
  switch (c) {
    case ErrorClass::kPermanent: return JobEvent::kFailPermanent;
    case ErrorClass::kTransient:
    case ErrorClass::kTimeout:
    case ErrorClass::kStalled:
    case ErrorClass::kCrashed: return JobEvent::kFailRetryable;
    case ErrorClass::kRateLimited: return JobEvent::kFailRateLimited;
    case ErrorClass::kInterrupted: return JobEvent::kFailInterrupted;
    case ErrorClass::kLeaseExpired:
    case ErrorClass::kWorkerLost: return JobEvent::kLeaseLost;
    case ErrorClass::kCancelled: return JobEvent::kCancelAck;
  }
  return JobEvent::kFailRetryable;
}

JobEvent EventForFailure(const Failure& f) {
  return f.never_started ? JobEvent::kLeaseUndelivered : EventForFailure(f.error_class);
}

Result<JobChange> PlanComplete(const Job& job, Timestamp now) {
  const Transition t = Lookup(job.state, JobEvent::kComplete);
  if (t.outcome == Outcome::kRefused) return Refusal(job.state, JobEvent::kComplete, JobRef(job));
  JobChange c = Base(job);
  Finish(c, t.to, now);
  c.leaves_running = true;
  return c;
}

Result<JobChange> PlanFailure(const Job& job, const Failure& failure, Timestamp now, const BackoffPolicy& backoff,
                              std::mt19937_64& rng) {
  const JobEvent event = EventForFailure(failure);
  const Transition t = Lookup(job.state, event);
  if (t.outcome == Outcome::kRefused) return Refusal(job.state, event, JobRef(job));

  JobChange c = Base(job);
  c.leaves_running = true;
  ErrorEntry entry;
  entry.attempt = job.attempt;
  entry.error_class = failure.error_class;
  entry.message = failure.message;
  entry.at = now;
  entry.counted = SpendsAttempt(failure.error_class) && event != JobEvent::kLeaseUndelivered;
  entry.limit = failure.limit;
  entry.output_tail = failure.output_tail;

  const bool attempts_left = job.attempt < job.max_attempts;
  std::string why_final;
  switch (t.outcome) {
    case Outcome::kMoveTo:
      if (t.to == JobState::kAvailable && DeadlinePassedBy(job, now)) {
        // interrupted at or after the deadline: no new attempt after it.
        why_final = "the job deadline has passed";
        Finish(c, JobState::kFailed, now);
      } else if (IsTerminal(t.to)) {
        Finish(c, t.to, now);
      } else {
        c.to = t.to;
        c.attempt = ApplyAttempt(job.attempt, t.attempt);
        c.run_at = now;
      }
      break;
    case Outcome::kRetryWithBackoff: {
      const Timestamp next = now + BackoffDelay(backoff, job.attempt, rng);
      if (!attempts_left) {
        why_final =
            "no attempts left (" + std::to_string(job.attempt) + " of " + std::to_string(job.max_attempts) + " used)";
        Finish(c, JobState::kFailed, now);
      } else if (DeadlinePassedBy(job, next)) {
        why_final = "the next attempt would start after the job deadline";
        Finish(c, JobState::kFailed, now);
      } else {
        c.to = JobState::kScheduled;
        c.run_at = next;
      }
      break;
    }
    case Outcome::kRetryAtOnce:
      if (!attempts_left) {
        why_final =
            "no attempts left (" + std::to_string(job.attempt) + " of " + std::to_string(job.max_attempts) + " used)";
        Finish(c, JobState::kFailed, now);
      } else if (DeadlinePassedBy(job, now)) {
        why_final = "the job deadline has passed";
        Finish(c, JobState::kFailed, now);
      } else {
        c.to = JobState::kAvailable;
        c.run_at = now;
      }
      break;
    case Outcome::kRetryAfter: {
      const Duration wait = failure.retry_after.value_or(BackoffDelay(backoff, job.attempt, rng));
      const Timestamp next = now + wait;
      if (DeadlinePassedBy(job, next)) {
        why_final = "retry_after passes the job deadline";
        Finish(c, JobState::kFailed, now);
      } else {
        c.to = JobState::kScheduled;
        c.attempt = ApplyAttempt(job.attempt, t.attempt);
        c.run_at = next;
      }
      break;
    }
    default:
      assert(false && "failure events lead to a move or a retry");
      return Status::Internal("unexpected outcome for " + std::string(ToString(event)));
  }
  // The user's cancel decides how a running job ends (as its take-back
  // does): whatever ends the run after the request, be it a drain, a crash, a
  // lost lease or an error the handler hit before it saw the request, the job
  // is `cancelled`, never retried. What happened is still recorded.
  if (job.cancel_requested && job.cancel_reason == CancelReason::kUser && !IsTerminal(c.to)) {
    why_final = "the job was cancelled while it ran";
    c.attempt = job.attempt;
    c.run_at = job.run_at;
    Finish(c, JobState::kCancelled, now);
  }
  if (!why_final.empty()) entry.message += std::string(kFinalNote) + why_final + ")";
  c.error = std::move(entry);
  if (job.resource_key) {
    ResourceOutcome r;
    r.key = *job.resource_key;
    // A lease that never reached a handler says nothing about the service.
    r.outcome = failure.never_started ? BreakerOutcome::kNeutral : BreakerOutcomeFor(failure.error_class);
    if (failure.error_class == ErrorClass::kRateLimited && failure.retry_after)
      r.hold_until = now + *failure.retry_after;
    c.resource = std::move(r);
  }
  return c;
}

Result<JobChange> PlanCancel(const Job& job, Timestamp now) {
  const Transition t = Lookup(job.state, JobEvent::kCancel);
  if (t.outcome == Outcome::kRefused) return Refusal(job.state, JobEvent::kCancel, JobRef(job));
  JobChange c = Base(job);
  if (t.outcome == Outcome::kRequestCancel) {
    c.request_cancel = true;
    c.cancel_reason = CancelReason::kUser;
    c.takeback_at = TakebackTime(job, now);
    // A stop request already in flight (a limit) keeps its earlier take-back,
    // but the user's cancel decides how it ends: `cancelled`, never a retry.
    if (job.cancel_requested && job.takeback_at && *job.takeback_at < *c.takeback_at) {
      c.takeback_at = job.takeback_at;
    }
    return c;
  }
  Finish(c, t.to, now);
  c.error = ErrorEntry{job.attempt, ErrorClass::kCancelled, "cancelled before it ran", now, false, std::nullopt,
                       std::nullopt};
  return c;
}

Result<JobChange> PlanRetry(const Job& job, Timestamp now) {
  const Transition t = Lookup(job.state, JobEvent::kRetry);
  if (t.outcome == Outcome::kRefused) return Refusal(job.state, JobEvent::kRetry, JobRef(job));
  JobChange c = Base(job);
  c.to = t.to;
  c.run_at = now;
  c.max_attempts = std::max(job.max_attempts, job.attempt + 1);
  return c;
}

std::optional<AtRisk> ProjectAtRisk(const Job& job) {
  if (job.state != JobState::kRunning || !job.started_at || !job.progress.total || !job.progress.updated_at) {
    return std::nullopt;
  }
  const std::int64_t done = job.progress.done;
  const std::int64_t total = *job.progress.total;
  const Duration spent = *job.progress.updated_at - *job.started_at;
  if (done <= 0 || done >= total || spent <= Duration(0)) return std::nullopt;
  AtRisk r;
  r.limit = std::string(LimitName(CancelReason::kTimeout));
  r.limit_at = *job.started_at + job.timeout;
  if (job.deadline_at && *job.deadline_at < r.limit_at) {
    r.limit = std::string(LimitName(CancelReason::kDeadline));
    r.limit_at = *job.deadline_at;
  }
  // The rest at the rate so far: (total - done) items at spent / done each.
  const long double per_item = static_cast<long double>(spent.count()) / static_cast<long double>(done);
  const long double left = per_item * static_cast<long double>(total - done);
  // Capped (a crawl of 1 item a day of a million): far past any limit either way.
  const long double cap = static_cast<long double>(Duration(std::chrono::hours(24 * 365 * 10)).count());
  r.projected_finish_at = *job.progress.updated_at + Duration(static_cast<std::int64_t>(std::min(left, cap)));
  if (r.projected_finish_at <= r.limit_at) return std::nullopt;
  return r;
}

std::string_view WithoutFinalNote(std::string_view message) {
  const std::size_t at = message.rfind(kFinalNote);
  if (at == std::string_view::npos || message.empty() || message.back() != ')') return message;
  return message.substr(0, at);
}

Result<JobChange> PlanDeadlinePassed(const Job& job, Timestamp now) {
  const Transition t = Lookup(job.state, JobEvent::kDeadlinePassed);
  if (t.outcome == Outcome::kRefused) return Refusal(job.state, JobEvent::kDeadlinePassed, JobRef(job));
  if (!DeadlinePassedBy(job, now)) return Status::Conflict(JobRef(job) + " has not reached its deadline");
  JobChange c = Base(job);
  Finish(c, t.to, now);
  c.error = ErrorEntry{job.attempt,
                       ErrorClass::kTimeout,
                       "job deadline " + FormatRfc3339(*job.deadline_at) + " passed before it could run",
                       now,
                       false,
                       std::string(LimitName(CancelReason::kDeadline)),
                       std::nullopt};
  return c;
}

std::string_view LimitName(CancelReason reason) {
  switch (reason) {
    case CancelReason::kTimeout: return "timeout";
    case CancelReason::kStalled: return "stall_timeout";
    case CancelReason::kDeadline: return "deadline";
    case CancelReason::kUser: return "cancel";
    case CancelReason::kNone: return "";
  }
  return "";
}

std::optional<LimitHit> FirstLimitReached(const Job& job, Timestamp now) {
  if (job.state != JobState::kRunning) return std::nullopt;
  std::optional<LimitHit> first;
  auto consider = [&](CancelReason reason, std::optional<Timestamp> at) {
    if (!at || *at > now) return;
    if (!first || *at < first->at) first = LimitHit{reason, *at};
  };
  if (job.started_at) consider(CancelReason::kTimeout, *job.started_at + job.timeout);
  if (job.stall_timeout && job.stall_since) consider(CancelReason::kStalled, *job.stall_since + *job.stall_timeout);
  consider(CancelReason::kDeadline, job.deadline_at);
  return first;
}

std::optional<Timestamp> AttemptDeadline(const Job& job) {
  std::optional<Timestamp> nearest;
  if (job.started_at) nearest = *job.started_at + job.timeout;
  if (job.deadline_at && (!nearest || *job.deadline_at < *nearest)) nearest = job.deadline_at;
  return nearest;
}

Timestamp TakebackTime(const Job& job, Timestamp at) { return at + job.grace + job.lease_ttl / 3; }

Result<JobChange> PlanLimitReached(const Job& job, const LimitHit& hit, Timestamp /*now*/) {
  const Transition t = Lookup(job.state, JobEvent::kLimitReached);
  if (t.outcome == Outcome::kRefused) return Refusal(job.state, JobEvent::kLimitReached, JobRef(job));
  JobChange c = Base(job);
  c.request_cancel = true;
  c.cancel_reason = hit.reason;
  c.takeback_at = TakebackTime(job, hit.at);
  return c;
}

Failure TakebackFailure(const Job& job, Timestamp now) {
  Failure f;
  const std::string who = job.worker_id ? " (worker " + *job.worker_id + ")" : "";
  const std::string settle =
      "; the worker did not settle it within grace + TTL/3" + who + ", so the server took it back";
  switch (job.cancel_reason) {
    case CancelReason::kUser:
      f.error_class = ErrorClass::kCancelled;
      f.message = "cancelled while running" + settle;
      break;
    case CancelReason::kTimeout:
      f.error_class = ErrorClass::kTimeout;
      f.limit = std::string(LimitName(CancelReason::kTimeout));
      f.message = "attempt timeout of " + FormatDurationShort(job.timeout) + " reached" + settle;
      break;
    case CancelReason::kStalled:
      f.error_class = ErrorClass::kStalled;
      f.limit = std::string(LimitName(CancelReason::kStalled));
      f.message = "no progress for " + FormatDurationShort(job.stall_timeout.value_or(Duration(0))) + settle;
      break;
    case CancelReason::kDeadline:
      f.error_class = ErrorClass::kTimeout;
      f.limit = std::string(LimitName(CancelReason::kDeadline));
      f.message = "job deadline " + (job.deadline_at ? FormatRfc3339(*job.deadline_at) : std::string("?")) +
                  " reached" + settle;
      break;
    case CancelReason::kNone:
      f.error_class = ErrorClass::kLeaseExpired;
      f.message = "no heartbeat" + who + " since " +
                  (job.heartbeat_at ? FormatRfc3339(*job.heartbeat_at) : std::string("the lease began")) +
                  "; lease expired at " +
                  (job.lease_expires_at ? FormatRfc3339(*job.lease_expires_at) : FormatRfc3339(now));
      break;
  }
  return f;
}

ReapVerdict DecideReap(const Job& job, Timestamp now) {
  ReapVerdict v;
  if (job.state != JobState::kRunning) return v;
  const bool takeback_due = job.cancel_requested && job.takeback_at && *job.takeback_at <= now;
  const bool lease_expired = job.lease_expires_at && *job.lease_expires_at <= now;
  if (takeback_due || lease_expired) {
    // A job whose lease expired after a stop request is classified by the
    // request (the limit it hit), which is the reason a person needs.
    v.action = ReapVerdict::Action::kTakeBack;
    v.failure = TakebackFailure(job, now);
    return v;
  }
  if (!job.cancel_requested) {
    if (auto hit = FirstLimitReached(job, now)) {
      v.action = ReapVerdict::Action::kRequestCancel;
      v.limit = hit;
    }
  }
  return v;
}

}  // namespace jobwarden

namespace jobwarden {
bool ResetsStallClock(const Progress& old_progress, const std::optional<std::string>& old_checkpoint,
                      const std::optional<Progress>& new_progress, const std::optional<std::string>& new_checkpoint) {
  if (new_progress && (new_progress->done > old_progress.done || new_progress->message != old_progress.message)) {
    return true;
  }
  return new_checkpoint && new_checkpoint != old_checkpoint;
}
}  // namespace jobwarden
