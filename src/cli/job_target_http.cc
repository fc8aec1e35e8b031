// Remote mode: the JobTarget over a server's HTTP API (--server URL or
// $JOBWARDEN_SERVER, with --token / $JOBWARDEN_TOKEN). Same answers as the
// local target, so the commands print the same output and exit codes; every
// HTTP error comes back as a Status through client::StatusFromHttp, and a
// server that does not answer is kUnavailable (exit 3).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>

#include "cli/job_target.h"
#include "client/http_client.h"
#include "core/clock.h"
#include "protocol/batch_json.h"
#include "protocol/failure_json.h"
#include "protocol/flow_json.h"
#include "protocol/job_codec.h"
#include "protocol/schedule_json.h"

namespace jobwarden::cli {

namespace {

using client::HttpClient;

std::string JobPath(JobId id) { return "/v1/jobs/" + FormatJobId(id); }

class HttpJobTarget final : public JobTarget {
 public:
  explicit HttpJobTarget(client::HttpClientOptions options) : http_(std::move(options)) {}

  // The server's reaper runs all the time.
  Status Refresh() override { return Status::Ok(); }

  Result<EnqueueResult> Enqueue(const EnqueueRequest& request) override {
    JW_ASSIGN_OR_RETURN(nlohmann::json j, http_.Call("POST", "/v1/jobs", EnqueueRequestToJson(request), "enqueue"));
    EnqueueResult r;
    JW_ASSIGN_OR_RETURN(r.job, JobFromJson(j));
    r.deduplicated = j.is_object() && j.value("deduplicated", false);
    return r;
  }

  // With the lease TTL and stall clock derived (`status` shows "lease 9.3s left (TTL 10s)").
  Result<Job> Get(JobId id) override {
    JW_ASSIGN_OR_RETURN(Job j, JobCall("GET", JobPath(id), nullptr, "get job"));
    DeriveLeaseClocks(j);
    return j;
  }

  Result<std::vector<Job>> List(const JobListParams& params) override {
    // The server pages at most 1000 jobs; --limit may ask up to 10,000.
    constexpr int kPage = 1000;
    std::vector<Job> out;
    JobId after = params.after_id;
    while (static_cast<int>(out.size()) < params.limit) {
      const int want = std::min(kPage, params.limit - static_cast<int>(out.size()));
      std::string path = "/v1/jobs?limit=" + std::to_string(want);
      if (params.state) path += "&state=" + std::string(ToString(*params.state));
      if (params.queue) path += "&queue=" + client::UrlEncode(*params.queue);
      if (params.kind) path += "&kind=" + client::UrlEncode(*params.kind);
      if (params.worker_id) path += "&worker_id=" + client::UrlEncode(*params.worker_id);
      if (params.tag) path += "&tag=" + client::UrlEncode(*params.tag);
      if (params.batch_id) path += "&batch_id=" + client::UrlEncode(*params.batch_id);
      if (params.args_path && params.args_value) {
        path += "&args." + client::UrlEncode(*params.args_path) + "=" + client::UrlEncode(*params.args_value);
      }
      if (after > 0) path += "&cursor=" + FormatJobId(after);
      JW_ASSIGN_OR_RETURN(nlohmann::json page, http_.Call("GET", path, nullptr, "list jobs"));
      if (!page.is_object() || !page.contains("jobs")) return Status::Internal("list jobs: no jobs in the answer");
      JW_ASSIGN_OR_RETURN(std::vector<Job> jobs, JobsFromJson(page["jobs"]));
      const bool more =
          page.contains("next_cursor") && page["next_cursor"].is_string() && static_cast<int>(jobs.size()) == want;
      for (Job& j : jobs) out.push_back(std::move(j));
      if (!more || out.empty()) break;
      after = out.back().id;
    }
    return out;
  }

  Result<Job> Cancel(JobId id) override {
    return JobCall("POST", JobPath(id) + "/cancel", nlohmann::json::object(), "cancel job " + FormatJobId(id));
  }
  Result<Job> Retry(JobId id) override {
    return JobCall("POST", JobPath(id) + "/retry", nlohmann::json::object(), "retry job " + FormatJobId(id));
  }

  Status Delete(JobId id) override {
    return http_.Call("DELETE", JobPath(id), nullptr, "delete job " + FormatJobId(id)).status();
  }

  Result<std::int64_t> DeleteMany(const DeleteFilter& filter) override {
    nlohmann::json body = nlohmann::json::object();
    if (filter.state) body["state"] = std::string(ToString(*filter.state));
    if (filter.queue) body["queue"] = *filter.queue;
    if (filter.older_than) body["older_than_s"] = ToSeconds(*filter.older_than);
    JW_ASSIGN_OR_RETURN(nlohmann::json j, http_.Call("POST", "/v1/jobs/delete", body, "purge"));
    if (!j.is_object() || !j.contains("deleted") || !j["deleted"].is_number_integer()) {
      return Status::Internal("purge: no count in the answer");
    }
    return j["deleted"].get<std::int64_t>();
  }

