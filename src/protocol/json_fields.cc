#include "protocol/json_fields.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "protocol/job_json.h"

namespace jobwarden {

namespace {

std::string TypeName(const nlohmann::json& j) { return j.type_name(); }

}  // namespace

JsonFields::JsonFields(const nlohmann::json& object, std::string prefix)
    : object_(object), prefix_(std::move(prefix)) {}

Status JsonFields::OnlyKnown(std::initializer_list<std::string_view> known) const {
  return OnlyKnown(std::vector<std::string_view>(known));
}

Status JsonFields::OnlyKnown(const std::vector<std::string_view>& known) const {
  for (const auto& [key, value] : object_.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return Status::InvalidArgument(Name(key) + ": unknown field (known: " + list + ")");
    }
  }
  return Status::Ok();
}

const nlohmann::json* JsonFields::Find(std::string_view name) const {
  auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> JsonFields::RequiredString(std::string_view name) const {
  JW_ASSIGN_OR_RETURN(std::optional<std::string> s, String(name));
  if (!s) return Status::InvalidArgument(Name(name) + ": required");
  if (s->empty()) return Status::InvalidArgument(Name(name) + ": must not be empty");
  return *s;
}

Result<std::optional<std::string>> JsonFields::String(std::string_view name) const {
  const nlohmann::json* j = Find(name);
  if (j == nullptr) return std::optional<std::string>();
  if (!j->is_string()) return Status::InvalidArgument(Name(name) + ": must be a string, not " + TypeName(*j));
  return std::optional<std::string>(j->get<std::string>());
}

Result<std::optional<std::int64_t>> JsonFields::Int(std::string_view name, std::int64_t min, std::int64_t max) const {
  const nlohmann::json* j = Find(name);
  if (j == nullptr) return std::optional<std::int64_t>();
  std::int64_t v = 0;
  if (j->is_number_integer()) {
    if (j->is_number_unsigned() && j->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
      return Status::InvalidArgument(Name(name) + ": must be " + std::to_string(min) + "-" + std::to_string(max));
    }
    v = j->get<std::int64_t>();
  } else if (j->is_number_float() && std::trunc(j->get<double>()) == j->get<double>() &&
             std::abs(j->get<double>()) < 9e15) {
    v = static_cast<std::int64_t>(j->get<double>());
  } else {
    return Status::InvalidArgument(Name(name) + ": must be an integer, not " + TypeName(*j));
  }
  if (v < min || v > max) {
    return Status::InvalidArgument(Name(name) + ": must be " + std::to_string(min) + "-" + std::to_string(max));
  }
  return std::optional<std::int64_t>(v);
}

Result<std::optional<bool>> JsonFields::Bool(std::string_view name) const {
  const nlohmann::json* j = Find(name);
  if (j == nullptr) return std::optional<bool>();
  if (!j->is_boolean()) return Status::InvalidArgument(Name(name) + ": must be true or false, not " + TypeName(*j));
  return std::optional<bool>(j->get<bool>());
}

Result<std::optional<double>> JsonFields::Number(std::string_view name) const {
  const nlohmann::json* j = Find(name);
  if (j == nullptr) return std::optional<double>();
  if (!j->is_number()) return Status::InvalidArgument(Name(name) + ": must be a number, not " + TypeName(*j));
  return std::optional<double>(j->get<double>());
}

Result<std::optional<Duration>> JsonFields::Seconds(std::string_view name) const {
  const nlohmann::json* j = Find(name);
  if (j == nullptr) return std::optional<Duration>();
  if (!j->is_number())
    return Status::InvalidArgument(Name(name) + ": must be a number of seconds, not " + TypeName(*j));
  auto d = FromSeconds(j->get<double>());
  if (!d.ok()) return Status::InvalidArgument(Name(name) + ": " + d.status().message());
  return std::optional<Duration>(*d);
}

Result<std::optional<Timestamp>> JsonFields::Time(std::string_view name) const {
  const nlohmann::json* j = Find(name);
  if (j == nullptr) return std::optional<Timestamp>();
  if (!j->is_string()) {
    return Status::InvalidArgument(Name(name) + ": must be an RFC 3339 time string, not " + TypeName(*j));
  }
  auto t = ParseRfc3339(j->get<std::string>());
  if (!t.ok()) return Status::InvalidArgument(Name(name) + ": " + t.status().message());
  return std::optional<Timestamp>(*t);
}

Result<std::optional<std::vector<std::string>>> JsonFields::Strings(std::string_view name) const {
  const nlohmann::json* j = Find(name);
  if (j == nullptr) return std::optional<std::vector<std::string>>();
  if (!j->is_array()) return Status::InvalidArgument(Name(name) + ": must be an array of strings, not " + TypeName(*j));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < j->size(); ++i) {
    const auto& el = (*j)[i];
    if (!el.is_string()) {
      return Status::InvalidArgument(Name(name) + "[" + std::to_string(i) + "]: must be a string, not " + TypeName(el));
    }
    out.push_back(el.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Result<std::optional<std::string>> JsonFields::JsonText(std::string_view name) const {
  const nlohmann::json* j = Find(name);
  if (j == nullptr) return std::optional<std::string>();
  return std::optional<std::string>(j->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Result<JobId> JsonFields::RequiredJobId(std::string_view name) const {
  const nlohmann::json* j = Find(name);
  if (j == nullptr) return Status::InvalidArgument(Name(name) + ": required");
  if (j->is_number_integer() && j->get<std::int64_t>() > 0) return j->get<std::int64_t>();
  if (j->is_string()) {
    auto id = ParseJobId(j->get<std::string>());
    if (id.ok()) return *id;
  }
  return Status::InvalidArgument(Name(name) + ": must be a job id (a string such as \"42\")");
}

Result<std::optional<Progress>> JsonFields::ProgressField(std::string_view name) const {
  const nlohmann::json* j = Find(name);
  if (j == nullptr) return std::optional<Progress>();
  if (j->is_object()) {
    for (const auto& [key, value] : j->items()) {
      if (key != "done" && key != "total" && key != "message") {
        return Status::InvalidArgument(Name(name) + "." + key + ": unknown field (known: done, total, message)");
      }
    }
  }
  auto p = ProgressFromJson(*j);
  if (!p.ok()) return Status::InvalidArgument(prefix_ + p.status().message());
  return std::optional<Progress>(std::move(p).value());
}

Result<EnqueueRequest> ParseEnqueueRequest(const nlohmann::json& body, const std::string& prefix) {
  if (!body.is_object()) {
    return Status::InvalidArgument((prefix.empty() ? std::string("body") : prefix.substr(0, prefix.size() - 1)) +
                                   ": must be a JSON object");
  }
  JsonFields f(body, prefix);
  JW_RETURN_IF_ERROR(
      f.OnlyKnown({"kind", "args", "queue", "priority", "timeout_s", "deadline_s", "deadline_at", "stall_timeout_s",
                   "max_attempts", "delay_s", "run_at", "unique_key", "resource_key", "batch_id", "tags", "cost"}));
  // Types only: the values (ranges, one of two fields) are the engine's to
  // check, once, in Engine::Prepare, whose messages name these same fields.
  EnqueueRequest r;
  JW_ASSIGN_OR_RETURN(r.kind, f.RequiredString("kind"));
  JW_ASSIGN_OR_RETURN(r.args, f.JsonText("args"));
  JW_ASSIGN_OR_RETURN(r.queue, f.String("queue"));
  JW_ASSIGN_OR_RETURN(auto priority, f.Int("priority", -1'000'000, 1'000'000));
  if (priority) r.priority = static_cast<int>(*priority);
  JW_ASSIGN_OR_RETURN(r.timeout, f.Seconds("timeout_s"));
  JW_ASSIGN_OR_RETURN(r.stall_timeout, f.Seconds("stall_timeout_s"));
  JW_ASSIGN_OR_RETURN(r.deadline_in, f.Seconds("deadline_s"));
  JW_ASSIGN_OR_RETURN(r.deadline_at, f.Time("deadline_at"));
  JW_ASSIGN_OR_RETURN(auto max_attempts,
                      f.Int("max_attempts", std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
  if (max_attempts) r.max_attempts = static_cast<int>(*max_attempts);
  JW_ASSIGN_OR_RETURN(r.delay, f.Seconds("delay_s"));
  JW_ASSIGN_OR_RETURN(r.run_at, f.Time("run_at"));
  JW_ASSIGN_OR_RETURN(r.unique_key, f.String("unique_key"));
  JW_ASSIGN_OR_RETURN(r.resource_key, f.String("resource_key"));
  JW_ASSIGN_OR_RETURN(r.batch_id, f.String("batch_id"));
  JW_ASSIGN_OR_RETURN(auto tags, f.Strings("tags"));
  if (tags) r.tags = std::move(*tags);
  JW_ASSIGN_OR_RETURN(auto cost, f.Int("cost", std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
  if (cost) r.cost = static_cast<int>(*cost);
  return r;
}

Status OnlyKnownParams(const std::multimap<std::string, std::string>& query,
                       std::initializer_list<std::string_view> known) {
  for (auto it = query.begin(); it != query.end(); it = query.upper_bound(it->first)) {
    if (std::find(known.begin(), known.end(), it->first) == known.end()) {
      return Status::InvalidArgument(it->first + ": unknown query parameter");
    }
    if (query.count(it->first) > 1) return Status::InvalidArgument(it->first + ": given more than once");
  }
  return Status::Ok();
}

std::optional<std::string> Param(const std::multimap<std::string, std::string>& query, const std::string& name) {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

Result<int> LimitParam(const std::multimap<std::string, std::string>& query, int fallback, int max) {
  const std::optional<std::string> v = Param(query, "limit");
  if (!v) return fallback;
  int n = 0;
  const auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || ptr != v->data() + v->size() || n < 1 || n > max) {
    return Status::InvalidArgument("limit: must be an integer from 1 to " + std::to_string(max)).WithField("limit");
  }
  return n;
}

Result<std::optional<Duration>> SecondsParam(const std::multimap<std::string, std::string>& query,
                                             const std::string& name, double max_s) {
  const std::optional<std::string> v = Param(query, name);
  if (!v) return std::optional<Duration>();
  double secs = 0;
  const auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), secs);
  if (ec != std::errc() || ptr != v->data() + v->size() || !(secs >= 0 && secs <= max_s)) {
    char range[64];
    std::snprintf(range, sizeof range, "from 0 to %g", max_s);
    return Status::InvalidArgument(name + ": '" + *v + "' is not a number of seconds " + range).WithField(name);
  }
  return std::optional<Duration>(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(secs)));
}

Result<std::string> ArgsFilterJson(const std::string& field, const std::string& path, const nlohmann::json& value) {
  bool ok = !path.empty() && path.front() != '.' && path.back() != '.' && path.find("..") == std::string::npos;
  for (char c : path) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  if (!ok) {
    return Status::InvalidArgument(field + ": '" + path +
                                   "' is not a field of args (dotted names of letters, digits, '_' and '-')")
        .WithField(field);
  }
  if (!value.is_primitive() || value.is_null()) {
    return Status::InvalidArgument(field + ": must be a number, true, false or a string, not " +
                                   std::string(value.type_name()))
        .WithField(field);
  }
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json ArgsFilterValue(const std::string& text) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || value.is_structured() || value.is_null()) return text;
  return value;
}

}  // namespace jobwarden
