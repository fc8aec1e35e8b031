// `jobwarden worker` and `jobwarden up`: a worker in embedded mode on a local
// SQLite file, or (`worker --server URL`) a remote worker against a server;
// `up` runs the server with N supervised remote workers (docs/worker.md).
// The wiring lives in app/ and server/; this file maps flags to a
// configuration, handles SIGTERM/SIGINT, and returns the exit code.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/embedded_worker.h"
#include "app/logging.h"
#include "app/remote_worker.h"
#include "app/seed_jobs.h"
#include "app/server_app.h"
#include "app/shutdown_signals.h"
#include "app/supervisor.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "server/server_config.h"
#include "worker/config.h"

namespace jobwarden::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kUpDefaultConfig = "jobwarden.toml";

struct WorkerFlags {
  bool up = false;  // `up` rather than `worker`
  std::string config;
  std::string seed;
  std::vector<std::string> queues;
  int concurrency = 0;  // 0: from the config
  std::string lease_ttl;
  std::string worker_id;  // `worker`: the id to register under (empty: the server's choice)
  int workers = 1;        // `up`: supervised worker processes
  std::string listen;     // `up`: HOST:PORT of the server
};

// The configuration: the file (for `up`, ./jobwarden.toml when present, else
// the defaults), the environment, then the flags.
Result<Config> BuildConfig(const WorkerFlags& f) {
  Config config;
  std::string path = f.config;
  if (path.empty() && f.up && fs::exists(kUpDefaultConfig)) path = kUpDefaultConfig;
  if (!path.empty()) {
    auto loaded = LoadConfig(path);
    if (!loaded.ok()) return loaded.status().WithContext("--config");
    config = std::move(*loaded);
  } else {
    JW_RETURN_IF_ERROR(ApplyEnvironment(config));
    spdlog::info("no config file (--config FILE, or {} here): no command kinds, default worker settings",
                 kUpDefaultConfig);
  }
  if (!f.queues.empty()) config.worker.queues = f.queues;
  if (f.concurrency != 0) config.worker.concurrency = f.concurrency;
  if (!f.worker_id.empty()) config.worker.worker_id = f.worker_id;
  if (!f.lease_ttl.empty()) {
    auto ttl = ParseDuration(f.lease_ttl);
    if (!ttl.ok()) return Status::InvalidArgument("--lease-ttl: " + ttl.status().message());
    if (*ttl < std::chrono::seconds(1) || *ttl > std::chrono::minutes(10)) {
      return Status::InvalidArgument("--lease-ttl: " + f.lease_ttl + " is outside 1s-10m");
    }
    config.worker.lease_ttl = *ttl;
    if (config.worker.grace > *ttl / 2) {
      return Status::InvalidArgument("--lease-ttl: " + f.lease_ttl + " must be at least twice the kill grace (" +
                                     FormatDurationShort(config.worker.grace) +
                                     "); lower `grace` in the config's [worker] and [kinds.*] tables");
    }
  }
  return config;
}

// Runs a started worker (embedded or remote) until it stops: the first
// SIGTERM/SIGINT drains, the second stops now. Returns the exit code.
template <typename Worker>
int RunUntilStopped(Worker& w, Duration drain_timeout) {
  int code = 0;
  {
    ShutdownSignals signals([&w, drain_timeout](int count, int signo) {
      const char* name = signo == SIGINT ? "SIGINT" : "SIGTERM";
      if (count == 1) {
        spdlog::info(
            "{}: draining: no new jobs; running jobs get {} to finish, then are handed back with their "
            "checkpoint (signal again to stop now)",
            name, FormatDurationShort(drain_timeout));
        w.Drain();
      } else if (count == 2) {
        spdlog::info("{} again: stopping now: running jobs are stopped and handed back", name);
        w.StopNow();
      }
    });
    code = w.Wait();
  }
  if (w.stats().abandoned > 0) {
    // A handler thread was given up on and may still run: leave without
    // running destructors under it (worker_pool.h), after flushing.
    spdlog::shutdown();
    std::fflush(nullptr);
    _exit(code);
  }
  return code;
}

int RunEmbedded(const GlobalOptions& global, const WorkerFlags& flags) {
  // Before any thread exists, so every thread inherits the blocked mask and
  // only the signal thread below takes SIGTERM/SIGINT.
  BlockShutdownSignals();
  InitProcessLogging();

  auto config = BuildConfig(flags);
  if (!config.ok()) return Fail(config.status());
  std::vector<EnqueueRequest> seed;
  if (!flags.seed.empty()) {
    auto jobs = LoadSeedJobs(flags.seed);
    if (!jobs.ok()) return Fail(jobs.status().WithContext("--seed"));
    seed = std::move(*jobs);
  }
  // OpenStore (through EmbeddedWorker) parses the --db URL and creates a SQLite file's directory.
  EmbeddedWorkerOptions options;
  options.db_path = global.db;
  options.config = std::move(*config);
  const Duration drain_timeout = options.config.worker.drain_timeout;
  auto worker = EmbeddedWorker::Create(std::move(options));
  if (!worker.ok()) return Fail(worker.status());
  EmbeddedWorker& w = **worker;
  if (!seed.empty()) {
    auto seeded = SeedIfEmpty(w.engine(), seed);
    if (!seeded.ok()) return Fail(seeded.status().WithContext("--seed " + flags.seed));
  }
  if (Status s = w.Start(); !s.ok()) return Fail(s);

  return RunUntilStopped(w, drain_timeout);
}