  Result<ResetStuckResult> ResetStuck(Duration older_than) override {
    JW_ASSIGN_OR_RETURN(nlohmann::json j, http_.Call("POST", "/v1/admin/reset-stuck",
                                                     {{"older_than_s", ToSeconds(older_than)}}, "reset-stuck"));
    ResetStuckResult r;
    if (!j.is_object() || !j.contains("job_ids") || !j["job_ids"].is_array()) {
      return Status::Internal("reset-stuck: no job_ids in the answer");
    }
    r.reset_count = j.value("reset_count", std::int64_t{0});
    for (const auto& id : j["job_ids"]) {
      if (!id.is_string()) return Status::Internal("reset-stuck: a job id is not a string");
      JW_ASSIGN_OR_RETURN(JobId parsed, ParseJobId(id.get<std::string>()));
      r.job_ids.push_back(parsed);
    }
    return r;
  }

  Status PauseQueue(const std::string& name) override { return QueueAction(name, "pause"); }
  Status ResumeQueue(const std::string& name) override { return QueueAction(name, "resume"); }

  Result<std::vector<QueueInfo>> Queues() override {
    return ListOf<QueueInfo>("/v1/queues", "queues", QueueInfoFromJson);
  }

  // The API has no doctor route: the running jobs are read and judged here
  // with the rules of Engine::Doctor, from what the job JSON carries (the
  // lease TTL is taken as lease expiry - last heartbeat; the stall clock as
  // the last progress update).
  Result<std::vector<JobDiagnosis>> Doctor() override {
    JobListParams p;
    p.state = JobState::kRunning;
    p.limit = 10'000;
    JW_ASSIGN_OR_RETURN(std::vector<Job> jobs, List(p));
    const Timestamp now = Now();
    std::vector<JobDiagnosis> out;
    for (Job& j : jobs) out.push_back(Diagnose(std::move(j), now));
    return out;
  }

  Result<QueueInfo> SetQueueLimits(const std::string& name, const QueueLimitsPatch& patch) override {
    JW_ASSIGN_OR_RETURN(nlohmann::json j, http_.Call("PUT", "/v1/queues/" + client::UrlEncode(name),
                                                     QueueLimitsPatchToJson(patch), "set limits of queue " + name));
    return QueueInfoFromJson(j);
  }

  Result<std::vector<ResourceInfo>> Resources() override {
    return ListOf<ResourceInfo>("/v1/resources", "resources", ResourceInfoFromJson);
  }

  Result<std::vector<ScheduleInfo>> Schedules() override {
    return ListOf<ScheduleInfo>("/v1/schedules", "schedules", ScheduleInfoFromJson);
  }

  Result<Engine::Failures> Failures(Timestamp since, int limit) override {
    const std::string path =
        "/v1/failures?since=" + client::UrlEncode(FormatRfc3339(since)) + "&limit=" + std::to_string(limit);
    JW_ASSIGN_OR_RETURN(nlohmann::json j, http_.Call("GET", path, nullptr, "list failures"));
    if (!j.is_object() || !j.contains("failures") || !j["failures"].is_array()) {
      return Status::Internal("list failures: no failures in the answer");
    }
    Engine::Failures out;
    for (const auto& g : j["failures"]) {
      JW_ASSIGN_OR_RETURN(FailureGroup group, FailureGroupFromJson(g));
      out.groups.push_back(std::move(group));
    }
    out.attempts = j.value("attempts", std::int64_t{0});
    out.truncated = j.value("truncated", false);
    return out;
  }

  Result<BatchInfo> SubmitBatch(const BatchRequest& request) override {
    // Not retried: a lost answer must not submit the batch twice.
    JW_ASSIGN_OR_RETURN(nlohmann::json j,
                        http_.Call("POST", "/v1/batches", BatchRequestToJson(request), "submit batch"));
    return BatchInfoFromJson(j);
  }

  Result<BatchInfo> Batch(const std::string& id) override {
    JW_ASSIGN_OR_RETURN(nlohmann::json j,
                        http_.Call("GET", "/v1/batches/" + client::UrlEncode(id), nullptr, "get batch " + id));
    return BatchInfoFromJson(j);
  }

