#include "app/remote_worker.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "app/job_log.h"
#include "worker/command_runner.h"

namespace jobwarden {

RemoteWorker::RemoteWorker(RemoteWorkerOptions options) : options_(std::move(options)) {}

RemoteWorker::~RemoteWorker() {
  if (pool_ && !waited_) {
    pool_->StopNow();
    (void)pool_->Wait();
  }
  // The session thread calls into the pool; the pool's stop deregisters, which stops the
  // session first, so no callback can reach the pool once it is gone.
  pool_.reset();
}

Result<std::unique_ptr<RemoteWorker>> RemoteWorker::Create(RemoteWorkerOptions options) {
  std::unique_ptr<RemoteWorker> w(new RemoteWorker(std::move(options)));
  const Config& config = w->options_.config;
  const WorkerOptions& wo = config.worker;
  if (wo.grace > wo.lease_ttl / 2) {
    return Status::InvalidArgument("grace " + FormatDurationShort(wo.grace) + " must be at most half the lease TTL (" +
                                   FormatDurationShort(wo.lease_ttl) + ")");
  }
  JW_ASSIGN_OR_RETURN(client::ServerAddress address, client::ParseServerUrl(w->options_.server));

  JW_ASSIGN_OR_RETURN(w->supervisor_, SubprocessSupervisor::Create());

  client::RemoteBackendOptions ro;
  ro.http.server = address;
  ro.http.token = w->options_.token;
  ro.http.max_idle = static_cast<std::size_t>(wo.concurrency) + 2;
  w->remote_ = std::make_unique<client::RemoteBackend>(std::move(ro));
  w->backend_ = std::make_unique<LoggingBackend>(*w->remote_);
  w->pool_ = std::make_unique<WorkerPool>(*w->backend_, wo);
  // Pushed through the worker session, on its thread: a cancel stops that job now (not at the
  // next heartbeat), and a session that could not be reopened within half the take-back grace
  // stops every job at once, since the server is about to give them to another worker.
  w->remote_->SetCancelCallback([pool = w->pool_.get()](JobId id, std::int64_t token, CancelReason reason) {
    pool->CancelJob(id, token, reason);
  });
  w->remote_->SetLostCallback(
      [pool = w->pool_.get()](const std::vector<std::pair<JobId, std::int64_t>>& leases) { pool->LeasesLost(leases); });
  for (const auto& [kind, command] : config.commands) {
    w->pool_->HandleWith(kind, std::make_shared<CommandRunner>(*w->supervisor_, command));
  }
  return w;
}

Status RemoteWorker::Start() {
  const Config& config = options_.config;
  std::vector<std::string> kinds;
  for (const auto& [kind, command] : config.commands) kinds.push_back(kind);
  spdlog::info("jobwarden worker: server {}, queues [{}], {} slots, lease TTL {}, command kinds [{}]{}",
               options_.server, fmt::join(config.worker.queues, ","), config.worker.concurrency,
               FormatDurationShort(config.worker.lease_ttl), fmt::join(kinds, ","),
               config.path.empty() ? std::string() : ", config " + config.path);
  return pool_->Start();
}

void RemoteWorker::Drain() { pool_->Drain(); }

void RemoteWorker::StopNow() { pool_->StopNow(); }

int RemoteWorker::Wait() {
  const int code = pool_->Wait();
  waited_ = true;
  return code;
}

}  // namespace jobwarden
