// Strict reading of request bodies. Every error names the field the way the
// caller wrote it ("jobs[2].timeout_s: must be a number of seconds"), unknown
// fields are refused rather than ignored (a typo like "timout_s" must not
// silently enqueue a job with the default timeout), and JSON `null` means
// "absent" for optional fields.
#pragma once

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/enqueue.h"
#include "core/job.h"
#include "core/status.h"
#include "core/time.h"

namespace jobwarden {

class JsonFields {
 public:
  // `object` must outlive this reader. `prefix` is prepended to field names
  // in errors ("jobs[3].").
  explicit JsonFields(const nlohmann::json& object, std::string prefix = "");

  // Refuses a field that is not in `known`.
  Status OnlyKnown(std::initializer_list<std::string_view> known) const;
  Status OnlyKnown(const std::vector<std::string_view>& known) const;

  // The field, or nullptr when absent or null.
  const nlohmann::json* Find(std::string_view name) const;
  std::string Name(std::string_view field) const { return prefix_ + std::string(field); }

  Result<std::string> RequiredString(std::string_view name) const;
  Result<std::optional<std::string>> String(std::string_view name) const;
  Result<std::optional<std::int64_t>> Int(std::string_view name, std::int64_t min, std::int64_t max) const;
  Result<std::optional<bool>> Bool(std::string_view name) const;
  // Any finite number (fractions allowed).
  Result<std::optional<double>> Number(std::string_view name) const;
  // A duration in seconds, fractions allowed (fields ending `_s`).
  Result<std::optional<Duration>> Seconds(std::string_view name) const;
  // An RFC 3339 time.
  Result<std::optional<Timestamp>> Time(std::string_view name) const;
  Result<std::optional<std::vector<std::string>>> Strings(std::string_view name) const;
  // Any JSON value, as compact text (args, result, checkpoint).
  Result<std::optional<std::string>> JsonText(std::string_view name) const;
  // A job id (a string, or an integer for convenience).
  Result<JobId> RequiredJobId(std::string_view name) const;
  Result<std::optional<Progress>> ProgressField(std::string_view name) const;

 private:
  const nlohmann::json& object_;
  std::string prefix_;
};

// The body of POST /v1/jobs (and each element of /v1/jobs/bulk).
Result<EnqueueRequest> ParseEnqueueRequest(const nlohmann::json& body, const std::string& prefix);

// Query parameters: refuses any not in `known`, and repeated ones.
Status OnlyKnownParams(const std::multimap<std::string, std::string>& query,
                       std::initializer_list<std::string_view> known);
std::optional<std::string> Param(const std::multimap<std::string, std::string>& query, const std::string& name);
// The page size of a list (`limit`): `fallback` when absent, else an integer from 1 to `max`.
Result<int> LimitParam(const std::multimap<std::string, std::string>& query, int fallback, int max);
// One filter on a field of a job's args (GET /v1/jobs?args.<path>=<value>,
// the bulk actions' {"args": {"<path>": value}}, `jobwarden ls --args`):
// `path` is dotted names of letters, digits, '_' and '-' ("order.id"), the
// value a number, true, false or a string. Returns the value as JSON text
// (JobListParams::args_value); `field` names the input in errors.
Result<std::string> ArgsFilterJson(const std::string& field, const std::string& path, const nlohmann::json& value);
// The value of a filter given as text: what reads as a JSON number, true,
// false or quoted string is that ("42", "\"42\""); anything else is the text
// itself, a string (bob@example.com).
nlohmann::json ArgsFilterValue(const std::string& text);

// A query parameter in seconds (a number from 0 to `max_s`, fractions
// allowed), rounded to milliseconds; nullopt when absent.
Result<std::optional<Duration>> SecondsParam(const std::multimap<std::string, std::string>& query,
                                             const std::string& name, double max_s);

}  // namespace jobwarden
