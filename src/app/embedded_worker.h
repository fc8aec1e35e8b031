// The wiring of one embedded worker process (DESIGN.md "Embedded mode"):
//
//   config -> SubprocessSupervisor -> SQLite store -> Engine -> LocalBackend
//          -> Reaper -> WorkerPool (command kinds via CommandRunner)
//
// No logic lives here: each component documents its own contract. Used by
// `jobwarden worker` and `jobwarden up`; `up` will add the HTTP server and
// supervised worker processes beside the same engine (issue #4), which is why
// the engine is reachable through engine().
//
// Order matters in two places:
// - The SubprocessSupervisor is created first, before the pool's threads:
//   every handler is forked by its one long-lived thread, so a handler's
//   parent-death signal fires only when the worker process dies.
// - The LocalBackend registers a listener on the engine, so it is built
//   before any thread may use the engine (the reaper, the pool).
// Destruction runs in reverse: the pool stops (handing running jobs back),
// then the reaper, then the store, and the supervisor last (it kills any
// attempt still running and joins its thread).
#pragma once

#include <memory>
#include <string>

#include "app/local_backend.h"
#include "core/clock.h"
#include "core/status.h"
#include "engine/engine.h"
#include "engine/reaper.h"
#include "store/store.h"
#include "worker/config.h"
#include "worker/subprocess.h"
#include "worker/worker_pool.h"

namespace jobwarden {

class LoggingBackend;

struct EmbeddedWorkerOptions {
  std::string db_path;                           // created if missing; its directory must exist
  Durability durability = Durability::kProcess;  // Default: process
  Config config;                                 // worker options and kinds (LoadConfig + flags)
};

class EmbeddedWorker {
 public:
  // Builds every component; starts only the threads the supervisor and the
  // store own. Errors: InvalidArgument for a bad configuration, Unavailable or
  // Internal when the database cannot be opened.
  static Result<std::unique_ptr<EmbeddedWorker>> Create(EmbeddedWorkerOptions options);
  ~EmbeddedWorker();  // stops everything, in reverse order of construction
  EmbeddedWorker(const EmbeddedWorker&) = delete;
  EmbeddedWorker& operator=(const EmbeddedWorker&) = delete;

  // The engine on the local file: enqueue, inspect. Safe for concurrent use.
  Engine& engine() { return *engine_; }

  // Starts the reaper, then the pool (which registers the worker), and logs
  // one startup line (db, queues, slots, lease TTL, reaper tick, kinds).
  Status Start();
  // See WorkerPool: graceful stop, immediate stop. Return at once.
  void Drain();
  void StopNow();
  // Blocks until the pool stopped, then stops the reaper. Returns the pool's
  // exit code: 0 after a clean stop, 70 when it gave up on hung handlers.
  int Wait();
  WorkerStats stats() const { return pool_->stats(); }

 private:
  explicit EmbeddedWorker(EmbeddedWorkerOptions options);

  EmbeddedWorkerOptions options_;
  Duration reaper_tick_{};
  // Declaration order is construction order; destruction is the reverse.
  std::unique_ptr<SubprocessSupervisor> supervisor_;
  std::unique_ptr<Store> store_;
  SystemClock clock_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<LocalBackend> local_backend_;
  std::unique_ptr<LoggingBackend> backend_;
  std::unique_ptr<Reaper> reaper_;
  std::unique_ptr<WorkerPool> pool_;
};

}  // namespace jobwarden
