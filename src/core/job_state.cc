#include "core/job_state.h"

#include <string>

namespace jobwarden {

std::string_view ToString(JobState s) {
  switch (s) {
    case JobState::kScheduled: return "scheduled";
    case JobState::kAvailable: return "available";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
  }
  return "scheduled";
}

std::optional<JobState> ParseJobState(std::string_view s) {
  for (JobState st : kAllJobStates) {
    if (ToString(st) == s) return st;
  }
  return std::nullopt;
}

std::string_view ToString(JobEvent e) {
  switch (e) {
    case JobEvent::kRunAtReached: return "run_at_reached";
    case JobEvent::kFetch: return "fetch";
    case JobEvent::kHeartbeat: return "heartbeat";
    case JobEvent::kComplete: return "complete";
    case JobEvent::kFailPermanent: return "fail_permanent";
    case JobEvent::kFailRetryable: return "fail_retryable";
    case JobEvent::kFailRateLimited: return "fail_rate_limited";
    case JobEvent::kFailInterrupted: return "fail_interrupted";
    case JobEvent::kLeaseLost: return "lease_lost";
    case JobEvent::kCancelAck: return "cancel_ack";
    case JobEvent::kCancel: return "cancel";
    case JobEvent::kLimitReached: return "limit_reached";
    case JobEvent::kDeadlinePassed: return "deadline_passed";
    case JobEvent::kRetry: return "retry";
    case JobEvent::kDelete: return "delete";
    case JobEvent::kLeaseUndelivered: return "lease_undelivered";
  }
  return "unknown";
}

namespace {

using O = Outcome;
using A = AttemptEffect;
using S = JobState;

constexpr Transition Refuse(StatusCode why = StatusCode::kConflict) {
  return {O::kRefused, S::kScheduled, A::kKeep, why};
}
constexpr Transition To(S to, A a = A::kKeep) { return {O::kMoveTo, to, a, StatusCode::kOk}; }
constexpr Transition Do(O o, A a = A::kKeep) { return {o, S::kScheduled, a, StatusCode::kOk}; }

// A call that needs a lease on a job that is not running: the caller's lease is gone.
constexpr Transition kNoLease = Refuse(StatusCode::kLeaseLost);

// Rows: states in enum order. Columns: events in enum order:
//   run_at, fetch, heartbeat, complete, fail_perm, fail_retry, fail_rate, fail_intr,
//   lease_lost, cancel_ack, cancel, limit, deadline, retry, delete, lease_undelivered
constexpr Transition kTable[kJobStateCount][kJobEventCount] = {
    // scheduled (fetch takes due scheduled jobs directly; the store checks run_at)
    {To(S::kAvailable), To(S::kRunning, A::kIncrement), kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease,
     kNoLease, kNoLease, To(S::kCancelled), Refuse(), To(S::kFailed), Refuse(), Do(O::kRemove), kNoLease},
    // available
    {Refuse(), To(S::kRunning, A::kIncrement), kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease,
     kNoLease, To(S::kCancelled), Refuse(), To(S::kFailed), Refuse(), Do(O::kRemove), kNoLease},
    // running
    {Refuse(), Refuse(), Do(O::kStay), To(S::kSucceeded), To(S::kFailed), Do(O::kRetryWithBackoff),
     Do(O::kRetryAfter, A::kGiveBack), To(S::kAvailable, A::kGiveBack), Do(O::kRetryAtOnce), To(S::kCancelled),
     Do(O::kRequestCancel), Do(O::kRequestCancel), Refuse(), Refuse(), Refuse(), To(S::kAvailable, A::kGiveBack)},
    // succeeded
    {Refuse(), Refuse(), kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, Refuse(),
     Refuse(), Refuse(), Refuse(), Do(O::kRemove), kNoLease},
    // failed
    {Refuse(), Refuse(), kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, Refuse(),
     Refuse(), Refuse(), To(S::kAvailable), Do(O::kRemove), kNoLease},
    // cancelled
    {Refuse(), Refuse(), kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, kNoLease, Refuse(),
     Refuse(), Refuse(), To(S::kAvailable), Do(O::kRemove), kNoLease},
};

static_assert(sizeof(kTable) / sizeof(kTable[0]) == kJobStateCount, "the table needs a row per state");
static_assert(sizeof(kTable[0]) / sizeof(kTable[0][0]) == kJobEventCount, "the table needs a column per event");
static_assert(static_cast<std::size_t>(JobState::kCancelled) + 1 == kJobStateCount, "kJobStateCount is stale");
static_assert(static_cast<std::size_t>(JobEvent::kLeaseUndelivered) + 1 == kJobEventCount, "kJobEventCount is stale");

}  // namespace

Transition Lookup(JobState from, JobEvent event) {
  return kTable[static_cast<std::size_t>(from)][static_cast<std::size_t>(event)];
}

Status Refusal(JobState from, JobEvent event, std::string_view job_ref) {
  const Transition t = Lookup(from, event);
  if (t.outcome != Outcome::kRefused) return Status::Ok();
  std::string msg(job_ref);
  msg += " is ";
  msg += ToString(from);
  switch (event) {
    case JobEvent::kDelete: msg += ": a running job cannot be deleted (cancel it first)"; break;
    case JobEvent::kRetry:
      msg += IsTerminal(from) ? ": only failed or cancelled jobs can be retried" : ": it has not finished";
      break;
    case JobEvent::kCancel: msg += ": a finished job cannot be cancelled"; break;
    default:
      if (t.refusal == StatusCode::kLeaseLost) {
        msg += ": the lease is no longer held";
      } else {
        msg += ": '";
        msg += ToString(event);
        msg += "' is not allowed";
      }
  }
  return {t.refusal, std::move(msg)};
}

}  // namespace jobwarden
