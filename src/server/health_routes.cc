// Probes and metrics: GET /healthz (the process answers), GET /readyz (the
// database answers and the server is not shutting down), GET /metrics.
#include <nlohmann/json.hpp>

#include "server/api.h"
#include "server/error_mapping.h"
#include "server/event_hub.h"
#include "server/fetch_waiters.h"
#include "server/metrics.h"
#include "server/worker_sessions.h"

namespace jobwarden::server {

namespace {

void Healthz(ServerContext& ctx, const ApiRequest&, HttpResponse& res) {
  ReplyJson(res, 200, {{"status", ctx.draining.load() ? "shutting_down" : "ok"}});
}

void Readyz(ServerContext& ctx, const ApiRequest&, HttpResponse& res) {
  if (ctx.draining.load()) return ReplyError(res, 503, "unavailable", "the server is shutting down");
  auto queues = ctx.engine.Queues();
  if (!queues.ok()) return ReplyStatus(res, Status::Unavailable("database: " + queues.status().message()));
  ReplyJson(res, 200, {{"status", "ready"}});
}

void MetricsText(ServerContext& ctx, const ApiRequest&, HttpResponse& res) {
  auto queues = ctx.engine.Queues();
  if (!queues.ok()) return ReplyStatus(res, queues.status());
  auto resources = ctx.engine.Resources();
  if (!resources.ok()) return ReplyStatus(res, resources.status());
  auto batches = ctx.engine.BatchStateCounts();
  if (!batches.ok()) return ReplyStatus(res, batches.status());
  StreamGauges g;
  g.long_polls = ctx.waiters.waiting();
  g.event_streams = ctx.events.subscribers();
  g.sessions = ctx.sessions.open_sessions();
  res.status = 200;
  res.content_type = "text/plain; version=0.0.4";
  res.body = ctx.metrics.Render(*queues, *resources, *batches, ctx.engine.clock().Now(), g);
}

}  // namespace

void AddHealthRoutes(Router& router, ServerContext* ctx) {
  router.Add("GET", "/healthz", Role::kPublic,
             [ctx](const ApiRequest& r, HttpResponse& res) { Healthz(*ctx, r, res); });
  router.Add("GET", "/readyz", Role::kPublic, [ctx](const ApiRequest& r, HttpResponse& res) { Readyz(*ctx, r, res); });
  router.Add("GET", "/metrics", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { MetricsText(*ctx, r, res); });
}

}  // namespace jobwarden::server