// `jobwarden worker --server URL`: the same pool against a server's HTTP API;
// no database, no reaper (the server runs them).
int RunRemote(const GlobalOptions& global, const WorkerFlags& flags) {
  BlockShutdownSignals();
  InitProcessLogging();

  auto config = BuildConfig(flags);
  if (!config.ok()) return Fail(config.status());
  RemoteWorkerOptions options;
  options.server = global.server;
  options.token = global.token;
  options.config = std::move(*config);
  const Duration drain_timeout = options.config.worker.drain_timeout;
  auto worker = RemoteWorker::Create(std::move(options));
  if (!worker.ok()) return Fail(worker.status());
  RemoteWorker& w = **worker;
  if (Status s = w.Start(); !s.ok()) return Fail(s);

  return RunUntilStopped(w, drain_timeout);
}

// How long `up` waits for its workers after SIGTERM before it SIGKILLs
// them, beyond their drain and kill grace: time to hand the jobs back.
constexpr Duration kUpStopMargin = std::chrono::seconds(5);

// The bearer token of the supervised workers, when the server wants one:
// --token, else the config's (or environment's) first worker, else admin, token.
std::string UpWorkerToken(const GlobalOptions& global, const server::ServerConfig& config) {
  if (!global.token.empty()) return global.token;
  for (const server::Role role : {server::Role::kWorker, server::Role::kAdmin}) {
    for (const auto& [token, r] : config.tokens) {
      if (r == role) return token;
    }
  }
  return "";
}

// On the server's signal thread, while it still serves: SIGTERM to every
// worker (they drain and hand back what still runs as `interrupted`), a
// further signal passed on (they stop their jobs now), SIGKILL after
// `timeout` (the supervisor then takes their jobs back as worker_lost).
void StopWorkers(WorkerSupervisor& supervisor, int signo, Duration timeout) {
  const char* name = signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "the server stopped";
  spdlog::info(
      "{}: stopping {} worker(s) with SIGTERM (they finish or hand back their jobs, within {}), then the "
      "server (signal again to have the workers stop their jobs now)",
      name, supervisor.running(), FormatDurationShort(timeout));
  supervisor.BeginStop();
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (!supervisor.WaitAllExited(std::chrono::milliseconds(100))) {
    if (std::chrono::steady_clock::now() >= give_up) {
      spdlog::warn("workers still running after {}: SIGKILL", FormatDurationShort(timeout));
      supervisor.SignalAll(SIGKILL);
      (void)supervisor.WaitAllExited(std::chrono::seconds(10));
      break;
    }
    const timespec now{0, 0};
    const int again = sigtimedwait(&signals, nullptr, &now);
    if (again > 0) {
      spdlog::info("{} again: the workers stop their jobs now and hand them back",
                   again == SIGINT ? "SIGINT" : "SIGTERM");
      supervisor.SignalAll(SIGTERM);
    }
  }
  supervisor.Stop();
}

