#include "engine/job_json.h"

#include <nlohmann/json.hpp>

namespace jobwarden {

namespace {

nlohmann::json TimeOrNull(const std::optional<Timestamp>& t) {
  return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
}

nlohmann::json JsonOrNull(const std::optional<std::string>& text) {
  return text ? ParseStoredJson(*text) : nlohmann::json(nullptr);
}

nlohmann::json StringOrNull(const std::optional<std::string>& s) {
  return s ? nlohmann::json(*s) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json ParseStoredJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return nlohmann::json(text);
  return j;
}

nlohmann::json ProgressToJson(const Progress& p) {
  return {{"done", p.done},
          {"total", p.total ? nlohmann::json(*p.total) : nlohmann::json(nullptr)},
          {"message", p.message},
          {"updated_at", TimeOrNull(p.updated_at)}};
}

nlohmann::json ErrorEntryToJson(const ErrorEntry& e) {
  nlohmann::json j = {{"attempt", e.attempt},
                      {"class", std::string(ToString(e.error_class))},
                      {"message", e.message},
                      {"at", FormatRfc3339(e.at)},
                      {"counted", e.counted}};
  if (e.limit) j["limit"] = *e.limit;
  if (e.output_tail) j["output_tail"] = *e.output_tail;
  return j;
}

nlohmann::json JobToJson(const Job& job) {
  nlohmann::json errors = nlohmann::json::array();
  for (const ErrorEntry& e : job.errors) errors.push_back(ErrorEntryToJson(e));
  const bool running = job.state == JobState::kRunning;
  nlohmann::json cancel_reason = nullptr;
  if (job.cancel_requested && job.cancel_reason != CancelReason::kNone) {
    cancel_reason = std::string(ToString(job.cancel_reason));
  }
  return {
      {"id", FormatJobId(job.id)},
      {"kind", job.kind},
      {"queue", job.queue},
      {"priority", job.priority},
      {"state", std::string(ToString(job.state))},
      {"args", ParseStoredJson(job.args)},
      {"attempt", job.attempt},
      {"max_attempts", job.max_attempts},
      {"timeout_s", ToSeconds(job.timeout)},
      {"stall_timeout_s", job.stall_timeout ? nlohmann::json(ToSeconds(*job.stall_timeout)) : nlohmann::json(nullptr)},
      {"deadline_at", TimeOrNull(job.deadline_at)},
      {"run_at", FormatRfc3339(job.run_at)},
      {"created_at", FormatRfc3339(job.created_at)},
      {"started_at", TimeOrNull(job.started_at)},
      {"finished_at", TimeOrNull(job.finished_at)},
      {"heartbeat_at", TimeOrNull(job.heartbeat_at)},
      // A lease exists only while running; the last lease's expiry is history, not state.
      {"lease_expires_at", running ? TimeOrNull(job.lease_expires_at) : nlohmann::json(nullptr)},
      {"worker_id", StringOrNull(job.worker_id)},
      {"cancel_requested", job.cancel_requested},
      {"cancel_reason", cancel_reason},
      {"progress", ProgressToJson(job.progress)},
      {"checkpoint", JsonOrNull(job.checkpoint)},
      {"result", JsonOrNull(job.result)},
      {"errors", std::move(errors)},
      {"unique_key", StringOrNull(job.unique_key)},
      {"resource_key", StringOrNull(job.resource_key)},
      {"batch_id", StringOrNull(job.batch_id)},
      {"tags", job.tags},
  };
}

Result<Progress> ProgressFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::InvalidArgument("progress: must be an object");
  Progress p;
  auto done = j.find("done");
  if (done == j.end() || !done->is_number_integer() || done->get<std::int64_t>() < 0) {
    return Status::InvalidArgument("progress.done: must be a non-negative integer");
  }
  p.done = done->get<std::int64_t>();
  if (auto total = j.find("total"); total != j.end() && !total->is_null()) {
    if (!total->is_number_integer() || total->get<std::int64_t>() < 0) {
      return Status::InvalidArgument("progress.total: must be a non-negative integer or null");
    }
    p.total = total->get<std::int64_t>();
  }
  if (auto msg = j.find("message"); msg != j.end() && !msg->is_null()) {
    if (!msg->is_string()) return Status::InvalidArgument("progress.message: must be a string");
    p.message = msg->get<std::string>();
  }
  return p;
}

}  // namespace jobwarden
