#include "server/server_app.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "client/discovery.h"
#include "engine/engine.h"
#include "engine/process_identity.h"
#include "engine/reaper.h"
#include "server/api.h"
#include "server/event_hub.h"
#include "server/fetch_waiters.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/server_config.h"
#include "server/worker_sessions.h"
#include "store/sqlite/sqlite_store.h"
#include "worker/config.h"

namespace jobwarden::server {

namespace {

namespace fs = std::filesystem;

// How long shutdown waits for streams to deliver their last event.
constexpr auto kStreamDrain = std::chrono::seconds(2);

// Kind defaults ([kinds.*]) for enqueues through this server.
Result<std::map<std::string, KindDefaults>> LoadKinds(const std::string& path) {
  if (path.empty()) return std::map<std::string, KindDefaults>{};
  JW_ASSIGN_OR_RETURN(Config config, LoadConfig(path));
  return std::move(config.kinds);
}

std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
}

}  // namespace

Status RunServer(const ServerRunOptions& o) {
  // Termination signals are taken by one thread with sigwait(); every other
  // thread (the store's writer included) starts with them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  // A write to a peer that went away must fail, not kill the process.
  signal(SIGPIPE, SIG_IGN);
  struct RestoreMask {
    sigset_t mask;
    sigset_t stop;
    ~RestoreMask() {
      // A stop signal that came while stopping (the second SIGTERM of an
      // impatient operator) is pending, and unblocked it would kill the
      // process with its default action instead of letting it exit 0: the
      // stop is done, so it is consumed here.
      const timespec now{0, 0};
      while (sigtimedwait(&stop, nullptr, &now) > 0) {
      }
      pthread_sigmask(SIG_SETMASK, &mask, nullptr);
    }
  } restore{old_mask, stop_signals};

  JW_ASSIGN_OR_RETURN(ServerConfig config, LoadServerConfig(o.config_path));
  if (o.listen) {
    JW_RETURN_IF_ERROR(ParseListen(*o.listen, config.listen_host, config.listen_port).WithContext("--listen"));
  }
  if (o.state_dir) config.state_dir = *o.state_dir;
  JW_RETURN_IF_ERROR(ValidateServerConfig(config));

  EngineOptions engine_options;
  JW_ASSIGN_OR_RETURN(engine_options.kinds, LoadKinds(o.config_path));

  const fs::path db = fs::absolute(o.db_path);
  std::error_code ec;
  fs::create_directories(db.parent_path(), ec);
  auto store = OpenSqliteStore({.path = db.string(), .durability = o.durability});
  if (!store.ok()) return store.status().WithContext("open " + db.string());
  SystemClock clock;
  Engine engine(**store, clock, engine_options);

  const std::int64_t epoch = ToMillis(clock.Now());
  Metrics metrics;
  FetchWaiters waiters(config.max_long_polls);
  EventHub events(config.max_event_streams, [&engine](JobId id) { return engine.Get(id); });
  // A worker that cannot take a job (session dropped, or seen gone) has its
  // long-polls ended at once; their wake-ups go to live workers.
  WorkerSessions sessions(engine, {config.session_grace, config.max_sessions, epoch,
                                   [&waiters](const std::string& worker_id) { waiters.DropWorker(worker_id); }});
  engine.AddWorkerGoneListener([&sessions](const std::string& worker_id) { sessions.WorkerGone(worker_id); });
  engine.AddListener([&](const JobEventRecord& e) {
    metrics.OnJobEvent(e);
    if (e.to == JobState::kAvailable) {
      if (e.queue.empty()) {
        waiters.JobsAvailableAnywhere(1);
      } else {
        waiters.JobsAvailable(e.queue);
      }
    }
    events.PublishState(e);
    if (e.from == JobState::kRunning && e.to == JobState::kRunning) sessions.StopRequested(e.id);
  });

  ServerContext ctx(engine, config, metrics, waiters, events, sessions);
  Api api(&ctx);
  HttpServerOptions http_options;
  http_options.max_body_bytes = std::max(config.max_body_bytes, config.max_bulk_body_bytes);
  // Every capped waiter may hold a thread, and ordinary requests still need room.
  http_options.max_threads = config.max_long_polls + config.max_event_streams + config.max_sessions + 512;
  // Idle keep-alive connections close after this (and at once on shutdown).
  http_options.keep_alive_timeout = std::chrono::seconds(2);
  http_options.busy_poll = config.busy_poll;
  http_options.on_busy_poll = [&metrics](bool caught) { metrics.OnBusyPoll(caught); };
  auto http = MakeBeastServer(
      http_options, [&api](const HttpRequest& req, HttpResponse& res) { api.Handle(req, res); },
      [&api](std::string_view method, std::string_view path) { return api.BodyLimit(method, path); });
  JW_ASSIGN_OR_RETURN(const int port, http->Listen(config.listen_host, config.listen_port));

  const std::string url = "http://" + UrlHost(config.listen_host) + ":" + std::to_string(port);
  const fs::path discovery = DiscoveryFile(config.state_dir.empty() ? db.parent_path() : fs::path(config.state_dir));
  // Printed before the discovery file is written: whoever sees the file can also see the line.
  std::cerr << "listening on " << url << std::endl;
  Status wrote = WriteDiscovery(discovery, {.url = url,
                                            .pid = static_cast<std::int64_t>(getpid()),
                                            .pid_start_time = ProcessStartTime(getpid()),
                                            .db = db.string(),
                                            .session_epoch = epoch,
                                            .started_at = FormatRfc3339(clock.Now())});
  if (!wrote.ok()) spdlog::warn("discovery file: {}", wrote.ToString());
  spdlog::info("jobwarden server on {} ({}; {} token(s))", url, (*store)->Describe(), config.tokens.size());

  if (o.on_listening) {
    if (Status s = o.on_listening(url, engine); !s.ok()) {
      fs::remove(discovery, ec);
      return s;
    }
  }
  sessions.Start();
  // The tick must suit the shortest lease a worker may ask for (min(1 s, TTL/4)):
  // a pass gap longer than a lease's TTL counts as a restart and grants grace.
  // The first pass grants the restart grace of DESIGN's timing rules; every
  // pass wakes one long-poll per scheduled job it made available (promotions
  // emit no event).
  Reaper reaper(engine, ReaperOptions{.tick = DefaultReaperTick(engine_options.min_lease_ttl),
                                      .server_start_grace = true,
                                      .on_pass = [&waiters](const ReapStats& stats) {
                                        if (stats.promoted > 0) {
                                          waiters.JobsAvailableAnywhere(static_cast<std::size_t>(stats.promoted));
                                        }
                                      }});
  reaper.Start();

  std::atomic<bool> stopping{false};
  std::atomic<bool> hook_ran{false};  // before_shutdown, once
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (stopping.exchange(true)) return;
    if (o.before_shutdown && !hook_ran.exchange(true)) o.before_shutdown(sig);
    spdlog::info("{}: shutting down (new requests get 503; in-flight ones finish)", strsignal(sig));
    ctx.draining.store(true);
    waiters.Shutdown();
    sessions.CloseAll("the server is shutting down; reconnect to its successor");
    events.CloseAll("the server is shutting down");
    const auto give_up = std::chrono::steady_clock::now() + kStreamDrain;
    while ((events.subscribers() > 0 || sessions.open_sessions() > 0) && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    http->Stop();
  });

  Status served = http->Serve();
  if (!stopping.exchange(true)) pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  if (o.before_shutdown && !hook_ran.exchange(true)) o.before_shutdown(0);
  reaper.Stop();
  sessions.Stop();
  fs::remove(discovery, ec);
  if (served.ok()) spdlog::info("server stopped");
  return served;
}

}  // namespace jobwarden::server
