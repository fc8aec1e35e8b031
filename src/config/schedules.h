// The [schedules.NAME] tables of the configuration file (DESIGN.md
// "Schedules"), applied at start by every process that runs a reaper
// (`jobwarden server`, `up`, an embedded `worker`):
//
//   [schedules.mark-stale]
//   cron = "*/10 * * * *"     # 5 fields, an @macro (@hourly, @daily, ...) or "@every 30s"
//   kind = "mark_stale"
//   args = { older_than_h = 6 }   # a table: the job's args (default {})
//   queue = "maintenance"     # default "default"
//   timezone = "Europe/Paris" # tz database name (default UTC)
//   catch_up = "one"          # "one" (default): after downtime the latest missed fire runs once;
//                             # "none": a fire more than a minute late is skipped
#pragma once

#include <toml++/toml.h>

#include <string>
#include <vector>

#include "core/schedule.h"
#include "core/status.h"

namespace jobwarden {

// Reads root["schedules"] (absent: none). Errors name the file and the key
// ("jobwarden.toml: schedules.nightly.cron: field 2 (hour) '25': ..."); unknown keys are refused.
Result<std::vector<ScheduleSpec>> ReadSchedules(const toml::table& root, const std::string& file);

// Parses `path` and reads its schedules only. An empty path: none.
Result<std::vector<ScheduleSpec>> LoadSchedules(const std::string& path);

}  // namespace jobwarden
