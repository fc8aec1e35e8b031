#include "server/server.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "engine/engine.h"
#include "server/api.h"
#include "server/event_hub.h"
#include "server/fetch_waiters.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/worker_sessions.h"

namespace jobwarden::server {

namespace {

// How long shutdown waits for streams to deliver their last event.
constexpr auto kStreamDrain = std::chrono::seconds(2);

}  // namespace

// Declared in dependency order: each part is built from the ones above it
// and destroyed before them.
struct Server::Parts {
  Parts(Engine& e, ServerConfig c, std::int64_t epoch)
      : engine(e),
        config(std::move(c)),
        metrics(e.clock()),
        waiters(config.max_long_polls),
        events(config.max_event_streams, [&e](JobId id) { return e.Get(id); }),
        // A worker that cannot take a job (session dropped, or seen gone) has
        // its long-polls ended at once; their wake-ups go to live workers.
        sessions(e, {config.session_grace, config.max_sessions, epoch,
                     [this](const std::string& worker_id) { waiters.DropWorker(worker_id); }}),
        ctx(e, config, metrics, waiters, events, sessions),
        api(&ctx) {}

  Engine& engine;
  const ServerConfig config;
  Metrics metrics;
  FetchWaiters waiters;
  EventHub events;
  WorkerSessions sessions;
  ServerContext ctx;
  Api api;
  std::unique_ptr<HttpServer> http;
};

Server::Server(Engine& engine, ServerConfig config, std::int64_t session_epoch)
    : parts_(std::make_unique<Parts>(engine, std::move(config), session_epoch)) {
  Parts& p = *parts_;
  engine.AddWorkerGoneListener([&p](const std::string& worker_id) { p.sessions.WorkerGone(worker_id); });
  engine.AddListener([&p](const JobEventRecord& e) {
    p.metrics.OnJobEvent(e);
    if (e.to == JobState::kAvailable) {
      if (e.queue.empty()) {
        p.waiters.JobsAvailableAnywhere(1);
      } else {
        p.waiters.JobsAvailable(e.queue);
      }
    }
    // A job stopped running where limits are set: the slot it freed (a
    // queue's or a resource's concurrency, a breaker's probe) may let a held
    // job of any queue start, and no `-> available` event says so.
    if (e.from == JobState::kRunning && e.to != JobState::kRunning && p.engine.HasFlowLimits()) {
      p.waiters.WakeOnePerQueue();
    }
    p.events.PublishState(e);
    if (e.from == JobState::kRunning && e.to == JobState::kRunning) p.sessions.StopRequested(e.id);
  });
  engine.AddFlowListener([&p](const FlowEvent& e) { p.events.PublishFlow(e); });
  engine.AddBatchListener([&p](const BatchInfo& b) {
    p.metrics.OnBatch(b);
    p.events.PublishBatch(b);
  });

  HttpServerOptions http_options;
  http_options.max_body_bytes = std::max(p.config.max_body_bytes, p.config.max_bulk_body_bytes);
  // Every capped waiter may hold a thread, and ordinary requests still need room.
  http_options.max_threads = p.config.max_long_polls + p.config.max_event_streams + p.config.max_sessions + 512;
  // Idle keep-alive connections close after this (and at once on shutdown).
  http_options.keep_alive_timeout = std::chrono::seconds(2);
  http_options.busy_poll = p.config.busy_poll;
  http_options.on_busy_poll = [&p](bool caught) { p.metrics.OnBusyPoll(caught); };
  p.http = MakeBeastServer(
      http_options, [&p](const HttpRequest& req, HttpResponse& res) { p.api.Handle(req, res); },
      [&p](std::string_view method, std::string_view path) { return p.api.BodyLimit(method, path); });
}

Server::~Server() = default;

Result<int> Server::Listen() { return parts_->http->Listen(parts_->config.listen_host, parts_->config.listen_port); }

void Server::Start() { parts_->sessions.Start(); }

Status Server::Serve() { return parts_->http->Serve(); }

void Server::Shutdown() {
  Parts& p = *parts_;
  p.ctx.draining.store(true);
  p.waiters.Shutdown();
  p.sessions.CloseAll("the server is shutting down; reconnect to its successor");
  p.events.CloseAll("the server is shutting down");
  const auto give_up = std::chrono::steady_clock::now() + kStreamDrain;
  while ((p.events.subscribers() > 0 || p.sessions.open_sessions() > 0) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  p.http->Stop();
}

void Server::Stop() { parts_->sessions.Stop(); }

void Server::OnReapPass(const ReapStats& stats) {
  if (stats.promoted > 0) parts_->waiters.JobsAvailableAnywhere(static_cast<std::size_t>(stats.promoted));
  // Queue warnings and breaker changes since the last pass: events and log lines.
  if (Status s = parts_->engine.WatchFlow(); !s.ok()) spdlog::warn("flow watch: {}", s.ToString());
}

}  // namespace jobwarden::server
