// Queues (list, get, set limits, pause, resume, latency), workers (list) and admin (reset-stuck).
#include <nlohmann/json.hpp>

#include <algorithm>

#include "protocol/flow_json.h"
#include "protocol/job_json.h"
#include "protocol/json_fields.h"
#include "server/api.h"
#include "server/error_mapping.h"
#include "server/fetch_waiters.h"
#include "server/metrics.h"
#include "server/worker_sessions.h"

namespace jobwarden::server {

namespace {

nlohmann::json TimeOrNull(const std::optional<Timestamp>& t) {
  return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
}

void ListQueues(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  if (Status s = OnlyKnownParams(r.http.query, {}); !s.ok()) return ReplyStatus(res, s);
  auto queues = ctx.engine.Queues();
  if (!queues.ok()) return ReplyStatus(res, queues.status());
  const Timestamp now = ctx.engine.clock().Now();
  nlohmann::json list = nlohmann::json::array();
  for (const QueueInfo& q : *queues) list.push_back(QueueInfoToJson(q, now));
  ReplyJson(res, 200, {{"queues", std::move(list)}});
}

// GET /v1/latency?window_s=300: per queue and kind, wait / run / enqueue ->
// finish p50 and p95 over the last minutes (LatencyStats).
void Latency(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  if (Status s = OnlyKnownParams(r.http.query, {"window_s"}); !s.ok()) return ReplyStatus(res, s);
  auto window = SecondsParam(r.http.query, "window_s", 60.0 * LatencyStats::kMaxWindowMinutes);
  if (!window.ok()) return ReplyStatus(res, window.status());
  const Duration w = window->value_or(std::chrono::minutes(5));
  const auto minutes =
      std::clamp<std::int64_t>(std::chrono::ceil<std::chrono::minutes>(w).count(), 1, LatencyStats::kMaxWindowMinutes);
  const auto figure = [](const LatencyStats::Quantiles& q) {
    return nlohmann::json{{"count", q.count}, {"p50_s", q.p50_s}, {"p95_s", q.p95_s}};
  };
  nlohmann::json groups = nlohmann::json::array();
  for (const LatencyStats::Group& g : ctx.metrics.latency().Window(w)) {
    groups.push_back({{"queue", g.queue},
                      {"kind", g.kind},
                      {"wait", figure(g.wait)},
                      {"run", figure(g.run)},
                      {"total", figure(g.total)}});
  }
  ReplyJson(res, 200, {{"window_s", minutes * 60}, {"groups", std::move(groups)}});
}

void GetQueue(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  if (Status s = OnlyKnownParams(r.http.query, {}); !s.ok()) return ReplyStatus(res, s);
  auto q = ctx.engine.Queue(r.Param("name"));
  if (!q.ok()) return ReplyStatus(res, q.status());
  ReplyJson(res, 200, QueueInfoToJson(*q, ctx.engine.clock().Now()));
}

// PUT /v1/queues/{name}: a merge-patch of the queue's limits; answers the queue.
void SetQueueLimits(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  auto patch = ParseQueueLimitsPatch(r.body);
  if (!patch.ok()) return ReplyStatus(res, patch.status());
  const std::string& name = r.Param("name");
  auto q = ctx.engine.SetQueueLimits(name, *patch);
  if (!q.ok()) return ReplyStatus(res, q.status());
  // A raised (or cleared) concurrency may let waiting fetches lease now.
  ctx.waiters.WakeQueue(name);
  ReplyJson(res, 200, QueueInfoToJson(*q, ctx.engine.clock().Now()));
}

void PauseOrResume(ServerContext& ctx, const ApiRequest& r, HttpResponse& res, bool pause) {
  if (Status s = JsonFields(r.body).OnlyKnown({}); !s.ok()) return ReplyStatus(res, s);
  const std::string& name = r.Param("name");
  Status s = pause ? ctx.engine.PauseQueue(name) : ctx.engine.ResumeQueue(name);
  if (!s.ok()) return ReplyStatus(res, s);
  // A resumed queue may hold a backlog: every waiter on it fetches again.
  if (!pause) ctx.waiters.WakeQueue(name);
  ReplyJson(res, 200, {{"name", name}, {"paused", pause}});
}

void ListWorkers(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  if (Status s = OnlyKnownParams(r.http.query, {"include_stopped"}); !s.ok()) return ReplyStatus(res, s);
  bool include_stopped = false;
  if (auto v = Param(r.http.query, "include_stopped")) {
    if (*v != "true" && *v != "false") {
      return ReplyStatus(res, Status::InvalidArgument("include_stopped: must be true or false"));
    }
    include_stopped = *v == "true";
  }
  auto workers = ctx.engine.Workers(include_stopped);
  if (!workers.ok()) return ReplyStatus(res, workers.status());
  nlohmann::json list = nlohmann::json::array();
  for (const WorkerRecord& w : *workers) {
    list.push_back({{"id", w.id},
                    {"host", w.host},
                    {"pid", w.pid},
                    {"queues", w.queues},
                    {"slots", w.slots},
                    {"busy", w.busy},
                    {"started_at", FormatRfc3339(w.started_at)},
                    {"last_seen", FormatRfc3339(w.last_seen_at)},
                    {"stopped_at", TimeOrNull(w.stopped_at)},
                    {"session_open", ctx.sessions.HasSession(w.id)}});
  }
  ReplyJson(res, 200, {{"workers", std::move(list)}});
}

void ResetStuck(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  JsonFields f(r.body);
  if (Status s = f.OnlyKnown({"older_than_s"}); !s.ok()) return ReplyStatus(res, s);
  auto older = f.Seconds("older_than_s");
  if (!older.ok()) return ReplyStatus(res, older.status());
  if (!*older) return ReplyStatus(res, Status::InvalidArgument("older_than_s: required"));
  auto result = ctx.engine.ResetStuck(**older);
  if (!result.ok()) return ReplyStatus(res, result.status());
  nlohmann::json ids = nlohmann::json::array();
  for (JobId id : result->job_ids) ids.push_back(FormatJobId(id));
  ReplyJson(res, 200, {{"reset_count", result->reset_count}, {"job_ids", std::move(ids)}});
}

}  // namespace

void AddQueueRoutes(Router& router, ServerContext* ctx) {
  router.Add("GET", "/v1/latency", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { Latency(*ctx, r, res); });
  router.Add("GET", "/v1/queues", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { ListQueues(*ctx, r, res); });
  router.Add("GET", "/v1/queues/{name}", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { GetQueue(*ctx, r, res); });
  router.Add("PUT", "/v1/queues/{name}", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { SetQueueLimits(*ctx, r, res); });
  router.Add("POST", "/v1/queues/{name}/pause", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { PauseOrResume(*ctx, r, res, true); });
  router.Add("POST", "/v1/queues/{name}/resume", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { PauseOrResume(*ctx, r, res, false); });
  router.Add("GET", "/v1/workers", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { ListWorkers(*ctx, r, res); });
  router.Add("POST", "/v1/admin/reset-stuck", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { ResetStuck(*ctx, r, res); });
}

}  // namespace jobwarden::server
