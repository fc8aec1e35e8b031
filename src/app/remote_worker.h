// The wiring of one remote worker process (`jobwarden worker --server URL`):
//
//   config -> SubprocessSupervisor -> RemoteBackend (HTTP) -> WorkerPool
//          (command kinds via CommandRunner)
//
// The same pool as embedded mode, against a server: no database is opened
// and no reaper runs here (the server's engine owns both). No logic lives
// here: each component documents its own contract. Order as in
// embedded_worker.h: the supervisor first (before any pool thread), the pool
// destroyed first.
#pragma once

#include <memory>
#include <string>

#include "client/remote_backend.h"
#include "core/status.h"
#include "worker/config.h"
#include "worker/subprocess.h"
#include "worker/worker_pool.h"

namespace jobwarden {

class LoggingBackend;

struct RemoteWorkerOptions {
  std::string server;  // http://HOST:PORT
  std::string token;   // bearer token (role worker or admin); empty: none
  Config config;       // worker options and kinds (LoadConfig + flags)
};

class RemoteWorker {
 public:
  // Builds every component. InvalidArgument for a bad configuration or URL.
  static Result<std::unique_ptr<RemoteWorker>> Create(RemoteWorkerOptions options);
  ~RemoteWorker();
  RemoteWorker(const RemoteWorker&) = delete;
  RemoteWorker& operator=(const RemoteWorker&) = delete;

  // Registers with the server (retrying a few seconds if it is not up yet),
  // opens the session and starts the pool.
  Status Start();
  void Drain();
  void StopNow();
  int Wait();
  WorkerStats stats() const { return pool_->stats(); }

 private:
  explicit RemoteWorker(RemoteWorkerOptions options);

  RemoteWorkerOptions options_;
  std::unique_ptr<SubprocessSupervisor> supervisor_;
  std::unique_ptr<client::RemoteBackend> remote_;
  std::unique_ptr<LoggingBackend> backend_;
  std::unique_ptr<WorkerPool> pool_;
  bool waited_ = false;
};

}  // namespace jobwarden
