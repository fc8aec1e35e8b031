#include "protocol/schedule_json.h"

#include "core/job.h"
#include "protocol/answer_reader.h"

namespace jobwarden {

using answer_reader::Bad;
using answer_reader::Reader;
using answer_reader::TimeOrNull;

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
          {"last_fire_at", TimeOrNull(s.last_fire_at)},
          {"last_job_id", s.last_job_id ? nlohmann::json(FormatJobId(*s.last_job_id)) : nlohmann::json(nullptr)}};
}

Result<ScheduleInfo> ScheduleInfoFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("schedules[]", "must be an object");
  Reader r(j, "schedule.");
  ScheduleInfo s;
  JW_RETURN_IF_ERROR(r.Str("name", s.spec.name));
  JW_RETURN_IF_ERROR(r.Str("cron", s.spec.cron));
  JW_RETURN_IF_ERROR(r.Str("timezone", s.spec.timezone));
  JW_RETURN_IF_ERROR(r.Str("kind", s.spec.kind));
  JW_RETURN_IF_ERROR(r.Str("queue", s.spec.queue));
  std::string catch_up = "one";
  JW_RETURN_IF_ERROR(r.Str("catch_up", catch_up));
  const std::optional<CatchUp> parsed = ParseCatchUp(catch_up);
  if (!parsed) return Bad("schedule.catch_up", "'" + catch_up + "' is not one or none");
  s.spec.catch_up = *parsed;
  std::optional<std::string> args;
  JW_RETURN_IF_ERROR(r.Text("args", args));
  if (args) s.spec.args = *args;
  std::optional<Timestamp> next;
  JW_RETURN_IF_ERROR(r.Time("next_fire_at", next));
  if (!next) return Bad("schedule.next_fire_at", "missing");
  s.next_fire_at = *next;
  JW_RETURN_IF_ERROR(r.Time("last_fire_at", s.last_fire_at));
  std::optional<std::string> last_job;
  JW_RETURN_IF_ERROR(r.OptStr("last_job_id", last_job));
  if (last_job) {
    auto id = ParseJobId(*last_job);
    if (!id.ok()) return Bad("schedule.last_job_id", id.status().message());
    s.last_job_id = *id;
  }
  return s;
}

}  // namespace jobwarden
