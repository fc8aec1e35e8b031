#include "client/job_codec.h"

#include <nlohmann/json.hpp>

#include "engine/job_json.h"

namespace jobwarden::client {

namespace {

Status Bad(const std::string& field, const std::string& what) {
  return Status::Internal("server answer: " + field + ": " + what);
}

// A reader over one object: absent or null leaves the target unchanged.
class Reader {
 public:
  Reader(const nlohmann::json& j, std::string prefix) : j_(j), prefix_(std::move(prefix)) {}

  const nlohmann::json* Find(const char* name) const {
    auto it = j_.find(name);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  Status Str(const char* name, std::string& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return Bad(prefix_ + name, "must be a string");
    out = v->get<std::string>();
    return Status::Ok();
  }
  Status OptStr(const char* name, std::optional<std::string>& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return Bad(prefix_ + name, "must be a string");
    out = v->get<std::string>();
    return Status::Ok();
  }
  template <typename I>
  Status Int(const char* name, I& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_number_integer()) return Bad(prefix_ + name, "must be an integer");
    out = static_cast<I>(v->get<std::int64_t>());
    return Status::Ok();
  }
  Status Bool(const char* name, bool& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_boolean()) return Bad(prefix_ + name, "must be true or false");
    out = v->get<bool>();
    return Status::Ok();
  }
  Status Secs(const char* name, std::optional<Duration>& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_number()) return Bad(prefix_ + name, "must be a number of seconds");
    auto d = FromSeconds(v->get<double>());
    if (!d.ok()) return Bad(prefix_ + name, d.status().message());
    out = *d;
    return Status::Ok();
  }
  Status Time(const char* name, std::optional<Timestamp>& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return Bad(prefix_ + name, "must be an RFC 3339 time");
    auto t = ParseRfc3339(v->get<std::string>());
    if (!t.ok()) return Bad(prefix_ + name, t.status().message());
    out = *t;
    return Status::Ok();
  }
  // A JSON-valued field kept as text (args, checkpoint, result).
  Status Text(const char* name, std::optional<std::string>& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    out = v->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return Status::Ok();
  }

 private:
  const nlohmann::json& j_;
  std::string prefix_;
};

Result<ErrorEntry> ErrorEntryFromJson(const nlohmann::json& j, const std::string& prefix) {
  if (!j.is_object()) return Bad(prefix, "must be an object");
  Reader r(j, prefix + ".");
  ErrorEntry e;
  std::string cls;
  std::optional<Timestamp> at;
  JW_RETURN_IF_ERROR(r.Int("attempt", e.attempt));
  JW_RETURN_IF_ERROR(r.Str("class", cls));
  JW_RETURN_IF_ERROR(r.Str("message", e.message));
  JW_RETURN_IF_ERROR(r.Time("at", at));
  JW_RETURN_IF_ERROR(r.Bool("counted", e.counted));
  JW_RETURN_IF_ERROR(r.OptStr("limit", e.limit));
  JW_RETURN_IF_ERROR(r.OptStr("output_tail", e.output_tail));
  auto parsed = ParseErrorClass(cls);
  if (!parsed) return Bad(prefix + ".class", "'" + cls + "' is not an error class");
  e.error_class = *parsed;
  if (at) e.at = *at;
  return e;
}

}  // namespace

