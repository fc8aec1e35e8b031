#include "protocol/flow_json.h"

#include <algorithm>
#include <limits>

#include "protocol/answer_reader.h"
#include "protocol/json_fields.h"

namespace jobwarden {

namespace {

using answer_reader::Bad;
using answer_reader::Reader;
using answer_reader::TimeOrNull;

nlohmann::json SecondsOrNull(const std::optional<Duration>& d) {
  return d ? nlohmann::json(ToSeconds(*d)) : nlohmann::json(nullptr);
}

template <typename T>
nlohmann::json ValueOrNull(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// A merge-patch field: absent keeps (nullopt), null clears (an empty
// optional inside), a value sets; `read` reads the value with JsonFields.
template <typename T, typename Read>
Result<FieldChange<T>> Change(const nlohmann::json& body, const char* name, Read read) {
  auto it = body.find(name);
  if (it == body.end()) return FieldChange<T>();
  if (it->is_null()) return FieldChange<T>(std::optional<T>());
  JW_ASSIGN_OR_RETURN(std::optional<T> v, read());
  return FieldChange<T>(std::move(v));
}

Result<FieldChange<int>> IntChange(const nlohmann::json& body, const JsonFields& f, const char* name) {
  return Change<int>(body, name, [&]() -> Result<std::optional<int>> {
    Result<std::optional<std::int64_t>> v =
        f.Int(name, std::numeric_limits<int>::min(), std::numeric_limits<int>::max());
    if (!v.ok()) return v.status();
    if (!*v) return std::optional<int>();
    return std::optional<int>(static_cast<int>(**v));
  });
}

// `rate`: "N/s", "N/min" or "N/h"; ParseRate's message, naming the field.
Result<std::optional<Rate>> ReadRate(const JsonFields& f) {
  Result<std::optional<std::string>> text = f.String("rate");
  if (!text.ok()) return text.status();
  Result<Rate> rate = ParseRate(text->value_or(""));
  if (!rate.ok()) {
    const std::string& m = rate.status().message();
    return Status::InvalidArgument(m.rfind("rate", 0) == 0 ? m : "rate: " + m);
  }
  return std::optional<Rate>(*rate);
}

Status NotAnObject(const nlohmann::json& body) {
  return Status::InvalidArgument(std::string("body: must be a JSON object, not ") + body.type_name());
}

// The patch's field as JSON: a value, or null to clear it.
template <typename T, typename ToJson>
void PutChange(nlohmann::json& j, const char* name, const FieldChange<T>& c, ToJson to_json) {
  if (!c) return;
  j[name] = *c ? to_json(**c) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json QueueInfoToJson(const QueueInfo& q, Timestamp now) {
  nlohmann::json counts = nlohmann::json::object();
  for (JobState s : kAllJobStates) counts[std::string(ToString(s))] = q.counts[static_cast<std::size_t>(s)];
  nlohmann::json age = nullptr;
  if (q.oldest_available_run_at) age = std::max(0.0, ToSeconds(now - *q.oldest_available_run_at));
  return {{"name", q.name},
          {"paused", q.paused},
          {"counts", std::move(counts)},
          {"counts_at", FormatRfc3339(now - q.counts_age)},
          {"oldest_available_age_s", std::move(age)},
          {"oldest_available_run_at", TimeOrNull(q.oldest_available_run_at)},
          {"concurrency", ValueOrNull(q.limits.concurrency)},
          {"running", q.counts[static_cast<std::size_t>(JobState::kRunning)]},
          {"warn_depth", ValueOrNull(q.limits.warn_depth)},
          {"warn_age_s", SecondsOrNull(q.limits.warn_age)},
          {"warnings", q.warnings}};
}

Result<QueueInfo> QueueInfoFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("queues[]", "must be an object");
  Reader r(j, "queue.");
  QueueInfo q;
  JW_RETURN_IF_ERROR(r.Str("name", q.name));
  JW_RETURN_IF_ERROR(r.Bool("paused", q.paused));
  JW_RETURN_IF_ERROR(r.Time("oldest_available_run_at", q.oldest_available_run_at));
  JW_ASSIGN_OR_RETURN(const nlohmann::json* counts, r.Object("counts"));
  if (counts != nullptr) {
    Reader c(*counts, "queue.counts.");
    for (JobState s : kAllJobStates) {
      const std::string name(ToString(s));
      JW_RETURN_IF_ERROR(c.Int(name.c_str(), q.counts[static_cast<std::size_t>(s)]));
    }
  }
  JW_RETURN_IF_ERROR(r.OptInt("concurrency", q.limits.concurrency));
  JW_RETURN_IF_ERROR(r.OptInt("warn_depth", q.limits.warn_depth));
  JW_RETURN_IF_ERROR(r.Secs("warn_age_s", q.limits.warn_age));
  if (const nlohmann::json* w = r.Find("warnings")) {
    if (!w->is_array()) return Bad("queue.warnings", "must be an array of strings");
    for (const nlohmann::json& one : *w) {
      if (!one.is_string()) return Bad("queue.warnings", "must be an array of strings");
      q.warnings.push_back(one.get<std::string>());
    }
  }
  return q;
}

nlohmann::json ResourceInfoToJson(const ResourceInfo& r) {
  const ResourceLimits& l = r.limits;
  const std::int64_t runs = r.stats.succeeded + r.stats.failed;
  nlohmann::json success_rate = nullptr;
  if (runs > 0) success_rate = static_cast<double>(r.stats.succeeded) / static_cast<double>(runs);
  return {{"key", r.key},
          {"concurrency", ValueOrNull(l.concurrency)},
          {"rate", l.rate ? nlohmann::json(l.rate->text) : nlohmann::json(nullptr)},
          {"burst", ValueOrNull(l.burst)},
          {"breaker_failures", l.breaker.failures > 0 ? nlohmann::json(l.breaker.failures) : nlohmann::json(nullptr)},
          {"breaker_cooldown_s", ToSeconds(l.breaker.cooldown)},
          {"running", r.running},
          {"available", r.available},
          {"breaker",
           {{"state", std::string(ToString(r.breaker.state))},
            {"failures", r.breaker.failures},
            {"open_until", TimeOrNull(r.breaker.open_until)}}},
          {"held_until", TimeOrNull(r.held_until)},
          {"stats",
           {{"succeeded", r.stats.succeeded},
            {"failed", r.stats.failed},
            {"success_rate", std::move(success_rate)},
            {"p50_s", SecondsOrNull(r.stats.p50)},
            {"p95_s", SecondsOrNull(r.stats.p95)}}}};
}

Result<ResourceInfo> ResourceInfoFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("resources[]", "must be an object");
  Reader r(j, "resource.");
  ResourceInfo out;
  ResourceLimits& l = out.limits;
  JW_RETURN_IF_ERROR(r.Str("key", out.key));
  JW_RETURN_IF_ERROR(r.OptInt("concurrency", l.concurrency));
  std::optional<std::string> rate;
  JW_RETURN_IF_ERROR(r.OptStr("rate", rate));
  if (rate) {
    Result<Rate> parsed = ParseRate(*rate);
    if (!parsed.ok()) return Bad("resource.rate", parsed.status().message());
    l.rate = *parsed;
  }
  JW_RETURN_IF_ERROR(r.OptDouble("burst", l.burst));
  JW_RETURN_IF_ERROR(r.Int("breaker_failures", l.breaker.failures));
  std::optional<Duration> cooldown;
  JW_RETURN_IF_ERROR(r.Secs("breaker_cooldown_s", cooldown));
  if (cooldown) l.breaker.cooldown = *cooldown;
  JW_RETURN_IF_ERROR(r.Int("running", out.running));
  JW_RETURN_IF_ERROR(r.Int("available", out.available));
  JW_ASSIGN_OR_RETURN(const nlohmann::json* breaker, r.Object("breaker"));
  if (breaker != nullptr) {
    Reader b(*breaker, "resource.breaker.");
    std::string state = "closed";
    JW_RETURN_IF_ERROR(b.Str("state", state));
    std::optional<BreakerState> parsed = ParseBreakerState(state);
    if (!parsed) return Bad("resource.breaker.state", "'" + state + "' is not a breaker state");
    out.breaker.state = *parsed;
    JW_RETURN_IF_ERROR(b.Int("failures", out.breaker.failures));
    JW_RETURN_IF_ERROR(b.Time("open_until", out.breaker.open_until));
  }
  JW_RETURN_IF_ERROR(r.Time("held_until", out.held_until));
  JW_ASSIGN_OR_RETURN(const nlohmann::json* stats, r.Object("stats"));
  if (stats != nullptr) {
    Reader s(*stats, "resource.stats.");
    JW_RETURN_IF_ERROR(s.Int("succeeded", out.stats.succeeded));
    JW_RETURN_IF_ERROR(s.Int("failed", out.stats.failed));
    JW_RETURN_IF_ERROR(s.Secs("p50_s", out.stats.p50));
    JW_RETURN_IF_ERROR(s.Secs("p95_s", out.stats.p95));
  }
  return out;
}

Result<QueueLimitsPatch> ParseQueueLimitsPatch(const nlohmann::json& body) {
  if (!body.is_object()) return NotAnObject(body);
  JsonFields f(body);
  JW_RETURN_IF_ERROR(f.OnlyKnown({"concurrency", "warn_depth", "warn_age_s"}));
  QueueLimitsPatch p;
  JW_ASSIGN_OR_RETURN(p.concurrency, IntChange(body, f, "concurrency"));
  JW_ASSIGN_OR_RETURN(p.warn_depth, Change<std::int64_t>(body, "warn_depth", [&f] {
                        return f.Int("warn_depth", std::numeric_limits<std::int64_t>::min(),
                                     std::numeric_limits<std::int64_t>::max());
                      }));
  JW_ASSIGN_OR_RETURN(p.warn_age, Change<Duration>(body, "warn_age_s", [&f] { return f.Seconds("warn_age_s"); }));
  return p;
}

Result<ResourceLimitsPatch> ParseResourceLimitsPatch(const nlohmann::json& body) {
  if (!body.is_object()) return NotAnObject(body);
  JsonFields f(body);
  JW_RETURN_IF_ERROR(f.OnlyKnown({"concurrency", "rate", "burst", "breaker_failures", "breaker_cooldown_s"}));
  ResourceLimitsPatch p;
  JW_ASSIGN_OR_RETURN(p.concurrency, IntChange(body, f, "concurrency"));
  JW_ASSIGN_OR_RETURN(p.rate, Change<Rate>(body, "rate", [&f] { return ReadRate(f); }));
  JW_ASSIGN_OR_RETURN(p.burst, Change<double>(body, "burst", [&f] { return f.Number("burst"); }));
  JW_ASSIGN_OR_RETURN(p.breaker_failures, IntChange(body, f, "breaker_failures"));
  JW_ASSIGN_OR_RETURN(p.breaker_cooldown,
                      Change<Duration>(body, "breaker_cooldown_s", [&f] { return f.Seconds("breaker_cooldown_s"); }));
  return p;
}

nlohmann::json QueueLimitsPatchToJson(const QueueLimitsPatch& p) {
  nlohmann::json j = nlohmann::json::object();
  if (p.clear) {
    for (const char* name : {"concurrency", "warn_depth", "warn_age_s"}) j[name] = nullptr;
  }
  PutChange(j, "concurrency", p.concurrency, [](int v) { return nlohmann::json(v); });
  PutChange(j, "warn_depth", p.warn_depth, [](std::int64_t v) { return nlohmann::json(v); });
  PutChange(j, "warn_age_s", p.warn_age, [](Duration d) { return nlohmann::json(ToSeconds(d)); });
  return j;
}

nlohmann::json ResourceLimitsPatchToJson(const ResourceLimitsPatch& p) {
  nlohmann::json j = nlohmann::json::object();
  if (p.clear) {
    for (const char* name : {"concurrency", "rate", "burst", "breaker_failures", "breaker_cooldown_s"}) {
      j[name] = nullptr;
    }
  }
  PutChange(j, "concurrency", p.concurrency, [](int v) { return nlohmann::json(v); });
  PutChange(j, "rate", p.rate, [](const Rate& r) { return nlohmann::json(r.text); });
  PutChange(j, "burst", p.burst, [](double v) { return nlohmann::json(v); });
  PutChange(j, "breaker_failures", p.breaker_failures, [](int v) { return nlohmann::json(v); });
  PutChange(j, "breaker_cooldown_s", p.breaker_cooldown, [](Duration d) { return nlohmann::json(ToSeconds(d)); });
  return j;
}

}  // namespace jobwarden
