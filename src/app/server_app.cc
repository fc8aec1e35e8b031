#include "app/server_app.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "app/logging.h"
#include "client/discovery.h"
#include "config/flow_limits.h"
#include "config/kinds.h"
#include "config/schedules.h"
#include "engine/engine.h"
#include "engine/reaper.h"
#include "os/process_identity.h"
#include "server/server.h"
#include "server/server_config.h"
#include "store/open_store.h"

namespace jobwarden {

namespace {

namespace fs = std::filesystem;

std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
}

// Blocks SIGTERM and SIGINT for the life of RunServer, so only its signal
// thread takes them (sigwait), and ignores SIGPIPE: a write to a peer that
// went away must fail, not kill the process.
class StopSignalMask {
 public:
  StopSignalMask() {
    sigemptyset(&stop_);
    sigaddset(&stop_, SIGTERM);
    sigaddset(&stop_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_, &old_);
    signal(SIGPIPE, SIG_IGN);
  }
  ~StopSignalMask() {
    // A stop signal that came while stopping (the second SIGTERM of an
    // impatient operator) is pending, and unblocked it would kill the
    // process with its default action instead of letting it exit 0: the
    // stop is done, so it is consumed here.
    const timespec now{0, 0};
    while (sigtimedwait(&stop_, nullptr, &now) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  StopSignalMask(const StopSignalMask&) = delete;
  StopSignalMask& operator=(const StopSignalMask&) = delete;
  const sigset_t& signals() const { return stop_; }

 private:
  sigset_t stop_;
  sigset_t old_;
};

Result<server::ServerConfig> ServerConfigFor(const ServerRunOptions& o) {
  JW_ASSIGN_OR_RETURN(server::ServerConfig config, server::LoadServerConfig(o.config_path));
  if (o.listen) {
    JW_RETURN_IF_ERROR(server::ParseListen(*o.listen, config.listen_host, config.listen_port).WithContext("--listen"));
  }
  if (o.state_dir) config.state_dir = *o.state_dir;
  JW_RETURN_IF_ERROR(server::ValidateServerConfig(config));
  return config;
}

}  // namespace

Status RunServer(const ServerRunOptions& o) {
  // Termination signals are taken by one thread with sigwait(); every other
  // thread (the store's writer included) starts with them blocked.
  StopSignalMask mask;

  JW_ASSIGN_OR_RETURN(server::ServerConfig config, ServerConfigFor(o));
  // Flag and environment win over the file (main() already applied them).
  SetLogFormat(o.log_format.value_or(config.log_format));
  EngineOptions engine_options;
  // Kind defaults ([kinds.*]) for enqueues through this server.
  JW_ASSIGN_OR_RETURN(KindsConfig kinds, LoadKinds(o.config_path));
  engine_options.kinds = std::move(kinds.defaults);
  // Flow-control limits ([queues.*], [resources.*]), applied before serving.
  JW_ASSIGN_OR_RETURN(const FlowLimits limits, LoadFlowLimits(o.config_path));
  // Schedules ([schedules.*]), stored before the reaper's first pass fires them.
  JW_ASSIGN_OR_RETURN(const std::vector<ScheduleSpec> schedules, LoadSchedules(o.config_path));

  JW_ASSIGN_OR_RETURN(const StoreLocation where, ParseStoreUrl(o.db_path));
  const fs::path db = fs::absolute(where.target);
  JW_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(o.db_path, {.durability = o.durability}));
  SystemClock clock;
  Engine engine(*store, clock, engine_options);
  if (!limits.empty()) JW_RETURN_IF_ERROR(engine.ApplyLimits(limits).WithContext(o.config_path));
  if (!schedules.empty()) JW_RETURN_IF_ERROR(engine.ApplySchedules(schedules).WithContext(o.config_path));

  const std::int64_t epoch = ToMillis(clock.Now());
  server::Server http(engine, config, epoch);
  JW_ASSIGN_OR_RETURN(const int port, http.Listen());

  const std::string url = "http://" + UrlHost(config.listen_host) + ":" + std::to_string(port);
  const fs::path discovery = DiscoveryFile(config.state_dir.empty() ? db.parent_path() : fs::path(config.state_dir));
  // Printed before the discovery file is written: whoever sees the file can also see the line.
  WriteStderrLine(spdlog::level::info, "listening on " + url);
  Status wrote = WriteDiscovery(discovery, {.url = url,
                                            .pid = static_cast<std::int64_t>(getpid()),
                                            .pid_start_time = ProcessStartTime(getpid()),
                                            .db = db.string(),
                                            .session_epoch = epoch,
                                            .started_at = FormatRfc3339(clock.Now())});
  if (!wrote.ok()) spdlog::warn("discovery file: {}", wrote.ToString());
  spdlog::info("jobwarden server on {} ({}; {} token(s))", url, store->Describe(), config.tokens.size());
  std::error_code ec;
  if (o.on_listening) {
    if (Status s = o.on_listening(url, engine); !s.ok()) {
      fs::remove(discovery, ec);
      return s;
    }
  }
  http.Start();
  // The tick must suit the shortest lease a worker may ask for (min(1 s, TTL/4)):
  // a pass gap longer than a lease's TTL counts as a restart and grants grace.
  // The first pass grants the restart grace of DESIGN's timing rules.
  Reaper reaper(engine, ReaperOptions{.tick = DefaultReaperTick(engine_options.min_lease_ttl),
                                      .server_start_grace = true,
                                      .on_pass = [&http](const ReapStats& stats) { http.OnReapPass(stats); }});
  reaper.Start();

  std::atomic<bool> stopping{false};
  std::atomic<bool> hook_ran{false};  // before_shutdown, once
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&mask.signals(), &sig);
    if (stopping.exchange(true)) return;
    if (o.before_shutdown && !hook_ran.exchange(true)) o.before_shutdown(sig);
    spdlog::info("{}: shutting down (new requests get 503; in-flight ones finish)", strsignal(sig));
    http.Shutdown();
  });

  Status served = http.Serve();
  if (!stopping.exchange(true)) pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  if (o.before_shutdown && !hook_ran.exchange(true)) o.before_shutdown(0);
  reaper.Stop();
  http.Stop();
  fs::remove(discovery, ec);
  if (served.ok()) spdlog::info("server stopped");
  return served;
}

}  // namespace jobwarden
