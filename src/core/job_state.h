// The job state machine: the only place where transitions are defined.
//
//                      run_at reached
//   enqueue --> scheduled ----------> available --fetch--> running --complete--> succeeded
//      |            ^                     ^                 |  |
//      |            |  fail transient/timeout/stalled/       |  |  fail permanent, attempts or
//      |            |  crashed (backoff), rate_limited       |  |      deadline exhausted--> failed
//      |            `----------------------------------------'  |
//      |                    lease expired / worker lost /       |
//      `--> available       interrupted (no backoff) -----------'    cancel ack --> cancelled
//
//   available|scheduled --cancel--> cancelled      available|scheduled --deadline--> failed
//   failed|cancelled --retry--> available          any but running --delete--> (gone)
//
// Who moves jobs out of each state:
//   kScheduled: fetch (due jobs, directly) and the reaper (promotion, deadline), cancel, delete.
//   kAvailable: fetch, cancel, delete, the reaper (deadline).
//   kRunning:   the lease holder (heartbeat, complete, fail, cancel ack) and the reaper
//               (lease expiry, worker death, take-back after a limit or cancel), reset-stuck,
//               and the server when a lease never reached a live handler.
//   kSucceeded, kFailed, kCancelled: only retry (failed, cancelled), delete, and retention purge.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/status.h"

namespace jobwarden {

enum class JobState : std::uint8_t { kScheduled, kAvailable, kRunning, kSucceeded, kFailed, kCancelled };
inline constexpr std::size_t kJobStateCount = 6;
inline constexpr std::array<JobState, kJobStateCount> kAllJobStates = {JobState::kScheduled, JobState::kAvailable,
                                                                       JobState::kRunning,   JobState::kSucceeded,
                                                                       JobState::kFailed,    JobState::kCancelled};

std::string_view ToString(JobState s);
std::optional<JobState> ParseJobState(std::string_view s);

constexpr bool IsTerminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled;
}

// Every event that can happen to a job. Each (state, event) pair of the table
// below is either a defined transition or a typed refusal.
enum class JobEvent : std::uint8_t {
  kRunAtReached,     // scheduled job's run_at has come
  kFetch,            // a worker leases the job
  kHeartbeat,        // the lease holder renews (current token)
  kComplete,         // the lease holder reports success
  kFailPermanent,    // fail with class permanent
  kFailRetryable,    // fail transient / timeout / stalled / crashed: backoff or fail
  kFailRateLimited,  // fail rate_limited: run again after retry_after, attempt given back
  kFailInterrupted,  // fail interrupted (drain): available at once, attempt given back
  kLeaseLost,        // lease expiry, death seen, or admin reset-stuck: available at once or fail
  kCancelAck,        // the worker acknowledges a cancel
  kCancel,           // a user asks to cancel
  kLimitReached,     // attempt timeout / stall / deadline reached while running (phase one)
  kDeadlinePassed,   // deadline reached while waiting
  kRetry,            // a user asks to run a finished job again
  kDelete,           // a user deletes the job
  // The lease never reached a live handler: its fetch answer could not be
  // delivered, the worker was known dead before it could start the job, or
  // the worker's heartbeats never named it. Available at once, attempt given
  // back (worker_lost, not counted).
  kLeaseUndelivered,
};
inline constexpr std::size_t kJobEventCount = 16;
inline constexpr std::array<JobEvent, kJobEventCount> kAllJobEvents = {
    JobEvent::kRunAtReached,   JobEvent::kFetch,         JobEvent::kHeartbeat,       JobEvent::kComplete,
    JobEvent::kFailPermanent,  JobEvent::kFailRetryable, JobEvent::kFailRateLimited, JobEvent::kFailInterrupted,
    JobEvent::kLeaseLost,      JobEvent::kCancelAck,     JobEvent::kCancel,          JobEvent::kLimitReached,
    JobEvent::kDeadlinePassed, JobEvent::kRetry,         JobEvent::kDelete,          JobEvent::kLeaseUndelivered};

std::string_view ToString(JobEvent e);

// What a transition does to the job.
enum class Outcome : std::uint8_t {
  kRefused,           // not allowed; `refusal` says why
  kMoveTo,            // go to `to`
  kRetryWithBackoff,  // `scheduled` at now + backoff if attempts and deadline allow, else `failed`
  kRetryAtOnce,       // `available` now if attempts and deadline allow, else `failed`
  kRetryAfter,        // `scheduled` at now + retry_after if the deadline allows, else `failed`
  kRequestCancel,     // stay `running`, set cancel_requested (two-phase stop)
  kStay,              // stay in the same state (heartbeat)
  kRemove,            // the row is deleted
};

// What happens to `attempt`.
enum class AttemptEffect : std::uint8_t {
  kKeep,       // unchanged (a spent attempt stays counted)
  kIncrement,  // fetch starts attempt + 1
  kGiveBack,   // an uncounted run: attempt - 1, so the next run reuses the number
};

struct Transition {
  Outcome outcome = Outcome::kRefused;
  JobState to = JobState::kScheduled;  // meaningful for kMoveTo
  AttemptEffect attempt = AttemptEffect::kKeep;
  StatusCode refusal = StatusCode::kConflict;  // meaningful for kRefused
};

// The table of DESIGN.md "Job states and transitions". Total over every pair.
Transition Lookup(JobState from, JobEvent event);

// Convenience: whether `event` is allowed from `from`.
inline bool Allows(JobState from, JobEvent event) { return Lookup(from, event).outcome != Outcome::kRefused; }

// A refusal as a Status, with a message naming the state ("job 7 is succeeded: cannot retry").
Status Refusal(JobState from, JobEvent event, std::string_view job_ref);

}  // namespace jobwarden
