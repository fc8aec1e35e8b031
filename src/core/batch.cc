#include "core/batch.h"

#include <algorithm>

namespace jobwarden {

std::string_view ToString(BatchState s) {
  switch (s) {
    case BatchState::kRunning: return "running";
    case BatchState::kSucceeded: return "succeeded";
    case BatchState::kFailed: return "failed";
  }
  return "running";
}

std::optional<BatchState> ParseBatchState(std::string_view s) {
  if (s == "running") return BatchState::kRunning;
  if (s == "succeeded") return BatchState::kSucceeded;
  if (s == "failed") return BatchState::kFailed;
  return std::nullopt;
}

Status ValidateBatch(const BatchRequest& r, Timestamp now, int max_jobs) {
  if (r.jobs.empty()) return Status::InvalidArgument("jobs: must not be empty");
  if (static_cast<int>(r.jobs.size()) > max_jobs) {
    return Status::InvalidArgument("jobs: at most " + std::to_string(max_jobs) + " members, got " +
                                   std::to_string(r.jobs.size()));
  }
  if (r.deadline_in && r.deadline_at) return Status::InvalidArgument("deadline_s, deadline_at: give one, not both");
  if (r.deadline_in && *r.deadline_in <= Duration(0)) {
    return Status::InvalidArgument("deadline_s: must be greater than 0");
  }
  if (r.deadline_at && *r.deadline_at <= now) {
    return Status::InvalidArgument("deadline_at: " + FormatRfc3339(*r.deadline_at) + " is in the past");
  }
  if (r.min_succeeded && (*r.min_succeeded < 1 || *r.min_succeeded > static_cast<int>(r.jobs.size()))) {
    return Status::InvalidArgument("min_succeeded: must be 1-" + std::to_string(r.jobs.size()) +
                                   " (the number of members)");
  }
  if (r.callback && r.callback->kind.empty()) return Status::InvalidArgument("callback.kind: required");
  if (r.name && r.name->size() > 200) return Status::InvalidArgument("name: at most 200 characters");
  return Status::Ok();
}

std::optional<Timestamp> BatchDeadline(const BatchRequest& r, Timestamp now) {
  if (r.deadline_at) return r.deadline_at;
  if (r.deadline_in) return now + *r.deadline_in;
  return std::nullopt;
}

std::optional<Timestamp> MemberDeadline(std::optional<Timestamp> own, std::optional<Timestamp> batch,
                                        std::optional<Timestamp> parent) {
  std::optional<Timestamp> out = own;
  for (const std::optional<Timestamp>& t : {batch, parent}) {
    if (t && (!out || *t < *out)) out = t;
  }
  return out;
}

int CallbackPriority(const BatchRequest& r) {
  if (r.callback && r.callback->priority) return *r.callback->priority;
  int highest = 0;
  bool any = false;
  for (const EnqueueRequest& j : r.jobs) {
    const int p = j.priority.value_or(0);
    highest = any ? std::max(highest, p) : p;
    any = true;
  }
  return highest + 1;
}

BatchState DecideBatch(const StateCounts& counts, std::int64_t min_succeeded, bool deadline_passed) {
  std::int64_t open = 0;
  for (JobState s : kAllJobStates) {
    if (!IsTerminal(s)) open += counts[static_cast<std::size_t>(s)];
  }
  if (open > 0 && !deadline_passed) return BatchState::kRunning;
  return counts[static_cast<std::size_t>(JobState::kSucceeded)] >= min_succeeded ? BatchState::kSucceeded
                                                                                 : BatchState::kFailed;
}

}  // namespace jobwarden
