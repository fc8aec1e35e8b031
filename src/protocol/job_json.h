// The job JSON of DESIGN.md ("Job JSON"): one encoder shared by the API, the
// CLI's --json and the command-handler stdin, so the field names cannot drift.
//
// Times are RFC 3339 UTC strings with milliseconds; durations are seconds
// (numbers, fractions allowed) in fields ending `_s`; JSON-valued fields
// (args, checkpoint, result) are embedded as JSON, not as strings. Absent
// optional values are `null`, so every field is always present.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "core/job.h"
#include "core/status.h"

namespace jobwarden {

// The job JSON has one writer, AppendJobJson below (the field list written
// once); JobToJson is its text read back as a tree, and JobJsonText its text.
// Paths that only send the job (the API's answers, SSE frames) use the text.
nlohmann::json JobToJson(const Job& job);
std::string JobJsonText(const Job& job);

// A field added to the job JSON: its name and its value as JSON text.
struct JsonField {
  std::string_view name;
  std::string_view json;
};

// Appends the job JSON as compact text, byte for byte what nlohmann's
// dump(-1, ' ', false, error_handler_t::replace) writes of it (keys in sorted
// order, its numbers, its escapes), without building a tree. `extra`
// fields (sorted by name, none of the job's own) go in at their sorted places,
// as assigning them to the tree would put them.
void AppendJobJson(std::string& out, const Job& job, std::initializer_list<JsonField> extra = {});

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
