// Streams: GET /v1/events (Server-Sent Events of job state changes and
// progress) and GET /v1/worker/session (a worker's life-long session).
#include <nlohmann/json.hpp>

#include "protocol/job_json.h"
#include "protocol/json_fields.h"
#include "server/api.h"
#include "server/error_mapping.h"
#include "server/event_hub.h"
#include "server/stream_channel.h"
#include "server/worker_sessions.h"

namespace jobwarden::server {

namespace {

void SseHeaders(HttpResponse& res) {
  res.status = 200;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Accel-Buffering", "no");
}

void Events(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  const auto& q = r.http.query;
  if (Status s = OnlyKnownParams(q, {"job_id", "queue", "coalesce_s"}); !s.ok()) return ReplyStatus(res, s);
  EventFilter filter;
  if (auto v = Param(q, "job_id")) {
    auto id = ParseJobId(*v);
    if (!id.ok()) return ReplyStatus(res, Status::InvalidArgument("job_id: '" + *v + "' is not a job id"));
    filter.job_id = *id;
  }
  if (auto v = Param(q, "queue")) filter.queue = *v;
  // A dashboard's stream: at most one `changes` message per interval.
  auto coalesce = SecondsParam(q, "coalesce_s", 10);
  if (!coalesce.ok()) return ReplyStatus(res, coalesce.status());
  if (*coalesce) filter.coalesce = **coalesce;

  auto sub = ctx.events.Subscribe(filter);
  if (!sub) {
    return ReplyError(res, 503, "unavailable",
                      "too many open event streams (limit " + std::to_string(ctx.config.max_event_streams) + ")");
  }
  sub->channel->Push(": connected\n\n");
  if (filter.job_id) {
    // Subscribed first, then read: a change in between is sent twice at
    // worst, never missed. A late subscriber starts from the current state.
    auto job = ctx.engine.Get(*filter.job_id);
    if (!job.ok()) {
      ctx.events.Unsubscribe(sub);
      return ReplyStatus(res, job.status());
    }
    sub->channel->Push(SseFrame("job", JobJsonText(*job)));
  }
  SseHeaders(res);
  res.stream = ChannelProducer(sub->channel, ctx.config.event_tick);
  EventHub* hub = &ctx.events;
  res.on_stream_end = [hub, sub](bool /*peer_gone*/) { hub->Unsubscribe(sub); };
}

void Session(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  const auto& q = r.http.query;
  if (Status s = OnlyKnownParams(q, {"worker_id", "epoch"}); !s.ok()) return ReplyStatus(res, s);
  auto id = Param(q, "worker_id");
  if (!id || id->empty())
    return ReplyStatus(res, Status::InvalidArgument("worker_id: required").WithField("worker_id"));
  // `epoch` (from register) is informational: the hello event carries the
  // current one, and a worker that sees it changed knows the server restarted.
  auto session = ctx.sessions.Open(*id);
  if (!session.ok()) return ReplyStatus(res, session.status());
  SseHeaders(res);
  std::shared_ptr<WorkerSessions::Session> s = *session;
  res.stream = ChannelProducer(s->channel, ctx.config.session_tick);
  WorkerSessions* sessions = &ctx.sessions;
  res.on_stream_end = [sessions, s](bool /*peer_gone*/) { sessions->Ended(s); };
}

}  // namespace

void AddStreamRoutes(Router& router, ServerContext* ctx) {
  router.Add("GET", "/v1/events", Role::kRead, [ctx](const ApiRequest& r, HttpResponse& res) { Events(*ctx, r, res); });
  router.Add("GET", "/v1/worker/session", Role::kWorker,
             [ctx](const ApiRequest& r, HttpResponse& res) { Session(*ctx, r, res); });
}

}  // namespace jobwarden::server
