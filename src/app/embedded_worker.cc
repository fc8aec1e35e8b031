#include "app/embedded_worker.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "app/job_log.h"
#include "store/open_store.h"
#include "worker/command_runner.h"

namespace jobwarden {

EmbeddedWorker::EmbeddedWorker(EmbeddedWorkerOptions options) : options_(std::move(options)) {}

// Members go in reverse order of declaration: the pool (which, if still
// running, stops now and hands its jobs back), the reaper, the backends, the
// engine, the store, and the supervisor last.
EmbeddedWorker::~EmbeddedWorker() = default;

Result<std::unique_ptr<EmbeddedWorker>> EmbeddedWorker::Create(EmbeddedWorkerOptions options) {
  std::unique_ptr<EmbeddedWorker> w(new EmbeddedWorker(std::move(options)));
  const Config& config = w->options_.config;
  const WorkerOptions& wo = config.worker;
  if (wo.grace > wo.lease_ttl / 2) {
    return Status::InvalidArgument("grace " + FormatDurationShort(wo.grace) + " must be at most half the lease TTL (" +
                                   FormatDurationShort(wo.lease_ttl) + ")");
  }

  JW_ASSIGN_OR_RETURN(w->supervisor_, SubprocessSupervisor::Create());

  JW_ASSIGN_OR_RETURN(w->store_, OpenStore(w->options_.db_path, {.durability = w->options_.durability}));

  EngineOptions eo;
  eo.kinds = config.kinds;
  eo.default_lease_ttl = wo.lease_ttl;
  eo.default_grace = wo.grace;
  w->engine_ = std::make_unique<Engine>(*w->store_, w->clock_, eo);
  // The config file's flow-control limits, before any job is fetched.
  if (!config.flow_limits.empty()) {
    Status applied = w->engine_->ApplyLimits(config.flow_limits);
    JW_RETURN_IF_ERROR(config.path.empty() ? applied : applied.WithContext(config.path));
  }
  if (!config.schedules.empty()) {
    Status applied = w->engine_->ApplySchedules(config.schedules);
    JW_RETURN_IF_ERROR(config.path.empty() ? applied : applied.WithContext(config.path));
  }
  w->local_backend_ = std::make_unique<LocalBackend>(*w->engine_);
  w->backend_ = std::make_unique<LoggingBackend>(*w->local_backend_);

  w->reaper_tick_ = config.reaper_tick.value_or(DefaultReaperTick(wo.lease_ttl));
  // Each pass also turns queue warnings and breaker changes into log lines (WatchFlow).
  ReaperOptions reaper;
  reaper.tick = w->reaper_tick_;
  reaper.on_pass = [e = w->engine_.get()](const ReapStats&) {
    if (Status s = e->WatchFlow(); !s.ok()) spdlog::warn("flow watch: {}", s.ToString());
  };
  w->reaper_ = std::make_unique<Reaper>(*w->engine_, std::move(reaper));

  w->pool_ = std::make_unique<WorkerPool>(*w->backend_, wo);
  for (const auto& [kind, command] : config.commands) {
    w->pool_->HandleWith(kind, std::make_shared<CommandRunner>(*w->supervisor_, command));
  }
  return w;
}

Status EmbeddedWorker::Start() {
  const Config& config = options_.config;
  std::vector<std::string> kinds;
  for (const auto& [kind, command] : config.commands) kinds.push_back(kind);
  spdlog::info(
      "jobwarden worker: db {} ({} durability), queues [{}], {} slots, lease TTL {}, reaper tick {}, "
      "command kinds [{}]{}",
      options_.db_path, ToString(options_.durability), fmt::join(config.worker.queues, ","), config.worker.concurrency,
      FormatDurationShort(config.worker.lease_ttl), FormatDurationShort(reaper_tick_), fmt::join(kinds, ","),
      config.path.empty() ? std::string() : ", config " + config.path);
  reaper_->Start();
  Status s = pool_->Start();
  if (!s.ok()) reaper_->Stop();
  return s;
}

void EmbeddedWorker::Drain() { pool_->Drain(); }

void EmbeddedWorker::StopNow() { pool_->StopNow(); }

int EmbeddedWorker::Wait() {
  const int code = pool_->Wait();
  reaper_->Stop();
  return code;
}

}  // namespace jobwarden