// `jobwarden up`: the server in this process and N `jobwarden worker
// --server URL` processes, supervised (app/supervisor.h).
int RunUp(const GlobalOptions& global, const WorkerFlags& flags) {
  InitProcessLogging();

  WorkerFlags f = flags;
  if (f.config.empty() && fs::exists(kUpDefaultConfig)) f.config = kUpDefaultConfig;
  if (f.config.empty()) {
    return Fail(Status::InvalidArgument(std::string("--config: up needs a config file (or ") + kUpDefaultConfig +
                                        " here): its workers run the command kinds declared there"));
  }
  f.config = fs::absolute(f.config).string();
  auto config = BuildConfig(f);  // the workers' configuration, checked before anything starts
  if (!config.ok()) return Fail(config.status());
  auto server_config = server::LoadServerConfig(f.config);
  if (!server_config.ok()) return Fail(server_config.status().WithContext("--config"));
  // The server and its workers log alike: --log-format / $JOBWARDEN_LOG_FORMAT, else [server] log_format.
  const LogFormat log_format = global.log_format.value_or(server_config->log_format);
  SetLogFormat(log_format);
  std::vector<EnqueueRequest> seed;
  if (!f.seed.empty()) {
    auto jobs = LoadSeedJobs(f.seed);
    if (!jobs.ok()) return Fail(jobs.status().WithContext("--seed"));
    seed = std::move(*jobs);
  }

  std::vector<std::string> env;
  if (const std::string token = UpWorkerToken(global, *server_config); !token.empty()) {
    env.push_back("JOBWARDEN_TOKEN=" + token);  // not in argv, where `ps` shows it
  }
  auto control = MakeProcessControl("/proc/self/exe", std::move(env));
  std::unique_ptr<WorkerSupervisor> supervisor;
  const Duration stop_timeout = config->worker.drain_timeout + config->worker.grace + kUpStopMargin;

  ServerRunOptions o;
  o.db_path = global.db;
  o.config_path = f.config;
  o.log_format = log_format;
  if (!f.listen.empty()) o.listen = f.listen;
  o.on_listening = [&](const std::string& url, Engine& engine) -> Status {
    if (!seed.empty()) {
      auto seeded = SeedIfEmpty(engine, seed);
      if (!seeded.ok()) return seeded.status().WithContext("--seed " + f.seed);
    }
    SupervisorOptions so;
    so.argv = {"jobwarden", "worker", "--server", url, "--config", f.config};
    so.argv.insert(so.argv.end(), {"--log-format", std::string(ToString(log_format))});
    if (!f.queues.empty()) {
      std::string joined;
      for (const std::string& q : f.queues) joined += (joined.empty() ? "" : ",") + q;
      so.argv.insert(so.argv.end(), {"--queues", joined});
    }
    if (f.concurrency != 0) so.argv.insert(so.argv.end(), {"--concurrency", std::to_string(f.concurrency)});
    if (!f.lease_ttl.empty()) so.argv.insert(so.argv.end(), {"--lease-ttl", f.lease_ttl});
    so.workers = f.workers;
    so.id_prefix = "up-" + std::to_string(getpid());
    // A supervised worker that exited: its death is seen, so its jobs are
    // taken back now rather than at lease end (DESIGN.md G1). After a clean
    // exit it holds none.
    supervisor = std::make_unique<WorkerSupervisor>(so, *control, [&engine](const SupervisedExit& e) {
      const std::string why =
          "worker " + e.worker_id + " (pid " + std::to_string(e.pid) + ") " + DescribeWaitStatus(e.wait_status);
      auto taken = engine.TakeBackWorker(e.worker_id, ErrorClass::kWorkerLost, why);
      if (!taken.ok()) {
        spdlog::warn("{}: taking its jobs back failed (its leases will expire): {}", why, taken.status().ToString());
      } else if (!taken->empty()) {
        spdlog::warn("{}: {} job(s) taken back at once", why, taken->size());
      }
    });
    spdlog::info("jobwarden up: server {}, {} supervised worker(s), config {}", url, f.workers, f.config);
    supervisor->Start();
    return Status::Ok();
  };
  o.before_shutdown = [&](int signo) {
    if (supervisor) StopWorkers(*supervisor, signo, stop_timeout);
  };
  const Status served = RunServer(o);
  supervisor.reset();  // already stopped by before_shutdown
  return served.ok() ? kExitOk : Fail(served);
}

void AddFlags(CLI::App& cmd, WorkerFlags& f) {
  cmd.add_option("--queues", f.queues, "Queues to fetch from, comma-separated (default: the config's, else default)")
      ->delimiter(',');
  cmd.add_option("--concurrency", f.concurrency, "Slots: jobs run at once (default: the config's, else 4)")
      ->check(CLI::Range(1, 1024));
  cmd.add_option("--lease-ttl", f.lease_ttl,
                 "Lease TTL asked at fetch, 1s-10m (default: the config's, else 10s); heartbeat every TTL/3");
}

}  // namespace

void AddWorkerCommands(CLI::App& app, GlobalOptions& global, Action& action) {
  auto worker_flags = std::make_shared<WorkerFlags>();
  CLI::App* worker = app.add_subcommand(
      "worker",
      "Run a worker: embedded (engine, reaper and pool on the --db file), or with --server URL against a server");
  worker->add_option("--config", worker_flags->config, "The worker's TOML configuration (docs/worker.md)")->required();
  AddFlags(*worker, *worker_flags);
  worker->callback([&action, &global, worker_flags] {
    action = [&global, worker_flags] {
      return global.server.empty() ? RunEmbedded(global, *worker_flags) : RunRemote(global, *worker_flags);
    };
  });

  worker->add_option("--worker-id", worker_flags->worker_id,
                     "Register under this id (default: one the engine or server picks); `up` names its workers");

  auto up_flags = std::make_shared<WorkerFlags>();
  up_flags->up = true;
  CLI::App* up = app.add_subcommand(
      "up", "Run the server on ./var/jobwarden.db (or --db) and N supervised worker processes; SIGTERM stops all");
  up->add_option("--config", up_flags->config,
                 "TOML configuration: [server], [worker], [kinds.*] (default: ./jobwarden.toml when present)");
  up->add_option("--seed", up_flags->seed,
                 "TOML file of [[jobs]] to enqueue when the database has no jobs yet (the demo's)");
  up->add_option("--workers", up_flags->workers, "Worker processes to run and restart when they die")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  up->add_option("--listen", up_flags->listen,
                 "HOST:PORT of the server (default: the config's [server] listen, else 127.0.0.1:7070; port 0: any)");
  AddFlags(*up, *up_flags);
  up->callback([&action, &global, up_flags] { action = [&global, up_flags] { return RunUp(global, *up_flags); }; });
}

}  // namespace jobwarden::cli
