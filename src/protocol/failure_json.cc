#include "protocol/failure_json.h"

#include "protocol/answer_reader.h"

namespace jobwarden {

using answer_reader::Bad;
using answer_reader::Reader;

nlohmann::json FailureGroupToJson(const FailureGroup& g) {
  nlohmann::json samples = nlohmann::json::array();
  for (JobId id : g.sample_job_ids) samples.push_back(FormatJobId(id));
  return {{"pattern", g.pattern},
          {"class", std::string(ToString(g.error_class))},
          {"kinds", g.kinds},
          {"count", g.count},
          {"first_at", FormatRfc3339(g.first_at)},
          {"last_at", FormatRfc3339(g.last_at)},
          {"sample_job_ids", std::move(samples)}};
}

Result<FailureGroup> FailureGroupFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("failures[]", "must be an object");
  Reader r(j, "failure.");
  FailureGroup g;
  JW_RETURN_IF_ERROR(r.Str("pattern", g.pattern));
  std::string cls;
  JW_RETURN_IF_ERROR(r.Str("class", cls));
  const auto parsed = ParseErrorClass(cls);
  if (!parsed) return Bad("failure.class", "'" + cls + "' is not an error class");
  g.error_class = *parsed;
  JW_RETURN_IF_ERROR(r.Int("count", g.count));
  std::optional<Timestamp> first, last;
  JW_RETURN_IF_ERROR(r.Time("first_at", first));
  JW_RETURN_IF_ERROR(r.Time("last_at", last));
  if (!first || !last) return Bad("failure.first_at", "missing");
  g.first_at = *first;
  g.last_at = *last;
  if (const nlohmann::json* kinds = r.Find("kinds")) {
    if (!kinds->is_array()) return Bad("failure.kinds", "must be an array");
    for (const auto& k : *kinds) {
      if (!k.is_string()) return Bad("failure.kinds[]", "must be a string");
      g.kinds.push_back(k.get<std::string>());
    }
  }
  if (const nlohmann::json* ids = r.Find("sample_job_ids")) {
    if (!ids->is_array()) return Bad("failure.sample_job_ids", "must be an array");
    for (const auto& id : *ids) {
      if (!id.is_string()) return Bad("failure.sample_job_ids[]", "must be a string");
      auto parsed_id = ParseJobId(id.get<std::string>());
      if (!parsed_id.ok()) return Bad("failure.sample_job_ids[]", parsed_id.status().message());
      g.sample_job_ids.push_back(*parsed_id);
    }
  }
  return g;
}

}  // namespace jobwarden
