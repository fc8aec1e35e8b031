#include "config/flow_limits.h"

#include <limits>

#include "config/toml_fields.h"
#include "core/job.h"

namespace jobwarden {

namespace {

using toml_fields::Bad;
using toml_fields::ReadDuration;
using toml_fields::ReadInt;
using toml_fields::ReadInteger;
using toml_fields::ReadString;

constexpr int kMaxConcurrency = 1'000'000;
constexpr std::size_t kMaxResourceKeyLength = 255;  // as the engine's resource_key rule

// A key as TOML would have it written: bare when it can be, else quoted
// (`resources."host:imx.to"`), so the message points at the line to fix.
std::string TomlKey(std::string_view key) {
  bool bare = !key.empty();
  for (const char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      bare = false;
    }
  }
  if (bare) return std::string(key);
  std::string out = "\"";
  for (const char c : key) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A limit the engine refuses (ValidateQueueLimits: "concurrency: must be ..."),
// as the file's key: "<file>: queues.uploads.concurrency: must be ...".
Status InTable(const Status& s, const std::string& file, const std::string& table) {
  if (s.ok()) return s;
  return Status::InvalidArgument(file + ": " + table + "." + s.message());
}

Result<QueueLimits> ReadQueue(const toml::table& t, const std::string& file, const std::string& table) {
  QueueLimits l;
  for (const auto& [k, node] : t) {
    const std::string key = table + "." + TomlKey(k.str());
    if (k == "concurrency") {
      JW_ASSIGN_OR_RETURN(l.concurrency, ReadInt(node, file, key, 1, kMaxConcurrency));
    } else if (k == "warn_depth") {
      JW_ASSIGN_OR_RETURN(l.warn_depth, ReadInteger(node, file, key, 1, std::numeric_limits<std::int64_t>::max()));
    } else if (k == "warn_age") {
      JW_ASSIGN_OR_RETURN(l.warn_age, ReadDuration(node, file, key));
      if (*l.warn_age <= Duration(0)) return Bad(file, key, "must be greater than 0");
    } else {
      return Bad(file, key, "unknown key (expected concurrency, warn_depth or warn_age)");
    }
  }
  JW_RETURN_IF_ERROR(InTable(ValidateQueueLimits(l), file, table));
  return l;
}

Result<ResourceLimits> ReadResource(const toml::table& t, const std::string& file, const std::string& table) {
  ResourceLimits l;
  for (const auto& [k, node] : t) {
    const std::string key = table + "." + TomlKey(k.str());
    if (k == "concurrency") {
      JW_ASSIGN_OR_RETURN(l.concurrency, ReadInt(node, file, key, 1, kMaxConcurrency));
    } else if (k == "rate") {
      JW_ASSIGN_OR_RETURN(const std::string text, ReadString(node, file, key));
      Result<Rate> rate = ParseRate(text);
      if (!rate.ok()) return Bad(file, key, rate.status().message());
      l.rate = *rate;
    } else if (k == "burst") {
      const std::optional<double> burst = node.value<double>();
      if (!burst || !(*burst >= 1)) return Bad(file, key, "expected a number of tokens, at least 1");
      l.burst = *burst;
    } else if (k == "breaker_failures") {
      JW_ASSIGN_OR_RETURN(l.breaker.failures, ReadInt(node, file, key, 1, kMaxConcurrency));
    } else if (k == "breaker_cooldown") {
      JW_ASSIGN_OR_RETURN(l.breaker.cooldown, ReadDuration(node, file, key));
      if (l.breaker.cooldown < std::chrono::seconds(1)) {
        return Bad(file, key, FormatDurationShort(l.breaker.cooldown) + " is under the minimum of 1s");
      }
    } else {
      return Bad(file, key, "unknown key (expected concurrency, rate, burst, breaker_failures or breaker_cooldown)");
    }
  }
  if (l.burst && !l.rate) {
    return Bad(file, table + ".burst", "needs a rate: burst is the size of the rate's token bucket");
  }
  JW_RETURN_IF_ERROR(InTable(ValidateResourceLimits(l), file, table));
  return l;
}

// Each entry of root[section] must be a table; `read` reads it.
template <typename Limits, typename Read>
Status ReadSection(const toml::table& root, const std::string& file, const char* section, std::size_t max_name,
                   std::map<std::string, Limits>& out, Read read) {
  const toml::node* node = root.get(section);
  if (node == nullptr) return Status::Ok();
  const toml::table* tables = node->as_table();
  if (tables == nullptr) return Bad(file, section, "expected tables such as [" + std::string(section) + ".NAME]");
  for (const auto& [name, entry] : *tables) {
    const std::string table = std::string(section) + "." + TomlKey(name.str());
    if (!IsValidName(name.str(), max_name)) {
      return Bad(file, table,
                 "not a valid name (1-" + std::to_string(max_name) + " characters of letters, digits and _ - . : /)");
    }
    const toml::table* t = entry.as_table();
    if (t == nullptr) return Bad(file, table, "expected a table");
    JW_ASSIGN_OR_RETURN(Limits limits, read(*t, file, table));
    out.emplace(std::string(name.str()), std::move(limits));
  }
  return Status::Ok();
}

}  // namespace

Result<FlowLimits> ReadFlowLimits(const toml::table& root, const std::string& file) {
  FlowLimits limits;
  JW_RETURN_IF_ERROR(ReadSection(root, file, "queues", kMaxQueueNameLength, limits.queues, ReadQueue));
  JW_RETURN_IF_ERROR(ReadSection(root, file, "resources", kMaxResourceKeyLength, limits.resources, ReadResource));
  return limits;
}

Result<FlowLimits> LoadFlowLimits(const std::string& path) {
  if (path.empty()) return FlowLimits{};
  JW_ASSIGN_OR_RETURN(const toml::table root, toml_fields::ParseFile(path));
  JW_RETURN_IF_ERROR(toml_fields::OnlyKnownSections(root, path));
  return ReadFlowLimits(root, path);
}

}  // namespace jobwarden