  Result<std::vector<BatchInfo>> Batches(const BatchListParams& params) override {
    std::string path = "/v1/batches?limit=" + std::to_string(params.limit);
    if (params.state) path += "&state=" + std::string(ToString(*params.state));
    if (!params.before_id.empty()) path += "&cursor=" + client::UrlEncode(params.before_id);
    return ListOf<BatchInfo>(path, "batches", BatchInfoFromJson);
  }

  // The key goes percent-encoded: a '/' in it (host:a/b) stays one path segment.
  Result<ResourceInfo> SetResourceLimits(const std::string& key, const ResourceLimitsPatch& patch) override {
    JW_ASSIGN_OR_RETURN(nlohmann::json j,
                        http_.Call("PUT", "/v1/resources/" + client::UrlEncode(key), ResourceLimitsPatchToJson(patch),
                                   "set limits of resource " + key));
    return ResourceInfoFromJson(j);
  }

  Result<std::vector<QueueHold>> HeldQueues() override {
    JW_ASSIGN_OR_RETURN(nlohmann::json j, http_.Call("GET", "/v1/holds", nullptr, "list holds"));
    if (!j.is_object() || !j.contains("holds") || !j["holds"].is_array()) {
      return Status::Internal("list holds: no holds in the answer");
    }
    std::vector<QueueHold> out;
    for (const auto& h : j["holds"]) {
      if (!h.is_object() || !h.value("queue", nlohmann::json()).is_string() ||
          !h.value("available", nlohmann::json()).is_number_integer() ||
          !h.value("reasons", nlohmann::json()).is_array()) {
        return Status::Internal("list holds: a hold is not {queue, available, reasons}");
      }
      QueueHold hold;
      hold.queue = h["queue"].get<std::string>();
      hold.available = h["available"].get<std::int64_t>();
      for (const auto& reason : h["reasons"]) {
        if (!reason.is_string()) return Status::Internal("list holds: a reason is not a string");
        hold.reasons.push_back(reason.get<std::string>());
      }
      out.push_back(std::move(hold));
    }
    return out;
  }

  Timestamp Now() const override { return clock_.Now(); }

 private:
  // GET `path`, whose answer is {"<field>": [...]}, each item read by `read`.
  template <typename T, typename Read>
  Result<std::vector<T>> ListOf(const std::string& path, const std::string& field, Read read) {
    JW_ASSIGN_OR_RETURN(nlohmann::json j, http_.Call("GET", path, nullptr, "list " + field));
    if (!j.is_object() || !j.contains(field) || !j[field].is_array()) {
      return Status::Internal("list " + field + ": no " + field + " in the answer");
    }
    std::vector<T> out;
    for (const auto& item : j[field]) {
      JW_ASSIGN_OR_RETURN(T info, read(item));
      out.push_back(std::move(info));
    }
    return out;
  }

  Result<Job> JobCall(const std::string& method, const std::string& path, const nlohmann::json& body,
                      const std::string& what) {
    JW_ASSIGN_OR_RETURN(nlohmann::json j, http_.Call(method, path, body, what));
    return JobFromJson(j);
  }

  Status QueueAction(const std::string& name, const std::string& action) {
    if (name.empty()) return Status::InvalidArgument("queue: must not be empty");
    return http_
        .Call("POST", "/v1/queues/" + client::UrlEncode(name) + "/" + action, nlohmann::json::object(),
              action + " queue " + name)
        .status();
  }

  // The job JSON carries neither the lease TTL nor the stall clock of a
  // running job: derive them (TTL = expiry - last renewal, which the server
  // sets together; stall clock = last progress update, else the attempt start).
  static void DeriveLeaseClocks(Job& j) {
    if (j.state != JobState::kRunning) return;
    const std::optional<Timestamp> renewed = j.heartbeat_at ? j.heartbeat_at : j.started_at;
    j.lease_ttl = (j.lease_expires_at && renewed) ? *j.lease_expires_at - *renewed : std::chrono::seconds(10);
    j.stall_since = j.progress.updated_at ? j.progress.updated_at : j.started_at;
  }

  // Then the engine's own rules.
  static JobDiagnosis Diagnose(Job j, Timestamp now) {
    DeriveLeaseClocks(j);
    return DiagnoseRunningJob(std::move(j), now);
  }

  HttpClient http_;
  SystemClock clock_;
};

}  // namespace

Result<std::unique_ptr<JobTarget>> OpenHttpJobTarget(const GlobalOptions& global) {
  JW_ASSIGN_OR_RETURN(client::ServerAddress address, client::ParseServerUrl(global.server));
  client::HttpClientOptions o;
  o.server = address;
  o.token = global.token;
  o.max_idle = 1;
  return std::unique_ptr<JobTarget>(std::make_unique<HttpJobTarget>(std::move(o)));
}

}  // namespace jobwarden::cli
