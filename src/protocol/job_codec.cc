#include "protocol/job_codec.h"

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>

#include "protocol/answer_reader.h"
#include "protocol/job_json.h"

namespace jobwarden {

namespace {

using answer_reader::Bad;

}  // namespace

nlohmann::json EnqueueRequestToJson(const EnqueueRequest& r) {
  nlohmann::json j = {{"kind", r.kind}};
  if (r.args) j["args"] = ParseStoredJson(*r.args);
  if (r.queue) j["queue"] = *r.queue;
  if (r.priority) j["priority"] = *r.priority;
  if (r.timeout) j["timeout_s"] = ToSeconds(*r.timeout);
  if (r.stall_timeout) j["stall_timeout_s"] = ToSeconds(*r.stall_timeout);
  if (r.deadline_in) j["deadline_s"] = ToSeconds(*r.deadline_in);
  if (r.deadline_at) j["deadline_at"] = FormatRfc3339(*r.deadline_at);
  if (r.delay) j["delay_s"] = ToSeconds(*r.delay);
  if (r.run_at) j["run_at"] = FormatRfc3339(*r.run_at);
  if (r.max_attempts) j["max_attempts"] = *r.max_attempts;
  if (r.unique_key) j["unique_key"] = *r.unique_key;
  if (r.resource_key) j["resource_key"] = *r.resource_key;
  if (r.batch_id) j["batch_id"] = *r.batch_id;
  if (!r.tags.empty()) j["tags"] = r.tags;
  if (r.cost) j["cost"] = *r.cost;
  return j;
}

// The one reader of the job JSON (simdjson On-Demand): the fetch answer, and
// every tree (JobFromJson) through its text.
namespace {

namespace od = simdjson::ondemand;

// Walks one object's fields in the text's order; strict about types, lenient
// about absence (null or absent leaves the target as it is).
class SjReader {
 public:
  explicit SjReader(std::string prefix) : prefix_(std::move(prefix)) {}

