#include "core/batch.h"

#include <nlohmann/json.hpp>

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

namespace {

nlohmann::json TimeOrNull(const std::optional<Timestamp>& t) {
  return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
}

nlohmann::json IdOrNull(const std::optional<JobId>& id) {
  return id ? nlohmann::json(FormatJobId(*id)) : nlohmann::json(nullptr);
}

nlohmann::json MemberJson(const BatchMember& m) {
  nlohmann::json j = nlohmann::json::object();
  j["id"] = FormatJobId(m.id);
  j["kind"] = m.kind;
  j["state"] = ToString(m.state);
  j["resource_key"] = m.resource_key ? nlohmann::json(*m.resource_key) : nlohmann::json(nullptr);
  j["attempts"] = m.attempts;
  j["duration_s"] = m.duration ? nlohmann::json(ToSeconds(*m.duration)) : nlohmann::json(nullptr);
  j["result"] = m.result ? nlohmann::json::parse(*m.result, nullptr, /*allow_exceptions=*/false) : nullptr;
  if (j["result"].is_discarded()) j["result"] = *m.result;  // not JSON: kept as text rather than lost
  if (m.error_class) {
    nlohmann::json e = {{"class", ToString(*m.error_class)}, {"message", m.error_message}};
    if (m.error_limit) e["limit"] = *m.error_limit;
    j["error"] = std::move(e);
  } else {
    j["error"] = nullptr;
  }
  return j;
}

}  // namespace

std::string EncodeBatchJson(const BatchInfo& b, bool with_members) {
  nlohmann::json j = nlohmann::json::object();
  j["id"] = b.id;
  j["name"] = b.name ? nlohmann::json(*b.name) : nlohmann::json(nullptr);
  j["state"] = ToString(b.state);
  j["deadline_at"] = TimeOrNull(b.deadline_at);
  j["min_succeeded"] = b.min_succeeded;
  j["total"] = b.total;
  j["created_at"] = FormatRfc3339(b.created_at);
  j["finished_at"] = TimeOrNull(b.finished_at);
  j["callback_job_id"] = IdOrNull(b.callback_job_id);
  j["parent_id"] = IdOrNull(b.parent_id);
  nlohmann::json counts = nlohmann::json::object();
  for (JobState s : kAllJobStates) counts[std::string(ToString(s))] = b.counts[static_cast<std::size_t>(s)];
  j["counts"] = std::move(counts);
  if (with_members) {
    nlohmann::json members = nlohmann::json::array();
    for (const BatchMember& m : b.members) members.push_back(MemberJson(m));
    j["members"] = std::move(members);
  }
  return j.dump();
}

Result<std::string> CallbackArgs(const std::optional<std::string>& callback_args, std::string_view batch_json) {
  nlohmann::json args = nlohmann::json::object();
  if (callback_args) {
    args = nlohmann::json::parse(*callback_args, nullptr, /*allow_exceptions=*/false);
    if (!args.is_object()) return Status::InvalidArgument("callback.args: must be a JSON object");
  }
  nlohmann::json batch = nlohmann::json::parse(batch_json, nullptr, /*allow_exceptions=*/false);
  if (batch.is_discarded()) return Status::Internal("callback args: the batch JSON does not parse");
  args["batch"] = std::move(batch);
  return args.dump();
}

std::string FormatBatchId(std::int64_t n) { return std::to_string(n); }

std::optional<std::int64_t> ParseBatchId(std::string_view id) {
  if (id.empty() || id.size() > 18) return std::nullopt;
  std::int64_t n = 0;
  for (char c : id) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n > 0 ? std::optional<std::int64_t>(n) : std::nullopt;
}

}  // namespace jobwarden
