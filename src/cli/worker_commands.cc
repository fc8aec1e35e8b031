// `jobwarden worker` and `jobwarden up`: a worker in embedded mode on a local
// SQLite file, or (`worker --server URL`) a remote worker against a server
// (docs/worker.md). The wiring lives in app/; this file maps flags to a
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
#include "app/shutdown_signals.h"
#include "cli/cli.h"
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
  const fs::path db(global.db);
  if (db.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(db.parent_path(), ec);
    if (ec) {
      return Fail(Status::Unavailable("--db " + global.db + ": cannot create directory '" +
                                      db.parent_path().string() + "': " + ec.message()));
    }
  }

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

  int code = 0;
  {
    ShutdownSignals signals([&w, drain_timeout](int count, int signo) {
      const char* name = signo == SIGINT ? "SIGINT" : "SIGTERM";
      if (count == 1) {
        spdlog::info("{}: draining: no new jobs; running jobs get {} to finish, then are handed back with their "
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

  int code = 0;
  {
    ShutdownSignals signals([&w, drain_timeout](int count, int signo) {
      const char* name = signo == SIGINT ? "SIGINT" : "SIGTERM";
      if (count == 1) {
        spdlog::info("{}: draining: no new jobs; running jobs get {} to finish, then are handed back with their "
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
    spdlog::shutdown();
    std::fflush(nullptr);
    _exit(code);
  }
  return code;
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
  worker->add_option("--config", worker_flags->config, "The worker's TOML configuration (docs/worker.md)")
      ->required();
  AddFlags(*worker, *worker_flags);
  worker->callback([&action, &global, worker_flags] {
    action = [&global, worker_flags] {
      return global.server.empty() ? RunEmbedded(global, *worker_flags) : RunRemote(global, *worker_flags);
    };
  });

  auto up_flags = std::make_shared<WorkerFlags>();
  up_flags->up = true;
  CLI::App* up = app.add_subcommand(
      "up", "Run everything in one process on ./var/jobwarden.db (or --db): engine, reaper and a worker");
  up->add_option("--config", up_flags->config, "TOML configuration (default: ./jobwarden.toml when present)");
  up->add_option("--seed", up_flags->seed,
                 "TOML file of [[jobs]] to enqueue when the database has no jobs yet (the demo's)");
  AddFlags(*up, *up_flags);
  up->callback([&action, &global, up_flags] {
    action = [&global, up_flags] { return RunEmbedded(global, *up_flags); };
  });
}

}  // namespace jobwarden::cli