  Status Bad(std::string_view field, const std::string& what) const {
    return Status::Internal("server answer: " + prefix_ + std::string(field) + ": " + what);
  }
  static bool Null(od::value& v) {
    bool null = false;
    return !v.is_null().get(null) && null;
  }
  Status Str(std::string_view name, od::value& v, std::string& out) const {
    if (Null(v)) return Status::Ok();
    std::string_view s;
    if (v.get_string().get(s)) return Bad(name, "must be a string");
    out.assign(s);
    return Status::Ok();
  }
  Status OptStr(std::string_view name, od::value& v, std::optional<std::string>& out) const {
    if (Null(v)) return Status::Ok();
    std::string_view s;
    if (v.get_string().get(s)) return Bad(name, "must be a string");
    out.emplace(s);
    return Status::Ok();
  }
  template <typename I>
  Status Int(std::string_view name, od::value& v, I& out) const {
    if (Null(v)) return Status::Ok();
    std::int64_t i = 0;
    if (v.get_int64().get(i)) return Bad(name, "must be an integer");
    out = static_cast<I>(i);
    return Status::Ok();
  }
  Status Bool(std::string_view name, od::value& v, bool& out) const {
    if (Null(v)) return Status::Ok();
    bool b = false;
    if (v.get_bool().get(b)) return Bad(name, "must be true or false");
    out = b;
    return Status::Ok();
  }
  Status Secs(std::string_view name, od::value& v, std::optional<Duration>& out) const {
    if (Null(v)) return Status::Ok();
    double d = 0;
    if (v.get_double().get(d)) return Bad(name, "must be a number of seconds");
    auto s = FromSeconds(d);
    if (!s.ok()) return Bad(name, s.status().message());
    out = *s;
    return Status::Ok();
  }
  Status Time(std::string_view name, od::value& v, std::optional<Timestamp>& out) const {
    if (Null(v)) return Status::Ok();
    std::string_view s;
    if (v.get_string().get(s)) return Bad(name, "must be an RFC 3339 time");
    auto t = ParseRfc3339(s);
    if (!t.ok()) return Bad(name, t.status().message());
    out = *t;
    return Status::Ok();
  }
  // A JSON-valued field kept as compact text (args, checkpoint, result), in
  // the form nlohmann's dump writes (what the store and JobToJson hold).
  Status Text(std::string_view name, od::value& v, std::optional<std::string>& out) const {
    od::json_type type;
    if (v.type().get(type)) return Bad(name, "not JSON");
    std::string_view raw;
    if (type == od::json_type::object) {
      od::object o;
      if (v.get_object().get(o) || o.raw_json().get(raw)) return Bad(name, "not JSON");
    } else if (type == od::json_type::array) {
      od::array a;
      if (v.get_array().get(a) || a.raw_json().get(raw)) return Bad(name, "not JSON");
    } else if (type == od::json_type::null) {
      return Status::Ok();
    } else {
      raw = v.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t')) {
        raw.remove_suffix(1);
      }
    }
    if (raw == "{}" || raw == "[]" || raw == "true" || raw == "false") {
      out.emplace(raw);
      return Status::Ok();
    }
    nlohmann::json j = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Bad(name, "not JSON");
    out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return Status::Ok();
  }
  const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;
};

#define JW_SJ(expr) JW_RETURN_IF_ERROR(expr)

Status SjProgress(od::value& v, Progress& p) {
  const SjReader r("job.progress.");
  if (SjReader::Null(v)) return Status::Ok();
  od::object o;
  if (v.get_object().get(o)) return Status::Internal("server answer: job.progress: must be an object");
  Progress out;
  bool have_done = false;
  for (auto field : o) {
    std::string_view key;
    od::value fv;
    if (field.unescaped_key().get(key) || field.value().get(fv)) return r.Bad("", "not JSON");
    if (key == "done") {
      std::int64_t d = 0;
      if (fv.get_int64().get(d) || d < 0) return r.Bad(key, "must be a non-negative integer");
      out.done = d;
      have_done = true;
    } else if (key == "total") {
      if (SjReader::Null(fv)) continue;
      std::int64_t t = 0;
      if (fv.get_int64().get(t) || t < 0) return r.Bad(key, "must be a non-negative integer or null");
      out.total = t;
    } else if (key == "message") {
      JW_SJ(r.Str(key, fv, out.message));
    } else if (key == "updated_at") {
      JW_SJ(r.Time(key, fv, out.updated_at));
    }
  }
  if (!have_done) return r.Bad("done", "must be a non-negative integer");
  p = std::move(out);
  return Status::Ok();
}

Status SjErrorEntry(od::value& v, const std::string& prefix, ErrorEntry& e) {
  const SjReader r(prefix + ".");
  od::object o;
  if (v.get_object().get(o)) return Status::Internal("server answer: " + prefix + ": must be an object");
  std::string cls;
  std::optional<Timestamp> at;
  for (auto field : o) {
    std::string_view key;
    od::value fv;
    if (field.unescaped_key().get(key) || field.value().get(fv)) return r.Bad("", "not JSON");
    if (key == "attempt") {
      JW_SJ(r.Int(key, fv, e.attempt));
    } else if (key == "class") {
      JW_SJ(r.Str(key, fv, cls));
    } else if (key == "message") {
      JW_SJ(r.Str(key, fv, e.message));
    } else if (key == "at") {
      JW_SJ(r.Time(key, fv, at));
    } else if (key == "counted") {
      JW_SJ(r.Bool(key, fv, e.counted));
    } else if (key == "limit") {
      JW_SJ(r.OptStr(key, fv, e.limit));
    } else if (key == "output_tail") {
      JW_SJ(r.OptStr(key, fv, e.output_tail));
    }
  }
  auto parsed = ParseErrorClass(cls);
  if (!parsed) return r.Bad("class", "'" + cls + "' is not an error class");
  e.error_class = *parsed;
  if (at) e.at = *at;
  return Status::Ok();
}

Status SjLease(od::value& v, Job& job, std::optional<Timestamp>& expires) {
  const SjReader r("job.lease.");
  if (SjReader::Null(v)) return Status::Ok();
  od::object o;
  if (v.get_object().get(o)) return Status::Internal("server answer: job.lease: must be an object");
  std::optional<Duration> ttl, grace;
  for (auto field : o) {
    std::string_view key;
    od::value fv;
    if (field.unescaped_key().get(key) || field.value().get(fv)) return r.Bad("", "not JSON");
    if (key == "token") {
      JW_SJ(r.Int(key, fv, job.lease_token));
    } else if (key == "expires_at") {
      JW_SJ(r.Time(key, fv, expires));
    } else if (key == "ttl_s") {
      JW_SJ(r.Secs(key, fv, ttl));
    } else if (key == "grace_s") {
      JW_SJ(r.Secs(key, fv, grace));
    }
  }
  if (ttl) job.lease_ttl = *ttl;
  if (grace) job.grace = *grace;
  return Status::Ok();
}

Status SjJob(od::value& v, Job& job) {
  const SjReader r("job.");
  od::object o;
  if (v.get_object().get(o)) return Status::Internal("server answer: job: must be an object");
  std::string id, state;
  std::optional<Timestamp> lease_expires;
  for (auto field : o) {
    std::string_view key;
    od::value fv;
    if (field.unescaped_key().get(key) || field.value().get(fv)) return r.Bad("", "not JSON");
    if (key.empty()) continue;
    switch (key[0]) {
      case 'a':
        if (key == "args") {
          std::optional<std::string> args;
          JW_SJ(r.Text(key, fv, args));
          if (args) job.args = std::move(*args);
        } else if (key == "attempt") {
          JW_SJ(r.Int(key, fv, job.attempt));
        }
        break;
      case 'b':
        if (key == "batch_id") JW_SJ(r.OptStr(key, fv, job.batch_id));
        break;
      case 'c':
        if (key == "cancel_reason") {
          std::optional<std::string> reason;
          JW_SJ(r.OptStr(key, fv, reason));
          if (reason) {
            auto cr = ParseCancelReason(*reason);
            if (!cr) return r.Bad(key, "'" + *reason + "' is not a cancel reason");
            job.cancel_reason = *cr;
          }
        } else if (key == "cancel_requested") {
          JW_SJ(r.Bool(key, fv, job.cancel_requested));
        } else if (key == "checkpoint") {
          JW_SJ(r.Text(key, fv, job.checkpoint));
        } else if (key == "cost") {
          JW_SJ(r.Int(key, fv, job.cost));
        } else if (key == "created_at") {
          std::optional<Timestamp> t;
          JW_SJ(r.Time(key, fv, t));
          if (t) job.created_at = *t;
        }
        break;
      case 'd':
        if (key == "deadline_at") JW_SJ(r.Time(key, fv, job.deadline_at));
        break;
      case 'e':
        if (key == "errors" && !SjReader::Null(fv)) {
          od::array a;
          if (fv.get_array().get(a)) return r.Bad(key, "must be an array");
          std::size_t i = 0;
          for (auto element : a) {
            od::value ev;
            if (element.get(ev)) return r.Bad(key, "not JSON");
            ErrorEntry e;
            JW_SJ(SjErrorEntry(ev, "job.errors[" + std::to_string(i++) + "]", e));
            job.errors.push_back(std::move(e));
          }
        }
        break;
      case 'f':
        if (key == "finished_at") JW_SJ(r.Time(key, fv, job.finished_at));
        break;
      case 'h':
        if (key == "heartbeat_at") JW_SJ(r.Time(key, fv, job.heartbeat_at));
        break;
      case 'i':
        if (key == "id") JW_SJ(r.Str(key, fv, id));
        break;
      case 'k':
        if (key == "kind") JW_SJ(r.Str(key, fv, job.kind));
        break;
      case 'l':
        if (key == "lease") {
          JW_SJ(SjLease(fv, job, lease_expires));
        } else if (key == "lease_expires_at") {
          JW_SJ(r.Time(key, fv, job.lease_expires_at));
        } else if (key == "lease_token") {
          JW_SJ(r.Int(key, fv, job.lease_token));
        }
        break;
      case 'm':
        if (key == "max_attempts") JW_SJ(r.Int(key, fv, job.max_attempts));
        break;
      case 'p':
        if (key == "priority") {
          JW_SJ(r.Int(key, fv, job.priority));
        } else if (key == "progress") {
          JW_SJ(SjProgress(fv, job.progress));
        }
        break;
      case 'q':
        if (key == "queue") JW_SJ(r.Str(key, fv, job.queue));
        break;
      case 'r':
        if (key == "result") {
          JW_SJ(r.Text(key, fv, job.result));
        } else if (key == "resource_key") {
          JW_SJ(r.OptStr(key, fv, job.resource_key));
        } else if (key == "run_at") {
          std::optional<Timestamp> t;
          JW_SJ(r.Time(key, fv, t));
          if (t) job.run_at = *t;
        }
        break;
      case 's':
        if (key == "state") {
          JW_SJ(r.Str(key, fv, state));
        } else if (key == "stall_timeout_s") {
          JW_SJ(r.Secs(key, fv, job.stall_timeout));
        } else if (key == "started_at") {
          JW_SJ(r.Time(key, fv, job.started_at));
        }
        break;
      case 't':
        if (key == "timeout_s") {
          std::optional<Duration> t;
          JW_SJ(r.Secs(key, fv, t));
          if (t) job.timeout = *t;
        } else if (key == "tags" && !SjReader::Null(fv)) {
          od::array a;
          if (fv.get_array().get(a)) return r.Bad(key, "must be an array of strings");
          for (auto element : a) {
            std::string_view tag;
            if (element.get_string().get(tag)) return r.Bad(key, "must be an array of strings");
            job.tags.emplace_back(tag);
          }
        }
        break;
      case 'u':
        if (key == "unique_key") JW_SJ(r.OptStr(key, fv, job.unique_key));
        break;
      case 'w':
        if (key == "worker_id") JW_SJ(r.OptStr(key, fv, job.worker_id));
        break;
      default: break;  // other fields are ignored
    }
  }
  auto parsed_id = ParseJobId(id);
  if (!parsed_id.ok()) return r.Bad("id", "'" + id + "' is not a job id");
  job.id = *parsed_id;
  auto st = ParseJobState(state);
  if (!st) return r.Bad("state", "'" + state + "' is not a state");
  job.state = *st;
  // The lease's expiry wins over the field.
  if (lease_expires) job.lease_expires_at = lease_expires;
  return Status::Ok();
}

#undef JW_SJ

od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

}  // namespace

