// Schedule JSON (GET /v1/schedules, `jobwarden schedules --json`): name,
// cron, timezone, kind, args, queue, catch_up, next_fire_at, last_fire_at,
// last_job_id (a job id string, or null). Times are RFC 3339.
#pragma once

#include <nlohmann/json.hpp>

#include "core/schedule.h"
#include "core/status.h"

namespace jobwarden {

nlohmann::json ScheduleInfoToJson(const ScheduleInfo& s);
// The reader of ScheduleInfoToJson (the CLI against a server); a malformed
// answer is kInternal naming the field, as the other answer decoders.
Result<ScheduleInfo> ScheduleInfoFromJson(const nlohmann::json& j);

}  // namespace jobwarden
