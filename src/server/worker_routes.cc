// The worker protocol: register, deregister, fetch (long-poll), heartbeat,
// complete and fail (one job or many). The session stream is in stream_routes.cc.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

#include <spdlog/spdlog.h>

#include "protocol/job_json.h"
#include "protocol/json_fields.h"
#include "server/api.h"
#include "server/error_mapping.h"
#include "server/event_hub.h"
#include "server/fetch_waiters.h"
#include "server/worker_sessions.h"

namespace jobwarden::server {

namespace {

constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();

void Register(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  JsonFields f(r.body);
  if (Status s =
          f.OnlyKnown({"worker_id", "host", "pid", "queues", "slots", "pid_start_time", "boot_id", "pid_namespace"});
      !s.ok()) {
    return ReplyStatus(res, s);
  }
  WorkerRecord w;
  auto id = f.String("worker_id");
  auto host = f.RequiredString("host");
  auto pid = f.Int("pid", 0, kMaxInt64);
  auto queues = f.Strings("queues");
  auto slots = f.Int("slots", 1, 100'000);
  auto start = f.Int("pid_start_time", 0, kMaxInt64);
  auto boot = f.String("boot_id");
  auto ns = f.String("pid_namespace");
  for (const Status* s : {&id.status(), &host.status(), &pid.status(), &queues.status(), &slots.status(),
                          &start.status(), &boot.status(), &ns.status()}) {
    if (!s->ok()) return ReplyStatus(res, *s);
  }
  if (!*pid) return ReplyStatus(res, Status::InvalidArgument("pid: required"));
  if (!*slots) return ReplyStatus(res, Status::InvalidArgument("slots: required"));
  w.id = id->value_or("");
  w.host = *host;
  w.pid = **pid;
  w.queues = queues->value_or(std::vector<std::string>{"default"});
  w.slots = static_cast<int>(**slots);
  w.pid_start_time = *start;
  w.boot_id = *boot;
  w.pid_namespace = *ns;
  auto registered = ctx.engine.RegisterWorker(w);
  if (!registered.ok()) return ReplyStatus(res, registered.status());
  ctx.sessions.Registered(*registered);
  const EngineOptions& o = ctx.engine.options();
  ReplyJson(res, 201,
            {{"worker_id", *registered},
             {"session_epoch", ctx.sessions.epoch()},
             {"session_grace_s", ToSeconds(ctx.sessions.grace())},
             {"lease_ttl_s", ToSeconds(o.default_lease_ttl)},
             {"min_lease_ttl_s", ToSeconds(o.min_lease_ttl)},
             {"max_lease_ttl_s", ToSeconds(o.max_lease_ttl)},
             {"max_wait_ms", std::chrono::duration_cast<std::chrono::milliseconds>(ctx.config.max_wait).count()}});
}

void Deregister(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  JsonFields f(r.body);
  if (Status s = f.OnlyKnown({"worker_id"}); !s.ok()) return ReplyStatus(res, s);
  auto id = f.RequiredString("worker_id");
  if (!id.ok()) return ReplyStatus(res, id.status());
  if (Status s = ctx.sessions.Check(*id); !s.ok() && s.code() == StatusCode::kNotFound) return ReplyStatus(res, s);
  ctx.sessions.Deregistered(*id);
  if (Status s = ctx.engine.DeregisterWorker(*id); !s.ok()) return ReplyStatus(res, s);
  ReplyJson(res, 200, {{"worker_id", *id}, {"stopped", true}});
}

// When a fetch that leased nothing should try again for the holds it met:
// when the earliest time-based hold lifts (at least kMinHoldWait from now, so
// a hold that lifts "now" cannot spin), else never (time_point::max()).
constexpr Duration kMinHoldWait = std::chrono::milliseconds(5);
constexpr Duration kMaxHoldWait = std::chrono::hours(24);  // beyond any long-poll; no overflow
std::chrono::steady_clock::time_point HoldLifts(const FetchHolds& holds, Timestamp now) {
  if (!holds.retry_at) return std::chrono::steady_clock::time_point::max();
  return std::chrono::steady_clock::now() + std::clamp<Duration>(*holds.retry_at - now, kMinHoldWait, kMaxHoldWait);
}

// A leased job: the job JSON plus its "lease", written straight to text.
void AppendLeasedJob(std::string& out, std::string& lease, const Job& j) {
  lease.clear();
  lease += "{\"expires_at\":";
  AppendJsonTimeOrNull(lease, j.lease_expires_at);
  lease += ",\"grace_s\":";
  AppendJsonSeconds(lease, j.grace);
  lease += ",\"token\":";
  lease += std::to_string(j.lease_token);
  lease += ",\"ttl_s\":";
  AppendJsonSeconds(lease, j.lease_ttl);
  lease += '}';
  AppendJobJson(out, j, {{"lease", lease}});
}

void Fetch(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  JsonFields f(r.body);
  if (Status s = f.OnlyKnown({"worker_id", "queues", "max", "wait_ms", "lease_ttl_s", "grace_s"}); !s.ok()) {
    return ReplyStatus(res, s);
  }
  FetchRequest request;
  auto id = f.RequiredString("worker_id");
  auto queues = f.Strings("queues");
  auto max = f.Int("max", 1, ctx.engine.options().max_fetch);
  auto wait_ms = f.Int("wait_ms", 0, kMaxInt64);
  auto ttl = f.Seconds("lease_ttl_s");
  auto grace = f.Seconds("grace_s");
  for (const Status* s :
       {&id.status(), &queues.status(), &max.status(), &wait_ms.status(), &ttl.status(), &grace.status()}) {
    if (!s->ok()) return ReplyStatus(res, *s);
  }
  if (Status s = ctx.sessions.Check(*id); !s.ok()) return ReplyStatus(res, s);
  request.worker_id = *id;
  request.queues = queues->value_or(std::vector<std::string>{"default"});
  if (request.queues.empty()) return ReplyStatus(res, Status::InvalidArgument("queues: must not be empty"));
  request.max = static_cast<int>(max->value_or(1));
  request.lease_ttl = *ttl;
  request.grace = *grace;
  // wait_ms is capped (config max_wait), not refused: a client asking for
  // more simply polls again sooner.
  const auto wait = std::min<Duration>(Duration(wait_ms->value_or(0)), ctx.config.max_wait);

  auto reply = [&](const std::vector<Job>& jobs) {
    std::string body;
    body.reserve(64 + jobs.size() * 900);
    std::string lease;
    body += "{\"jobs\":[";
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (i > 0) body += ',';
      AppendLeasedJob(body, lease, jobs[i]);
    }
    body += "]}";
    ReplyJsonText(res, 200, std::move(body));
  };
  // The client is still there to be given an answer (unknown: assume so).
  auto peer_open = [&] { return !r.http.peer_open || r.http.peer_open(); };
  // A fetch answer that leases jobs: handed back at once, without spending an
  // attempt, if its client is gone before it is written or it cannot be
  // written (the lease never reached a live handler).
  auto reply_leased = [&](std::vector<Job> jobs) {
    if (jobs.empty()) return reply(jobs);
    if (!peer_open()) {
      auto back = ctx.engine.HandBackUndelivered(request.worker_id, jobs, "its connection closed before the answer");
      if (!back.ok()) spdlog::error("fetch of worker {}: {}", request.worker_id, back.status().ToString());
      return reply({});
    }
    reply(jobs);
    res.on_answered = [&engine = ctx.engine, worker = request.worker_id, jobs = std::move(jobs)](bool written) {
      if (written) return;
      auto back = engine.HandBackUndelivered(worker, jobs, "the answer could not be written to its connection");
      if (!back.ok()) spdlog::error("fetch of worker {}: {}", worker, back.status().ToString());
    };
  };
  // A worker whose session dropped (take-back pending) or that was seen gone
  // is leased nothing: its fetch is answered empty at once.
  if (Status s = ctx.sessions.CheckLeasable(request.worker_id); !s.ok()) {
    if (s.code() != StatusCode::kUnavailable) return ReplyStatus(res, s);
    res.headers.emplace_back("Retry-After", "1");
    return reply({});
  }
  auto jobs = ctx.engine.Fetch(request);
  if (!jobs.ok()) return ReplyStatus(res, jobs.status());
  if (!jobs->empty() || wait <= Duration(0) || ctx.draining.load()) return reply_leased(std::move(jobs).value());

  auto waiter = ctx.waiters.Add(request.queues, request.worker_id);
  if (!waiter) {
    // Over the long-poll cap (or shutting down): answer now, empty.
    res.headers.emplace_back("Retry-After", "1");
    return reply(*jobs);
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  Result<std::vector<Job>> got = std::vector<Job>{};
  bool unused_wakeup = false;  // woken for a job, and not fetched for it
  while (true) {
    // A worker that deregistered, was declared lost or seen gone, or whose
    // session dropped while this fetch waited must not be leased a job: nobody
    // would run or report it. Nor one whose connection closed (killed, or cut):
    // nobody would read the answer. Its wake-up goes to another waiter.
    if (!ctx.sessions.CheckLeasable(request.worker_id).ok() || !peer_open()) break;
    // Fetch again after enlisting: a job that arrived in between is not missed.
    unused_wakeup = false;
    FetchHolds holds;
    got = ctx.engine.Fetch(request, &holds);
    if (!got.ok() || !got->empty()) break;
    // Jobs held by a rate, a breaker's cooldown or a retry_after hold can be
    // leased when it lifts: fetch again then (a rate of 5/s starts a job
    // every 200 ms), not at the end of the long-poll. No event says so.
    const auto until = std::min(deadline, HoldLifts(holds, ctx.engine.clock().Now()));
    const FetchWaiters::WaitResult woke = ctx.waiters.Wait(waiter, until);
    if (woke == FetchWaiters::WaitResult::kEnded) break;
    if (woke == FetchWaiters::WaitResult::kTimedOut && until >= deadline) break;
    unused_wakeup = woke == FetchWaiters::WaitResult::kWoken;
  }
  ctx.waiters.Remove(waiter, unused_wakeup);
  if (!got.ok()) return ReplyStatus(res, got.status());
  reply_leased(std::move(got).value());
}

void Heartbeat(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  JsonFields f(r.body);
  if (Status s = f.OnlyKnown({"worker_id", "jobs"}); !s.ok()) return ReplyStatus(res, s);
  auto id = f.RequiredString("worker_id");
  if (!id.ok()) return ReplyStatus(res, id.status());
  const nlohmann::json* jobs = f.Find("jobs");
  if (jobs != nullptr && !jobs->is_array()) {
    return ReplyStatus(res, Status::InvalidArgument(std::string("jobs: must be an array, not ") + jobs->type_name()));
  }
  HeartbeatRequest request;
  request.worker_id = *id;
  if (jobs != nullptr) {
    for (std::size_t i = 0; i < jobs->size(); ++i) {
      const std::string prefix = "jobs[" + std::to_string(i) + "].";
      const nlohmann::json& item = (*jobs)[i];
      if (!item.is_object()) {
        return ReplyStatus(res, Status::InvalidArgument(prefix.substr(0, prefix.size() - 1) + ": must be an object"));
      }
      JsonFields g(item, prefix);
      if (Status s = g.OnlyKnown({"id", "token", "progress", "checkpoint"}); !s.ok()) return ReplyStatus(res, s);
      HeartbeatItem h;
      auto jid = g.RequiredJobId("id");
      auto token = g.Int("token", 1, kMaxInt64);
      auto progress = g.ProgressField("progress");
      auto checkpoint = g.JsonText("checkpoint");
      for (const Status* s : {&jid.status(), &token.status(), &progress.status(), &checkpoint.status()}) {
        if (!s->ok()) return ReplyStatus(res, *s);
      }
      if (!*token) return ReplyStatus(res, Status::InvalidArgument(g.Name("token") + ": required"));
      h.id = *jid;
      h.token = **token;
      h.progress = *progress;
      h.checkpoint = *checkpoint;
      request.jobs.push_back(std::move(h));
    }
  }
  if (Status s = ctx.sessions.Check(*id); !s.ok()) return ReplyStatus(res, s);
  auto results = ctx.engine.Heartbeat(request);
  if (!results.ok()) return ReplyStatus(res, results.status());
  const Timestamp now = ctx.engine.clock().Now();
  // {"jobs": [{"answer", "cancel_reason", "id", "lease_expires_at"}, ...]}, written straight to text.
  std::string body;
  body.reserve(16 + results->size() * 110);
  body += "{\"jobs\":[";
  for (std::size_t i = 0; i < results->size(); ++i) {
    const HeartbeatResult& h = (*results)[i];
    if (i > 0) body += ',';
    body += "{\"answer\":";
    AppendJsonString(body, ToString(h.answer));
    body += ",\"cancel_reason\":";
    if (h.answer == HeartbeatAnswer::kCancel && h.cancel_reason != CancelReason::kNone) {
      AppendJsonString(body, ToString(h.cancel_reason));
    } else {
      body += "null";
    }
    body += ",\"id\":\"";
    body += FormatJobId(h.id);
    body += "\",\"lease_expires_at\":";
    AppendJsonTimeOrNull(body, h.lease_expires_at);
    body += '}';
    if (h.answer != HeartbeatAnswer::kLost && i < request.jobs.size() && request.jobs[i].progress) {
      ctx.events.PublishProgress(h.id, *request.jobs[i].progress, now);
    }
  }
  body += "]}";
  ReplyJsonText(res, 200, std::move(body));
}

// One settle item: {id, token, result | error, checkpoint?, progress?}.
struct SettleItem {
  JobId id = 0;
  std::int64_t token = 0;
  std::optional<std::string> result;
  Failure failure;
  std::optional<std::string> checkpoint;
  std::optional<Progress> progress;
};

Result<SettleItem> ParseSettle(const nlohmann::json& j, const std::string& prefix, bool fail) {
  if (!j.is_object()) {
    return Status::InvalidArgument((prefix.empty() ? std::string("body") : prefix.substr(0, prefix.size() - 1)) +
                                   ": must be an object");
  }
  JsonFields f(j, prefix);
  if (prefix.empty()) {
    JW_RETURN_IF_ERROR(fail ? f.OnlyKnown({"worker_id", "id", "token", "error", "checkpoint", "progress"})
                            : f.OnlyKnown({"worker_id", "id", "token", "result", "checkpoint", "progress"}));
  } else {
    JW_RETURN_IF_ERROR(fail ? f.OnlyKnown({"id", "token", "error", "checkpoint", "progress"})
                            : f.OnlyKnown({"id", "token", "result", "checkpoint", "progress"}));
  }
  SettleItem s;
  JW_ASSIGN_OR_RETURN(s.id, f.RequiredJobId("id"));
  JW_ASSIGN_OR_RETURN(auto token, f.Int("token", 1, kMaxInt64));
  if (!token) return Status::InvalidArgument(f.Name("token") + ": required");
  s.token = *token;
  JW_ASSIGN_OR_RETURN(s.checkpoint, f.JsonText("checkpoint"));
  JW_ASSIGN_OR_RETURN(s.progress, f.ProgressField("progress"));
  if (!fail) {
    JW_ASSIGN_OR_RETURN(s.result, f.JsonText("result"));
    return s;
  }
  const nlohmann::json* e = f.Find("error");
  if (e == nullptr) return Status::InvalidArgument(f.Name("error") + ": required");
  if (!e->is_object()) return Status::InvalidArgument(f.Name("error") + ": must be an object");
  JsonFields ef(*e, f.Name("error") + ".");
  JW_RETURN_IF_ERROR(ef.OnlyKnown({"class", "message", "retry_after_s", "limit", "output_tail"}));
  JW_ASSIGN_OR_RETURN(std::string cls, ef.RequiredString("class"));
  auto parsed = ParseErrorClass(cls);
  if (!parsed) return Status::InvalidArgument(ef.Name("class") + ": '" + cls + "' is not an error class");
  if (!ReportableByWorker(*parsed)) {
    return Status::InvalidArgument(ef.Name("class") + ": '" + cls +
                                   "' is decided by the server, not reported by a worker");
  }
  s.failure.error_class = *parsed;
  JW_ASSIGN_OR_RETURN(s.failure.message, ef.RequiredString("message"));
  JW_ASSIGN_OR_RETURN(s.failure.retry_after, ef.Seconds("retry_after_s"));
  JW_ASSIGN_OR_RETURN(s.failure.limit, ef.String("limit"));
  JW_ASSIGN_OR_RETURN(s.failure.output_tail, ef.String("output_tail"));
  return s;
}

nlohmann::json ItemOutcome(JobId id, const Status& s) {
  if (s.ok()) return {{"id", FormatJobId(id)}, {"status", 200}};
  const HttpError e = ToHttpError(s);
  nlohmann::json j = ErrorJson(e.code, s.message(), s.field());
  j["id"] = FormatJobId(id);
  j["status"] = e.status;
  return j;
}

// POST /v1/worker/complete and /fail: one job ({id, token, ...}) answers with
// the job's own status; many ({jobs: [...]}) answer 200 with one outcome per job.
void Settle(ServerContext& ctx, const ApiRequest& r, HttpResponse& res, bool fail) {
  const bool batch = r.body.contains("jobs");
  std::vector<SettleItem> items;
  if (batch) {
    JsonFields f(r.body);
    if (Status s = f.OnlyKnown({"worker_id", "jobs"}); !s.ok()) return ReplyStatus(res, s);
    if (auto w = f.String("worker_id"); !w.ok()) return ReplyStatus(res, w.status());
    const nlohmann::json& jobs = r.body["jobs"];
    if (!jobs.is_array() || jobs.empty() || jobs.size() > static_cast<std::size_t>(kMaxBulkJobs)) {
      return ReplyStatus(
          res, Status::InvalidArgument("jobs: must be an array of 1-" + std::to_string(kMaxBulkJobs) + " jobs"));
    }
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      auto item = ParseSettle(jobs[i], "jobs[" + std::to_string(i) + "].", fail);
      if (!item.ok()) return ReplyStatus(res, item.status());
      items.push_back(std::move(item).value());
    }
  } else {
    if (auto w = JsonFields(r.body).String("worker_id"); !w.ok()) return ReplyStatus(res, w.status());
    auto item = ParseSettle(r.body, "", fail);
    if (!item.ok()) return ReplyStatus(res, item.status());
    items.push_back(std::move(item).value());
  }

  std::vector<Status> outcomes;
  if (!fail) {
    std::vector<CompleteRequest> requests;
    requests.reserve(items.size());
    for (SettleItem& i : items) requests.push_back({i.id, i.token, i.result, i.checkpoint, i.progress});
    auto results = ctx.engine.CompleteMany(requests);
    if (!results.ok()) return ReplyStatus(res, results.status());
    outcomes = std::move(results).value();
  } else {
    for (SettleItem& i : items)
      outcomes.push_back(ctx.engine.Fail({i.id, i.token, i.failure, i.checkpoint, i.progress}));
  }
  const Timestamp now = ctx.engine.clock().Now();
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (outcomes[i].ok() && items[i].progress) ctx.events.PublishProgress(items[i].id, *items[i].progress, now);
  }
  if (!batch) {
    if (!outcomes.front().ok()) return ReplyStatus(res, outcomes.front());
    return ReplyJson(res, 200, ItemOutcome(items.front().id, outcomes.front()));
  }
  // One outcome per job; the usual one ({"id", "status": 200}) written straight to text.
  std::string body;
  body.reserve(16 + items.size() * 40);
  body += "{\"jobs\":[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) body += ',';
    if (outcomes[i].ok()) {
      body += "{\"id\":\"";
      body += FormatJobId(items[i].id);
      body += "\",\"status\":200}";
    } else {
      body += ItemOutcome(items[i].id, outcomes[i]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  body += "]}";
  ReplyJsonText(res, 200, std::move(body));
}

}  // namespace

void AddWorkerRoutes(Router& router, ServerContext* ctx) {
  router.Add("POST", "/v1/worker/register", Role::kWorker,
             [ctx](const ApiRequest& r, HttpResponse& res) { Register(*ctx, r, res); });
  router.Add("POST", "/v1/worker/deregister", Role::kWorker,
             [ctx](const ApiRequest& r, HttpResponse& res) { Deregister(*ctx, r, res); });
  router.Add("POST", "/v1/worker/fetch", Role::kWorker,
             [ctx](const ApiRequest& r, HttpResponse& res) { Fetch(*ctx, r, res); });
  router.Add("POST", "/v1/worker/heartbeat", Role::kWorker,
             [ctx](const ApiRequest& r, HttpResponse& res) { Heartbeat(*ctx, r, res); });
  router.Add("POST", "/v1/worker/complete", Role::kWorker,
             [ctx](const ApiRequest& r, HttpResponse& res) { Settle(*ctx, r, res, false); });
  router.Add("POST", "/v1/worker/fail", Role::kWorker,
             [ctx](const ApiRequest& r, HttpResponse& res) { Settle(*ctx, r, res, true); });
}

}  // namespace jobwarden::server
