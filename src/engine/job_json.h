// The job JSON of DESIGN.md ("Job JSON"): one encoder shared by the API, the
// CLI's --json and the command-handler stdin, so the field names cannot drift.
//
// Times are RFC 3339 UTC strings with milliseconds; durations are seconds
// (numbers, fractions allowed) in fields ending `_s`; JSON-valued fields
// (args, checkpoint, result) are embedded as JSON, not as strings. Absent
// optional values are `null`, so every field is always present.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "core/job.h"
#include "core/status.h"

namespace jobwarden {

nlohmann::json JobToJson(const Job& job);

// Appends JobToJson(job) as compact text, byte for byte what
// JobToJson(job).dump(-1, ' ', false, error_handler_t::replace) writes (same
// keys in the same sorted order, same numbers, same escapes), without
// building the tree: the fetch answer's hot path. `lease`, when not empty, is
// a JSON value added as the field "lease" (in its sorted place).
void AppendJobJson(std::string& out, const Job& job, std::string_view lease = {});

// JSON text helpers shared by the hot-path encoders (worker routes): each
// writes exactly what nlohmann's dump (error_handler_t::replace) writes.
void AppendJsonString(std::string& out, std::string_view s);
void AppendJsonSeconds(std::string& out, Duration d);  // ToSeconds(d) as a JSON number
void AppendJsonTimeOrNull(std::string& out, const std::optional<Timestamp>& t);
nlohmann::json ProgressToJson(const Progress& progress);
nlohmann::json ErrorEntryToJson(const ErrorEntry& entry);

// Parses JSON text the store holds (args, checkpoint, result). Text that is
// not valid JSON (it never should be: the engine validates on the way in) is
// returned as a JSON string rather than dropped, so nothing is hidden.
nlohmann::json ParseStoredJson(const std::string& text);

// {"done": 10, "total": 50, "message": "..."} -> Progress. `done` is required;
// errors name the field ("progress.done: must be a non-negative integer").
Result<Progress> ProgressFromJson(const nlohmann::json& j);

}  // namespace jobwarden
