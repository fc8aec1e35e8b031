// Lifecycle planning: turns an event on a job into the exact change the
// store must persist, following the table in job_state.h and the contract of
// DESIGN.md (attempt accounting, backoff, deadlines, the error history).
//
// Planning is pure: it reads a Job snapshot and `now`, and returns a
// JobChange. The store applies a JobChange with a guarded compare-and-set
// (same state, and for a running job the same lease token), so a change
// planned from a stale snapshot is refused instead of overwriting a newer one.
#pragma once

#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "core/backoff.h"
#include "core/flow_control.h"
#include "core/job.h"

namespace jobwarden {

// An unsuccessful end of a run, as reported by a worker or decided by the engine.
struct Failure {
  ErrorClass error_class = ErrorClass::kTransient;
  std::string message;
  std::optional<Duration> retry_after;     // rate_limited only
  std::optional<std::string> limit;        // which time limit, for timeout/stalled
  std::optional<std::string> output_tail;  // captured stdout/stderr tail
  // The lease never reached a live handler (its fetch answer could not be
  // delivered, the worker was known dead before it could start the job, or
  // its heartbeats never named it): the table's "lease undelivered" row —
  // available at once, the attempt given back, the entry `counted: false`.
  // Used with class worker_lost. Default: false (the run may have started).
  bool never_started = false;
};

// What an ended run means for the job's resource (flow control): an outcome
// for its breaker and, for a rate_limited failure with retry_after, a hold of
// every job of the resource until then. The store applies it in the same
// transaction as the job's change, with core/flow_control.h.
struct ResourceOutcome {
  std::string key;
  BreakerOutcome outcome = BreakerOutcome::kNeutral;
  std::optional<Timestamp> hold_until;
};

// A planned change to one job row.
struct JobChange {
  JobId id = 0;
  // Guard: the change applies only if the row is still in `from` and, when
  // `from` is running, still holds lease `token`.
  JobState from = JobState::kAvailable;
  std::int64_t token = 0;

  JobState to = JobState::kAvailable;
  int attempt = 0;
  int max_attempts = 0;
  Timestamp run_at{};
  std::optional<Timestamp> finished_at;  // set iff `to` is terminal
  // Leaving `running` clears lease_expires_at and the cancel request; the
  // token and worker_id stay as a record of the last lease.
  bool leaves_running = false;
  // Staying `running` with a stop request (two-phase stop).
  bool request_cancel = false;
  CancelReason cancel_reason = CancelReason::kNone;
  std::optional<Timestamp> takeback_at;
  // Guard for a take-back because the lease expired: applies only if the
  // lease still ends at or before this time, so a heartbeat that renewed it
  // between the reaper's read and its write wins (the worker was told
  // `continue`). Unset: no such condition.
  std::optional<Timestamp> lease_expired_by;

  std::optional<ErrorEntry> error;  // appended to the error history
  // Written with the outcome when present.
  std::optional<std::string> result;
  std::optional<std::string> checkpoint;
  std::optional<Progress> progress;
  // Set when a run of a job with a resource_key ends (PlanFailure).
  std::optional<ResourceOutcome> resource;
};

// The event a failure class maps to in the table.
JobEvent EventForFailure(ErrorClass c);
// The event a failure maps to: kLeaseUndelivered when it never started, else by its class.
JobEvent EventForFailure(const Failure& f);

// running -> succeeded.
Result<JobChange> PlanComplete(const Job& job, Timestamp now);

// running -> scheduled | available | failed | cancelled, by the failure's class.
Result<JobChange> PlanFailure(const Job& job, const Failure& failure, Timestamp now, const BackoffPolicy& backoff,
                              std::mt19937_64& rng);

// available|scheduled -> cancelled; running -> running + cancel_requested,
// taken back at now + grace + TTL/3 if the worker does not settle it.
Result<JobChange> PlanCancel(const Job& job, Timestamp now);

// failed|cancelled -> available; max_attempts raised to at least attempt + 1.
Result<JobChange> PlanRetry(const Job& job, Timestamp now);

// A failure that ends the job has its message followed by this and the
// reason, then ')': "boom (final: no attempts left (5 of 5 used))".
inline constexpr std::string_view kFinalNote = " (final: ";
// The message without that note (failure groups: the same error, final or not).
std::string_view WithoutFinalNote(std::string_view message);

// available|scheduled whose deadline has passed -> failed (timeout, limit deadline).
Result<JobChange> PlanDeadlinePassed(const Job& job, Timestamp now);

// A time limit of a running attempt that has been reached.
struct LimitHit {
  CancelReason reason = CancelReason::kTimeout;
  Timestamp at{};  // when the limit was reached
};

// The earliest limit of a running job reached at `now`, if any.
std::optional<LimitHit> FirstLimitReached(const Job& job, Timestamp now);

// The nearest limit of a running attempt (attempt timeout, job deadline):
// the deadline a handler is given.
std::optional<Timestamp> AttemptDeadline(const Job& job);

// DESIGN.md "At risk": a running job whose projected finish, from its
// progress rate this attempt (done over the time from its start to its last
// progress report), falls after its nearest limit (attempt timeout or job
// deadline), before that limit is reached. Needs a progress total and some
// progress; none otherwise.
struct AtRisk {
  std::string limit;  // LimitName: "timeout" or "deadline"
  Timestamp limit_at{};
  Timestamp projected_finish_at{};
};
std::optional<AtRisk> ProjectAtRisk(const Job& job);

// Where a limit or cancel becomes a server take-back: at + grace + TTL/3.
Timestamp TakebackTime(const Job& job, Timestamp at);

// running -> running + cancel_requested{reason}, first phase of a limit.
Result<JobChange> PlanLimitReached(const Job& job, const LimitHit& hit, Timestamp now);

// What the reaper must do with one running job at `now`.
struct ReapVerdict {
  enum class Action { kNone, kRequestCancel, kTakeBack } action = Action::kNone;
  std::optional<LimitHit> limit;   // kRequestCancel
  std::optional<Failure> failure;  // kTakeBack
};
ReapVerdict DecideReap(const Job& job, Timestamp now);

// The class and message a stop request turns into when the server takes the job back.
Failure TakebackFailure(const Job& job, Timestamp now);

// The human name of a limit for messages and the `limit` field.
std::string_view LimitName(CancelReason reason);

}  // namespace jobwarden

namespace jobwarden {
// Whether a heartbeat resets the stall clock: progress.done grew, or the
// message changed, or a checkpoint arrived that differs from the stored one.
bool ResetsStallClock(const Progress& old_progress, const std::optional<std::string>& old_checkpoint,
                      const std::optional<Progress>& new_progress, const std::optional<std::string>& new_checkpoint);
}  // namespace jobwarden
