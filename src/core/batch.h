// Batches (DESIGN.md "Batches"): the pure rules, before any storage. A batch
// is N member jobs, a deadline for the whole, `min_succeeded`, and one
// callback job enqueued when the batch finishes. The store keeps the rows;
// these decide.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "core/enqueue.h"
#include "core/error_class.h"
#include "core/job.h"
#include "core/job_state.h"
#include "core/status.h"
#include "core/time.h"

namespace jobwarden {

enum class BatchState { kRunning, kSucceeded, kFailed };
std::string_view ToString(BatchState s);
std::optional<BatchState> ParseBatchState(std::string_view s);

struct BatchCallback {
  std::string kind;
  std::optional<std::string> args;  // JSON object text; the batch JSON is added as args.batch
  std::optional<std::string> queue;
  std::optional<int> priority;  // default: above every member's (CallbackPriority)
};

// POST /v1/batches as the engine receives it.
struct BatchRequest {
  std::vector<EnqueueRequest> jobs;
  std::optional<Duration> deadline_in;  // deadline_s
  std::optional<Timestamp> deadline_at;
  std::optional<int> min_succeeded;  // default: every member
  std::optional<BatchCallback> callback;
  std::optional<std::string> name;
  std::optional<JobId> parent_id;
};

// The batch's own rules, before the members are checked as jobs (the engine
// does that, naming "jobs[i]."): at least one member and at most `max_jobs`,
// one deadline (not both), in the future, min_succeeded within 1..N, a
// callback with a kind. Messages name the field.
Status ValidateBatch(const BatchRequest& r, Timestamp now, int max_jobs);

// The batch's deadline, from deadline_s or deadline_at (unset: none).
std::optional<Timestamp> BatchDeadline(const BatchRequest& r, Timestamp now);

// Deadline propagation: a member's deadline is the earliest of its own, the
// batch's and its parent job's (any of them may be unset).
std::optional<Timestamp> MemberDeadline(std::optional<Timestamp> own, std::optional<Timestamp> batch,
                                        std::optional<Timestamp> parent);

// The callback must not wait behind its own batch: unless it sets one, its
// priority is one above the highest member's.
int CallbackPriority(const BatchRequest& r);

// Members per state (indexed by JobState), and what they make of the batch.
using StateCounts = std::array<std::int64_t, kJobStateCount>;

// Running while any member is not terminal and the deadline (if any) has not
// passed; then succeeded if at least min_succeeded members succeeded, else
// failed. `deadline_passed` finishes it even with members still running (the
// caller ends those as timeout, limit batch_deadline).
BatchState DecideBatch(const StateCounts& counts, std::int64_t min_succeeded, bool deadline_passed);

// One member's outcome, as the batch JSON shows it.
struct BatchMember {
  JobId id = 0;
  std::string kind;
  JobState state = JobState::kAvailable;
  std::optional<std::string> resource_key;
  int attempts = 0;
  std::optional<Duration> duration;   // the last attempt's, once it ended
  std::optional<std::string> result;  // JSON text
  // The last error, for a member that did not succeed (and has one).
  std::optional<ErrorClass> error_class;
  std::string error_message;
  std::optional<std::string> error_limit;
};

// A batch as GET /v1/batches/{id} answers it and its callback receives it.
struct BatchInfo {
  std::string id;
  std::optional<std::string> name;
  BatchState state = BatchState::kRunning;
  std::optional<Timestamp> deadline_at;
  std::int64_t min_succeeded = 1;
  std::int64_t total = 0;
  Timestamp created_at{};
  std::optional<Timestamp> finished_at;
  std::optional<JobId> callback_job_id;
  std::optional<JobId> parent_id;
  StateCounts counts{};
  std::vector<BatchMember> members;  // empty when not asked for
};

// The batch JSON of DESIGN.md "Batches": id, name, state, deadline_at,
// min_succeeded, created_at, finished_at, callback_job_id, parent_id,
// counts {per state}, members [...] (omitted when `with_members` is false),
// plus `total`. One encoder for the API, the event stream and the callback's
// args.batch, so they cannot differ.
std::string EncodeBatchJson(const BatchInfo& b, bool with_members = true);

// The callback's args: its own args (a JSON object, or absent) with `batch`
// set to `batch_json`.
Result<std::string> CallbackArgs(const std::optional<std::string>& callback_args, std::string_view batch_json);

// Batch ids are opaque strings; the stores number them.
std::string FormatBatchId(std::int64_t n);
std::optional<std::int64_t> ParseBatchId(std::string_view id);

}  // namespace jobwarden