Result<Job> JobFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("job", "must be an object");
  Reader r(j, "job.");
  Job job;
  std::string id, state;
  JW_RETURN_IF_ERROR(r.Str("id", id));
  auto parsed_id = ParseJobId(id);
  if (!parsed_id.ok()) return Bad("job.id", "'" + id + "' is not a job id");
  job.id = *parsed_id;
  JW_RETURN_IF_ERROR(r.Str("kind", job.kind));
  JW_RETURN_IF_ERROR(r.Str("queue", job.queue));
  JW_RETURN_IF_ERROR(r.Int("priority", job.priority));
  JW_RETURN_IF_ERROR(r.Str("state", state));
  auto st = ParseJobState(state);
  if (!st) return Bad("job.state", "'" + state + "' is not a state");
  job.state = *st;
  std::optional<std::string> args;
  JW_RETURN_IF_ERROR(r.Text("args", args));
  if (args) job.args = *args;
  JW_RETURN_IF_ERROR(r.Int("attempt", job.attempt));
  JW_RETURN_IF_ERROR(r.Int("max_attempts", job.max_attempts));
  std::optional<Duration> timeout;
  JW_RETURN_IF_ERROR(r.Secs("timeout_s", timeout));
  if (timeout) job.timeout = *timeout;
  JW_RETURN_IF_ERROR(r.Secs("stall_timeout_s", job.stall_timeout));
  JW_RETURN_IF_ERROR(r.Time("deadline_at", job.deadline_at));
  std::optional<Timestamp> run_at, created_at;
  JW_RETURN_IF_ERROR(r.Time("run_at", run_at));
  JW_RETURN_IF_ERROR(r.Time("created_at", created_at));
  if (run_at) job.run_at = *run_at;
  if (created_at) job.created_at = *created_at;
  JW_RETURN_IF_ERROR(r.Time("started_at", job.started_at));
  JW_RETURN_IF_ERROR(r.Time("finished_at", job.finished_at));
  JW_RETURN_IF_ERROR(r.Time("heartbeat_at", job.heartbeat_at));
  JW_RETURN_IF_ERROR(r.Time("lease_expires_at", job.lease_expires_at));
  JW_RETURN_IF_ERROR(r.OptStr("worker_id", job.worker_id));
  JW_RETURN_IF_ERROR(r.Bool("cancel_requested", job.cancel_requested));
  std::optional<std::string> reason;
  JW_RETURN_IF_ERROR(r.OptStr("cancel_reason", reason));
  if (reason) {
    auto cr = ParseCancelReason(*reason);
    if (!cr) return Bad("job.cancel_reason", "'" + *reason + "' is not a cancel reason");
    job.cancel_reason = *cr;
  }
  if (const nlohmann::json* p = r.Find("progress")) {
    auto progress = ProgressFromJson(*p);
    if (!progress.ok()) return Bad("job.progress", progress.status().message());
    job.progress = std::move(progress).value();
    JW_RETURN_IF_ERROR(Reader(*p, "job.progress.").Time("updated_at", job.progress.updated_at));
  }
  JW_RETURN_IF_ERROR(r.Text("checkpoint", job.checkpoint));
  JW_RETURN_IF_ERROR(r.Text("result", job.result));
  if (const nlohmann::json* errors = r.Find("errors")) {
    if (!errors->is_array()) return Bad("job.errors", "must be an array");
    for (std::size_t i = 0; i < errors->size(); ++i) {
      JW_ASSIGN_OR_RETURN(ErrorEntry e, ErrorEntryFromJson((*errors)[i], "job.errors[" + std::to_string(i) + "]"));
      job.errors.push_back(std::move(e));
    }
  }
  JW_RETURN_IF_ERROR(r.OptStr("unique_key", job.unique_key));
  JW_RETURN_IF_ERROR(r.OptStr("resource_key", job.resource_key));
  JW_RETURN_IF_ERROR(r.OptStr("batch_id", job.batch_id));
  if (const nlohmann::json* tags = r.Find("tags")) {
    if (!tags->is_array()) return Bad("job.tags", "must be an array of strings");
    for (const auto& t : *tags) {
      if (!t.is_string()) return Bad("job.tags", "must be an array of strings");
      job.tags.push_back(t.get<std::string>());
    }
  }
  if (const nlohmann::json* lease = r.Find("lease")) {
    if (!lease->is_object()) return Bad("job.lease", "must be an object");
    Reader l(*lease, "job.lease.");
    JW_RETURN_IF_ERROR(l.Int("token", job.lease_token));
    JW_RETURN_IF_ERROR(l.Time("expires_at", job.lease_expires_at));
    std::optional<Duration> ttl, grace;
    JW_RETURN_IF_ERROR(l.Secs("ttl_s", ttl));
    JW_RETURN_IF_ERROR(l.Secs("grace_s", grace));
    if (ttl) job.lease_ttl = *ttl;
    if (grace) job.grace = *grace;
  }
  return job;
}

Result<std::vector<Job>> JobsFromJson(const nlohmann::json& array) {
  if (!array.is_array()) return Bad("jobs", "must be an array");
  std::vector<Job> jobs;
  jobs.reserve(array.size());
  for (const auto& j : array) {
    JW_ASSIGN_OR_RETURN(Job job, JobFromJson(j));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

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
  return j;
}

Result<QueueInfo> QueueInfoFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("queues[]", "must be an object");
  Reader r(j, "queue.");
  QueueInfo q;
  JW_RETURN_IF_ERROR(r.Str("name", q.name));
  JW_RETURN_IF_ERROR(r.Bool("paused", q.paused));
  JW_RETURN_IF_ERROR(r.Time("oldest_available_run_at", q.oldest_available_run_at));
  if (const nlohmann::json* counts = r.Find("counts")) {
    if (!counts->is_object()) return Bad("queue.counts", "must be an object");
    Reader c(*counts, "queue.counts.");
    for (JobState s : kAllJobStates) {
      const std::string name(ToString(s));
      JW_RETURN_IF_ERROR(c.Int(name.c_str(), q.counts[static_cast<std::size_t>(s)]));
    }
  }
  return q;
}

}  // namespace jobwarden::client