namespace {

// Iterates `text` (a JSON document) and hands its root value to `read`.
template <typename Read>
Status IterateText(std::string_view text, Read read) {
  const simdjson::padded_string padded(text);
  od::document doc;
  if (ThreadParser().iterate(padded).get(doc)) return Bad("answer", "not JSON");
  od::value root;
  if (doc.get_value().get(root)) return Bad("answer", "not JSON");
  JW_RETURN_IF_ERROR(read(root));
  // Nothing may follow the value.
  const char* rest = nullptr;
  if (!doc.current_location().get(rest)) return Bad("answer", "not JSON");
  return Status::Ok();
}

Status SjJobs(od::value& v, std::vector<Job>& jobs) {
  od::array a;
  if (v.get_array().get(a)) return Bad("jobs", "must be an array");
  for (auto element : a) {
    od::value jv;
    if (element.get(jv)) return Bad("jobs", "not JSON");
    Job job;
    JW_RETURN_IF_ERROR(SjJob(jv, job));
    jobs.push_back(std::move(job));
  }
  return Status::Ok();
}

std::string Dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

Result<std::vector<Job>> JobsFromFetchAnswer(std::string_view text) {
  std::vector<Job> jobs;
  bool have_jobs = false;
  const Status read = IterateText(text, [&](od::value& root) -> Status {
    od::object top;
    if (root.get_object().get(top)) return Bad("answer", "must be an object");
    for (auto field : top) {
      std::string_view key;
      od::value v;
      if (field.unescaped_key().get(key) || field.value().get(v)) return Bad("answer", "not JSON");
      if (key != "jobs") continue;
      have_jobs = true;
      jobs.clear();
      JW_RETURN_IF_ERROR(SjJobs(v, jobs));
    }
    return Status::Ok();
  });
  JW_RETURN_IF_ERROR(read);
  if (!have_jobs) return Bad("jobs", "required");
  return jobs;
}

Result<Job> JobFromJsonText(std::string_view text) {
  Job job;
  JW_RETURN_IF_ERROR(IterateText(text, [&](od::value& root) { return SjJob(root, job); }));
  return job;
}

Result<Job> JobFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("job", "must be an object");
  return JobFromJsonText(Dump(j));
}

Result<std::vector<Job>> JobsFromJson(const nlohmann::json& array) {
  if (!array.is_array()) return Bad("jobs", "must be an array");
  std::vector<Job> jobs;
  jobs.reserve(array.size());
  JW_RETURN_IF_ERROR(IterateText(Dump(array), [&](od::value& root) { return SjJobs(root, jobs); }));
  return jobs;
}

}  // namespace jobwarden
