#include "protocol/schedule_json.h"

#include "core/job.h"

namespace jobwarden {

namespace {

nlohmann::json OptTime(const std::optional<Timestamp>& t) {
  return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
}

Result<std::string> Text(const nlohmann::json& j, const char* field) {
  if (!j.contains(field) || !j[field].is_string())
    return Status::InvalidArgument(std::string(field) + ": expected a string");
  return j[field].get<std::string>();
}

Result<std::optional<Timestamp>> TimeOrNull(const nlohmann::json& j, const char* field) {
  if (!j.contains(field) || j[field].is_null()) return std::optional<Timestamp>{};
  if (!j[field].is_string()) return Status::InvalidArgument(std::string(field) + ": expected a time or null");
  auto t = ParseRfc3339(j[field].get<std::string>());
  if (!t.ok()) return t.status().WithContext(field);
  return std::optional<Timestamp>(*t);
}

}  // namespace

nlohmann::json ScheduleInfoToJson(const ScheduleInfo& s) {
  nlohmann::json args = nlohmann::json::parse(s.spec.args, nullptr, /*allow_exceptions=*/false);
  if (args.is_discarded()) args = nlohmann::json::object();
  return {{"name", s.spec.name},
          {"cron", s.spec.cron},
          {"timezone", s.spec.timezone},
          {"kind", s.spec.kind},
          {"args", std::move(args)},
          {"queue", s.spec.queue},
          {"catch_up", std::string(ToString(s.spec.catch_up))},
          {"next_fire_at", FormatRfc3339(s.next_fire_at)},
          {"last_fire_at", OptTime(s.last_fire_at)},
          {"last_job_id", s.last_job_id ? nlohmann::json(FormatJobId(*s.last_job_id)) : nlohmann::json(nullptr)}};
}

Result<ScheduleInfo> ScheduleInfoFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::InvalidArgument("schedule: expected an object");
  ScheduleInfo s;
  JW_ASSIGN_OR_RETURN(s.spec.name, Text(j, "name"));
  JW_ASSIGN_OR_RETURN(s.spec.cron, Text(j, "cron"));
  JW_ASSIGN_OR_RETURN(s.spec.timezone, Text(j, "timezone"));
  JW_ASSIGN_OR_RETURN(s.spec.kind, Text(j, "kind"));
  JW_ASSIGN_OR_RETURN(s.spec.queue, Text(j, "queue"));
  JW_ASSIGN_OR_RETURN(const std::string catch_up, Text(j, "catch_up"));
  s.spec.catch_up = ParseCatchUp(catch_up).value_or(CatchUp::kOne);
  s.spec.args = j.contains("args") ? j["args"].dump() : "{}";
  JW_ASSIGN_OR_RETURN(const std::optional<Timestamp> next, TimeOrNull(j, "next_fire_at"));
  if (!next) return Status::InvalidArgument("next_fire_at: required");
  s.next_fire_at = *next;
  JW_ASSIGN_OR_RETURN(s.last_fire_at, TimeOrNull(j, "last_fire_at"));
  if (j.contains("last_job_id") && j["last_job_id"].is_string()) {
    JW_ASSIGN_OR_RETURN(const JobId id, ParseJobId(j["last_job_id"].get<std::string>()));
    s.last_job_id = id;
  }
  return s;
}

}  // namespace jobwarden
