#include "config/schedules.h"

#include <nlohmann/json.hpp>

#include <sstream>

#include "config/toml_fields.h"

namespace jobwarden {

namespace {

using toml_fields::Bad;
using toml_fields::ReadString;

Result<ScheduleSpec> ReadSchedule(const std::string& name, const toml::table& t, const std::string& file) {
  const std::string table = "schedules." + name;
  ScheduleSpec spec;
  spec.name = name;
  bool has_cron = false;
  for (const auto& [k, node] : t) {
    const std::string key = table + "." + std::string(k.str());
    if (k == "cron") {
      JW_ASSIGN_OR_RETURN(spec.cron, ReadString(node, file, key));
      has_cron = true;
    } else if (k == "kind") {
      JW_ASSIGN_OR_RETURN(spec.kind, ReadString(node, file, key));
    } else if (k == "queue") {
      JW_ASSIGN_OR_RETURN(spec.queue, ReadString(node, file, key));
    } else if (k == "timezone") {
      JW_ASSIGN_OR_RETURN(spec.timezone, ReadString(node, file, key));
    } else if (k == "catch_up") {
      JW_ASSIGN_OR_RETURN(const std::string text, ReadString(node, file, key));
      const auto c = ParseCatchUp(text);
      if (!c) return Bad(file, key, "'" + text + "': expected \"one\" or \"none\"");
      spec.catch_up = *c;
    } else if (k == "args") {
      const toml::table* args = node.as_table();
      if (args == nullptr) return Bad(file, key, "expected a table (the job's args), e.g. args = { n = 1 }");
      std::ostringstream json;
      json << toml::json_formatter{*args, toml::format_flags::none};
      // Stored compact, as the API writes args.
      const nlohmann::json parsed = nlohmann::json::parse(json.str(), nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) return Bad(file, key, "cannot be written as JSON");
      spec.args = parsed.dump();
    } else {
      return Bad(file, key, "unknown key (expected cron, kind, args, queue, timezone or catch_up)");
    }
  }
  if (!has_cron) return Bad(file, table + ".cron", "required");
  if (spec.kind.empty()) return Bad(file, table + ".kind", "required");
  // ValidateSchedule names the field as "schedules.NAME.FIELD: ..."; the file goes in front.
  if (Status s = ValidateSchedule(spec); !s.ok()) return Status::InvalidArgument(file + ": " + s.message());
  return spec;
}

}  // namespace

Result<std::vector<ScheduleSpec>> ReadSchedules(const toml::table& root, const std::string& file) {
  std::vector<ScheduleSpec> out;
  const toml::node* node = root.get("schedules");
  if (node == nullptr) return out;
  const toml::table* tables = node->as_table();
  if (tables == nullptr) return Bad(file, "schedules", "expected tables such as [schedules.NAME]");
  for (const auto& [name, entry] : *tables) {
    const toml::table* t = entry.as_table();
    if (t == nullptr) return Bad(file, "schedules." + std::string(name.str()), "expected a table");
    JW_ASSIGN_OR_RETURN(ScheduleSpec spec, ReadSchedule(std::string(name.str()), *t, file));
    out.push_back(std::move(spec));
  }
  return out;
}

Result<std::vector<ScheduleSpec>> LoadSchedules(const std::string& path) {
  if (path.empty()) return std::vector<ScheduleSpec>{};
  JW_ASSIGN_OR_RETURN(const toml::table root, toml_fields::ParseFile(path));
  JW_RETURN_IF_ERROR(toml_fields::OnlyKnownSections(root, path));
  return ReadSchedules(root, path);
}

}  // namespace jobwarden
