#include "protocol/batch_json.h"

#include "protocol/answer_reader.h"
#include "protocol/job_codec.h"
#include "protocol/job_json.h"
#include "protocol/json_fields.h"

#include <limits>

namespace jobwarden {

using answer_reader::Bad;
using answer_reader::Reader;

Result<BatchRequest> ParseBatchRequest(const nlohmann::json& body) {
  if (!body.is_object()) return Status::InvalidArgument("body: must be a JSON object");
  JsonFields f(body);
  JW_RETURN_IF_ERROR(
      f.OnlyKnown({"jobs", "deadline_s", "deadline_at", "min_succeeded", "callback", "name", "parent_id"}));
  BatchRequest r;
  const nlohmann::json* jobs = f.Find("jobs");
  if (jobs == nullptr) return Status::InvalidArgument("jobs: required").WithField("jobs");
  if (!jobs->is_array()) {
    return Status::InvalidArgument(std::string("jobs: must be an array, not ") + jobs->type_name()).WithField("jobs");
  }
  r.jobs.reserve(jobs->size());
  for (std::size_t i = 0; i < jobs->size(); ++i) {
    JW_ASSIGN_OR_RETURN(EnqueueRequest one, ParseEnqueueRequest((*jobs)[i], "jobs[" + std::to_string(i) + "]."));
    r.jobs.push_back(std::move(one));
  }
  JW_ASSIGN_OR_RETURN(r.deadline_in, f.Seconds("deadline_s"));
  JW_ASSIGN_OR_RETURN(r.deadline_at, f.Time("deadline_at"));
  JW_ASSIGN_OR_RETURN(auto min_succeeded,
                      f.Int("min_succeeded", std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
  if (min_succeeded) r.min_succeeded = static_cast<int>(*min_succeeded);
  JW_ASSIGN_OR_RETURN(r.name, f.String("name"));
  if (f.Find("parent_id") != nullptr) {
    JW_ASSIGN_OR_RETURN(JobId parent, f.RequiredJobId("parent_id"));
    r.parent_id = parent;
  }
  if (const nlohmann::json* cb = f.Find("callback")) {
    if (!cb->is_object()) return Status::InvalidArgument("callback: must be a JSON object").WithField("callback");
    JsonFields c(*cb, "callback.");
    JW_RETURN_IF_ERROR(c.OnlyKnown({"kind", "args", "queue", "priority"}));
    BatchCallback callback;
    JW_ASSIGN_OR_RETURN(callback.kind, c.RequiredString("kind"));
    JW_ASSIGN_OR_RETURN(callback.args, c.JsonText("args"));
    JW_ASSIGN_OR_RETURN(callback.queue, c.String("queue"));
    JW_ASSIGN_OR_RETURN(auto priority, c.Int("priority", -1'000'000, 1'000'000));
    if (priority) callback.priority = static_cast<int>(*priority);
    r.callback = std::move(callback);
  }
  return r;
}

nlohmann::json BatchRequestToJson(const BatchRequest& r) {
  nlohmann::json jobs = nlohmann::json::array();
  for (const EnqueueRequest& e : r.jobs) jobs.push_back(EnqueueRequestToJson(e));
  nlohmann::json j = {{"jobs", std::move(jobs)}};
  if (r.deadline_in) j["deadline_s"] = ToSeconds(*r.deadline_in);
  if (r.deadline_at) j["deadline_at"] = FormatRfc3339(*r.deadline_at);
  if (r.min_succeeded) j["min_succeeded"] = *r.min_succeeded;
  if (r.name) j["name"] = *r.name;
  if (r.parent_id) j["parent_id"] = FormatJobId(*r.parent_id);
  if (r.callback) {
    nlohmann::json c = {{"kind", r.callback->kind}};
    if (r.callback->args) c["args"] = nlohmann::json::parse(*r.callback->args, nullptr, false);
    if (r.callback->queue) c["queue"] = *r.callback->queue;
    if (r.callback->priority) c["priority"] = *r.callback->priority;
    j["callback"] = std::move(c);
  }
  return j;
}

namespace {

Status OptJobId(const Reader& r, const char* name, std::optional<JobId>& out) {
  std::optional<std::string> text;
  JW_RETURN_IF_ERROR(r.OptStr(name, text));
  if (!text) return Status::Ok();
  auto id = ParseJobId(*text);
  if (!id.ok()) return Bad(r.prefix() + name, id.status().message());
  out = *id;
  return Status::Ok();
}

Result<BatchMember> MemberFromJson(const nlohmann::json& j, const std::string& prefix) {
  if (!j.is_object()) return Bad(prefix, "must be an object");
  Reader r(j, prefix + ".");
  BatchMember m;
  std::optional<JobId> id;
  JW_RETURN_IF_ERROR(OptJobId(r, "id", id));
  if (!id) return Bad(prefix + ".id", "missing");
  m.id = *id;
  JW_RETURN_IF_ERROR(r.Str("kind", m.kind));
  std::string state;
  JW_RETURN_IF_ERROR(r.Str("state", state));
  const auto st = ParseJobState(state);
  if (!st) return Bad(prefix + ".state", "'" + state + "' is not a job state");
  m.state = *st;
  JW_RETURN_IF_ERROR(r.OptStr("resource_key", m.resource_key));
  JW_RETURN_IF_ERROR(r.Int("attempts", m.attempts));
  JW_RETURN_IF_ERROR(r.Secs("duration_s", m.duration));
  JW_RETURN_IF_ERROR(r.Text("result", m.result));
  JW_ASSIGN_OR_RETURN(const nlohmann::json* error, r.Object("error"));
  if (error != nullptr) {
    Reader e(*error, prefix + ".error.");
    std::string cls;
    JW_RETURN_IF_ERROR(e.Str("class", cls));
    const auto parsed = ParseErrorClass(cls);
    if (!parsed) return Bad(prefix + ".error.class", "'" + cls + "' is not an error class");
    m.error_class = *parsed;
    JW_RETURN_IF_ERROR(e.Str("message", m.error_message));
    JW_RETURN_IF_ERROR(e.OptStr("limit", m.error_limit));
  }
  return m;
}

}  // namespace

Result<BatchInfo> BatchInfoFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("batch", "must be an object");
  Reader r(j, "batch.");
  BatchInfo b;
  JW_RETURN_IF_ERROR(r.Str("id", b.id));
  if (b.id.empty()) return Bad("batch.id", "missing");
  JW_RETURN_IF_ERROR(r.OptStr("name", b.name));
  std::string state = "running";
  JW_RETURN_IF_ERROR(r.Str("state", state));
  const auto st = ParseBatchState(state);
  if (!st) return Bad("batch.state", "'" + state + "' is not a batch state");
  b.state = *st;
  JW_RETURN_IF_ERROR(r.Time("deadline_at", b.deadline_at));
  JW_RETURN_IF_ERROR(r.Int("min_succeeded", b.min_succeeded));
  JW_RETURN_IF_ERROR(r.Int("total", b.total));
  std::optional<Timestamp> created;
  JW_RETURN_IF_ERROR(r.Time("created_at", created));
  if (created) b.created_at = *created;
  JW_RETURN_IF_ERROR(r.Time("finished_at", b.finished_at));
  JW_RETURN_IF_ERROR(OptJobId(r, "callback_job_id", b.callback_job_id));
  JW_RETURN_IF_ERROR(OptJobId(r, "parent_id", b.parent_id));
  JW_ASSIGN_OR_RETURN(const nlohmann::json* counts, r.Object("counts"));
  if (counts != nullptr) {
    Reader c(*counts, "batch.counts.");
    for (JobState s : kAllJobStates) {
      const std::string name(ToString(s));
      JW_RETURN_IF_ERROR(c.Int(name.c_str(), b.counts[static_cast<std::size_t>(s)]));
    }
  }
  if (const nlohmann::json* members = r.Find("members")) {
    if (!members->is_array()) return Bad("batch.members", "must be an array");
    b.members.reserve(members->size());
    for (std::size_t i = 0; i < members->size(); ++i) {
      JW_ASSIGN_OR_RETURN(BatchMember m, MemberFromJson((*members)[i], "batch.members[" + std::to_string(i) + "]"));
      b.members.push_back(std::move(m));
    }
  }
  return b;
}

}  // namespace jobwarden
