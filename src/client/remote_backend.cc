#include "client/remote_backend.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "protocol/batch_json.h"
#include "protocol/job_codec.h"
#include "protocol/job_json.h"

namespace jobwarden::client {

namespace {

nlohmann::json ProgressBody(const Progress& p) {
  return {{"done", p.done},
          {"total", p.total ? nlohmann::json(*p.total) : nlohmann::json(nullptr)},
          {"message", p.message}};
}

// JSON text the worker holds (result, checkpoint) as a JSON value; text that
// is not JSON is refused here, as the engine refuses it in embedded mode.
Result<nlohmann::json> JsonValue(const std::string& field, const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(field + ": not valid JSON");
  return j;
}

Status AddOptionals(nlohmann::json& body, const std::optional<std::string>& checkpoint,
                    const std::optional<Progress>& progress) {
  if (checkpoint) {
    JW_ASSIGN_OR_RETURN(body["checkpoint"], JsonValue("checkpoint", *checkpoint));
  }
  if (progress) body["progress"] = ProgressBody(*progress);
  return Status::Ok();
}

std::optional<HeartbeatAnswer> ParseAnswer(const std::string& s) {
  if (s == "continue") return HeartbeatAnswer::kContinue;
  if (s == "cancel") return HeartbeatAnswer::kCancel;
  if (s == "lost") return HeartbeatAnswer::kLost;
  return std::nullopt;
}

}  // namespace

RemoteBackend::RemoteBackend(RemoteBackendOptions options)
    : options_(std::move(options)), http_(options_.http), fetch_http_(options_.http) {}

RemoteBackend::~RemoteBackend() {
  if (session_) session_->Stop();
}

bool RemoteBackend::WorkerUnknown(const Status& s) {
  return (s.code() == StatusCode::kNotFound || s.code() == StatusCode::kConflict) && s.field() == "worker_id";
}

Result<nlohmann::json> RemoteBackend::RegisterCall(const WorkerRecord& w) {
  nlohmann::json body = {{"host", w.host}, {"pid", w.pid}, {"queues", w.queues}, {"slots", w.slots}};
  if (!w.id.empty()) body["worker_id"] = w.id;
  if (w.pid_start_time) body["pid_start_time"] = *w.pid_start_time;
  if (w.boot_id) body["boot_id"] = *w.boot_id;
  if (w.pid_namespace) body["pid_namespace"] = *w.pid_namespace;
  return http_.CallWithRetry("POST", "/v1/worker/register", body, "register worker", std::chrono::seconds(10),
                             [this] { return shut_down_.load(); });
}

Result<std::string> RemoteBackend::Register(const WorkerRecord& worker) {
  JW_ASSIGN_OR_RETURN(nlohmann::json answer, RegisterCall(worker));
  if (!answer.is_object() || !answer.contains("worker_id") || !answer["worker_id"].is_string()) {
    return Status::Internal("register worker: the server's answer has no worker_id");
  }
  const std::string id = answer["worker_id"].get<std::string>();
  Duration grace = std::chrono::seconds(2);
  if (answer.contains("session_grace_s") && answer["session_grace_s"].is_number()) {
    if (auto g = FromSeconds(answer["session_grace_s"].get<double>()); g.ok()) grace = *g;
  }
  {
    MutexLock lock(mu_);
    record_ = worker;
    record_.id = id;
  }
  if (options_.open_session && !session_) {
    WorkerSessionCallbacks cb;
    cb.on_cancel = [this](JobId job, std::int64_t token, CancelReason reason) {
      if (on_cancel_) on_cancel_(job, token, reason);
    };
    cb.on_lost = [this] { SessionLost(); };
    cb.on_unknown = [this] { Reregister(); };
    session_ = std::make_unique<WorkerSession>(options_.http, id, grace, std::move(cb));
    session_->Start();
  }
  return id;
}

void RemoteBackend::Reregister() {
  WorkerRecord w;
  {
    MutexLock lock(mu_);
    w = record_;
  }
  auto r = RegisterCall(w);
  if (r.ok()) {
    spdlog::warn("worker {}: registered again (the server had forgotten it or declared it lost)", w.id);
  } else {
    spdlog::warn("worker {}: registering again failed: {}", w.id, r.status().ToString());
  }
}

Status RemoteBackend::Deregister(const std::string& worker_id) {
  // The session first: once deregistered, a reopen would be refused as
  // unknown and register the worker again. The server forgets the drop when
  // the deregister arrives (well within its take-back grace).
  if (session_) session_->Stop();
  auto r = http_.CallWithRetry("POST", "/v1/worker/deregister", {{"worker_id", worker_id}}, "deregister worker",
                               std::chrono::seconds(5));
  return r.status();
}

void RemoteBackend::SessionLost() {
  std::vector<Lease> condemned;
  std::string id;
  {
    MutexLock lock(mu_);
    condemned.assign(held_.begin(), held_.end());
    condemned_.insert(held_.begin(), held_.end());
    id = record_.id;
  }
  if (!condemned.empty()) spdlog::error("worker {}: session lost: {} held job(s) are given up", id, condemned.size());
  if (on_lost_) on_lost_(condemned);
}

void RemoteBackend::Settled(const Lease& lease) {
  MutexLock lock(mu_);
  held_.erase(lease);
  condemned_.erase(lease);
}

Result<std::vector<Job>> RemoteBackend::Fetch(const FetchRequest& request, Duration wait) {
  if (shut_down_.load()) return std::vector<Job>{};
  nlohmann::json body = {{"worker_id", request.worker_id},
                         {"max", request.max},
                         {"wait_ms", std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()}};
  // No queues: the server's default ("default"), as the engine's in embedded mode.
  if (!request.queues.empty()) body["queues"] = request.queues;
  if (request.lease_ttl) body["lease_ttl_s"] = ToSeconds(*request.lease_ttl);
  if (request.grace) body["grace_s"] = ToSeconds(*request.grace);
  auto cancelled = [this] { return shut_down_.load(); };
  const std::string text = body.dump();
  auto answer = fetch_http_.CallTextWithRetryRaw("POST", "/v1/worker/fetch", text, "fetch jobs", options_.fetch_retry,
                                                 cancelled, wait);
  if (!answer.ok() && WorkerUnknown(answer.status()) && !shut_down_.load()) {
    Reregister();
    answer = fetch_http_.CallTextWithRetryRaw("POST", "/v1/worker/fetch", text, "fetch jobs", options_.fetch_retry,
                                              cancelled, wait);
  }
  if (!answer.ok()) {
    if (shut_down_.load()) return std::vector<Job>{};
    return answer.status();
  }
  // The server's answer decoded straight from its text by the one reader.
  JW_ASSIGN_OR_RETURN(std::vector<Job> jobs, JobsFromFetchAnswer(*answer));
  MutexLock lock(mu_);
  for (const Job& j : jobs) held_.insert({j.id, j.lease_token});
  return jobs;
}

Result<std::vector<HeartbeatResult>> RemoteBackend::Heartbeat(const HeartbeatRequest& request) {
  std::vector<HeartbeatResult> out;
  nlohmann::json items = nlohmann::json::array();
  {
    MutexLock lock(mu_);
    for (const HeartbeatItem& h : request.jobs) {
      if (condemned_.count({h.id, h.token}) > 0) {
        // Given up when the session was lost: not renewed, and absent from
        // this heartbeat, so the server takes it back as omitted.
        out.push_back({h.id, HeartbeatAnswer::kLost, std::nullopt, CancelReason::kNone});
        continue;
      }
      nlohmann::json item = {{"id", FormatJobId(h.id)}, {"token", h.token}};
      if (h.progress) item["progress"] = ProgressBody(*h.progress);
      if (h.checkpoint) {
        nlohmann::json c = nlohmann::json::parse(*h.checkpoint, nullptr, false);
        if (!c.is_discarded()) item["checkpoint"] = std::move(c);
      }
      items.push_back(std::move(item));
    }
  }
  const nlohmann::json body = {{"worker_id", request.worker_id}, {"jobs", items}};
  auto answer = http_.CallWithRetry("POST", "/v1/worker/heartbeat", body, "heartbeat", options_.heartbeat_retry);
  if (!answer.ok() && WorkerUnknown(answer.status())) {
    Reregister();
    answer = http_.CallWithRetry("POST", "/v1/worker/heartbeat", body, "heartbeat", options_.heartbeat_retry);
  }
  if (!answer.ok()) {
    // The condemned jobs' answers do not depend on the server (it is likely
    // gone: that is why the session was lost). Answering only them renews
    // nothing, so the others still self-fence from their lease end.
    if (!out.empty()) return out;
    return answer.status();
  }
  if (!answer->is_object() || !answer->contains("jobs") || !(*answer)["jobs"].is_array()) {
    return Status::Internal("heartbeat: no jobs in the answer");
  }
  for (const nlohmann::json& a : (*answer)["jobs"]) {
    if (!a.is_object()) return Status::Internal("heartbeat: an answer is not an object");
    HeartbeatResult r;
    auto id = ParseJobId(a.value("id", ""));
    if (!id.ok()) return Status::Internal("heartbeat: an answer has no job id");
    r.id = *id;
    auto answer_kind = ParseAnswer(a.value("answer", ""));
    if (!answer_kind) return Status::Internal("heartbeat: job " + FormatJobId(r.id) + ": unknown answer");
    r.answer = *answer_kind;
    if (a.contains("lease_expires_at") && a["lease_expires_at"].is_string()) {
      if (auto t = ParseRfc3339(a["lease_expires_at"].get<std::string>()); t.ok()) r.lease_expires_at = *t;
    }
    if (a.contains("cancel_reason") && a["cancel_reason"].is_string()) {
      r.cancel_reason = ParseCancelReason(a["cancel_reason"].get<std::string>()).value_or(CancelReason::kUser);
    }
    if (r.answer == HeartbeatAnswer::kLost) {
      for (const HeartbeatItem& h : request.jobs) {
        if (h.id == r.id) Settled({h.id, h.token});
      }
    }
    out.push_back(r);
  }
  return out;
}

Result<std::vector<Status>> RemoteBackend::CompleteMany(const std::vector<CompleteRequest>& requests) {
  std::vector<Status> out(requests.size());
  std::vector<std::size_t> sent;
  sent.reserve(requests.size());
  // {"jobs": [{"id", "token", "result"?, "checkpoint"?, "progress"?}, ...]}, written straight to text.
  std::string body;
  body.reserve(16 + requests.size() * 48);
  body += "{\"jobs\":[";
  std::string item;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const CompleteRequest& r = requests[i];
    item.clear();
    item += "{\"id\":\"";
    item += FormatJobId(r.id);
    item += "\",\"token\":";
    item += std::to_string(r.token);
    Status s = Status::Ok();
    if (r.checkpoint || r.progress) {
      nlohmann::json extra = nlohmann::json::object();
      s = AddOptionals(extra, r.checkpoint, r.progress);
      if (s.ok()) {
        for (auto it = extra.begin(); it != extra.end(); ++it) {
          item += ",\"";
          item += it.key();
          item += "\":";
          item += it.value().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
      }
    }
    if (!s.ok()) {
      out[i] = s;
      continue;
    }
    if (r.result) {
      // The result's text as the handler gave it, neither parsed nor written
      // again here: the worker pool refused a result that is not JSON for its
      // job alone (WorkerPool, before settling), and the engine, behind the
      // server's parse of the body, is what validates and compacts it, once.
      // A non-JSON result that still got here makes the server refuse the
      // body; nothing is stored.
      item += ",\"result\":";
      item += *r.result;
    }
    item += '}';
    if (!sent.empty()) body += ',';
    body += item;
    sent.push_back(i);
  }
  body += "]}";
  if (sent.empty()) return out;
  auto answer = http_.CallTextWithRetry("POST", "/v1/worker/complete", body, "complete jobs", options_.settle_retry);
  if (!answer.ok()) return answer.status();
  if (!answer->is_object() || !answer->contains("jobs") || !(*answer)["jobs"].is_array() ||
      (*answer)["jobs"].size() != sent.size()) {
    return Status::Internal("complete jobs: the answer does not have one outcome per job");
  }
  for (std::size_t k = 0; k < sent.size(); ++k) {
    const nlohmann::json& a = (*answer)["jobs"][k];
    const int status =
        a.is_object() && a.contains("status") && a["status"].is_number_integer() ? a["status"].get<int>() : 500;
    const CompleteRequest& r = requests[sent[k]];
    out[sent[k]] =
        status >= 200 && status < 300
            ? Status::Ok()
            : StatusFromHttp(status, a, "complete job " + FormatJobId(r.id) + ": HTTP " + std::to_string(status));
    if (out[sent[k]].code() != StatusCode::kUnavailable) Settled({r.id, r.token});
  }
  return out;
}

Status RemoteBackend::Fail(const FailRequest& r) {
  nlohmann::json error = {{"class", std::string(ToString(r.failure.error_class))}, {"message", r.failure.message}};
  if (r.failure.retry_after) error["retry_after_s"] = ToSeconds(*r.failure.retry_after);
  if (r.failure.limit) error["limit"] = *r.failure.limit;
  if (r.failure.output_tail) error["output_tail"] = *r.failure.output_tail;
  nlohmann::json body = {{"id", FormatJobId(r.id)}, {"token", r.token}, {"error", std::move(error)}};
  JW_RETURN_IF_ERROR(AddOptionals(body, r.checkpoint, r.progress));
  auto answer =
      http_.CallWithRetry("POST", "/v1/worker/fail", body, "fail job " + FormatJobId(r.id), options_.settle_retry);
  if (answer.status().code() != StatusCode::kUnavailable) Settled({r.id, r.token});
  return answer.status();
}

Result<BatchInfo> RemoteBackend::SubmitBatch(JobId parent, std::int64_t token, const BatchRequest& request) {
  const nlohmann::json body = {
      {"job_id", FormatJobId(parent)}, {"token", token}, {"batch", BatchRequestToJson(request)}};
  JW_ASSIGN_OR_RETURN(nlohmann::json answer,
                      http_.Call("POST", "/v1/worker/batch", body, "submit a batch from job " + FormatJobId(parent)));
  return BatchInfoFromJson(answer);
}

void RemoteBackend::WakeAll() {
  shut_down_ = true;
  fetch_http_.AbortInFlight();
}

}  // namespace jobwarden::client
