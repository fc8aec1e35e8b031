// The worker pool's lifecycle: options, Start (registration and the
// threads), the two-phase stop (Drain, StopNow, Wait) and its counters. The
// threads' loops are in worker_pool_fetch.cc, worker_pool_run.cc,
// worker_pool_complete.cc and worker_pool_leases.cc.
#include "worker/worker_pool.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "os/process_identity.h"

namespace jobwarden {

Failure StoppedFailure(const Job& job, StopReason reason) {
  Failure f;
  switch (reason) {
    case StopReason::kCancel:
      f.error_class = ErrorClass::kCancelled;
      f.message = "cancelled while running; the handler stopped";
      break;
    case StopReason::kTimeout:
      f.error_class = ErrorClass::kTimeout;
      f.limit = "timeout";
      f.message = "attempt timeout of " + FormatDurationShort(job.timeout) + " reached; the worker stopped the handler";
      break;
    case StopReason::kDeadline:
      f.error_class = ErrorClass::kTimeout;
      f.limit = "deadline";
      f.message = "job deadline reached; the worker stopped the handler";
      break;
    case StopReason::kStalled:
      f.error_class = ErrorClass::kStalled;
      f.limit = "stall_timeout";
      f.message = "no progress for " + FormatDurationShort(job.stall_timeout.value_or(Duration(0))) +
                  "; the worker stopped the handler";
      break;
    case StopReason::kDrain:
    case StopReason::kNone:
      f.error_class = ErrorClass::kInterrupted;
      f.message = "the worker is shutting down; handed back with its last checkpoint";
      break;
    case StopReason::kLeaseLost:
    case StopReason::kSelfFence:
      f.error_class = ErrorClass::kLeaseExpired;
      f.message = "the lease was lost; the worker stopped the handler";
      break;
  }
  return f;
}

WorkerPool::WorkerPool(Backend& backend, WorkerOptions options, const MonotonicClock* clock)
    : backend_(backend), options_(std::move(options)), clock_(clock), combine_(backend.OneWriteCompleteAndFetch()) {}

WorkerPool::~WorkerPool() {
  if (started_ && !joined_) {
    StopNow();
    Wait();
  }
}

void WorkerPool::Handle(const std::string& kind, InProcessHandler handler) {
  handlers_[kind] = std::make_shared<const InProcessHandler>(std::move(handler));
}

void WorkerPool::HandleWith(const std::string& kind, std::shared_ptr<JobRunner> runner) {
  runners_[kind] = std::move(runner);
}

Status WorkerPool::Start() {
  if (started_) return Status::Conflict("the worker pool is already started");
  if (options_.concurrency < 1 || options_.concurrency > 1024) {
    return Status::InvalidArgument("concurrency: must be 1-1024");
  }
  if (options_.lease_ttl < std::chrono::seconds(1)) return Status::InvalidArgument("lease_ttl: must be at least 1s");
  if (options_.grace < Duration(0) || options_.grace > options_.lease_ttl / 2) {
    return Status::InvalidArgument("grace: " + FormatDurationShort(options_.grace) +
                                   " must be at most half the lease TTL (" +
                                   FormatDurationShort(options_.lease_ttl / 2) + ")");
  }
  if (options_.queues.empty()) return Status::InvalidArgument("queues: at least one queue");
  const ProcessIdentity self = SelfIdentity();
  WorkerRecord rec;
  rec.id = options_.worker_id;
  rec.host = self.host;
  rec.pid = self.pid;
  rec.pid_start_time = self.start_time;
  rec.boot_id = self.boot_id;
  rec.pid_namespace = self.pid_namespace;
  rec.queues = options_.queues;
  rec.slots = options_.concurrency;
  auto id = backend_.Register(rec);
  if (!id.ok()) return id.status().WithContext("register worker");
  worker_id_ = std::move(id).value();

  started_ = true;
  MutexLock lock(mu_);
  slots_.resize(static_cast<std::size_t>(options_.concurrency));
  slot_job_.resize(slots_.size());
  for (std::size_t i = 0; i < slots_.size(); ++i) slots_[i] = std::thread([this, i] { SlotLoop(i); });
  fetcher_ = std::thread([this] { FetchLoop(); });
  keeper_ = std::thread([this] { KeeperLoop(); });
  watchdog_ = std::thread([this] { WatchdogLoop(); });
  completer_ = std::thread([this] { CompleterLoop(); });
  spdlog::info("worker {}: {} slots on queues [{}], lease TTL {}, grace {}", worker_id_, options_.concurrency,
               fmt::join(options_.queues, ","), FormatDurationShort(options_.lease_ttl),
               FormatDurationShort(options_.grace));
  return Status::Ok();
}

void WorkerPool::NotifyAll() {
  cv_.NotifyAll();
  fetch_cv_.NotifyAll();
  slot_cv_.NotifyAll();
  completer_cv_.NotifyAll();
}

// ---------------------------------------------------------------------------
// Stopping

void WorkerPool::Drain() {
  {
    MutexLock lock(mu_);
    if (phase_ != Phase::kRunning) return;
    phase_ = Phase::kDraining;
    drain_deadline_ = Now() + options_.drain_timeout;
  }
  spdlog::info("worker {}: draining: no new jobs; running jobs have {} to finish", worker_id_,
               FormatDurationShort(options_.drain_timeout));
  backend_.WakeAll();
  NotifyAll();
}

void WorkerPool::StopNow() {
  {
    MutexLock lock(mu_);
    if (phase_ == Phase::kStopped || phase_ == Phase::kStopping) return;
    phase_ = Phase::kStopping;
    drain_deadline_ = Now();
  }
  spdlog::info("worker {}: stopping now: running jobs are handed back", worker_id_);
  backend_.WakeAll();
  NotifyAll();
}

int WorkerPool::Wait() {
  if (!started_ || joined_) {
    MutexLock lock(mu_);
    return gave_up_ ? 70 : 0;
  }
  {
    MutexLock lock(mu_);
    while (phase_ == Phase::kRunning || !active_.empty()) cv_.Wait(mu_);
    phase_ = Phase::kStopped;
  }
  NotifyAll();
  completer_cv_.NotifyAll();
  notifier_->Notify();
  fetcher_.join();
  completer_.join();
  keeper_.join();
  watchdog_.join();
  std::vector<std::thread> slots;
  {
    MutexLock lock(mu_);
    slots = std::move(slots_);
  }
  for (auto& t : slots) {
    if (t.joinable()) t.join();
  }
  joined_ = true;
  Status s = backend_.Deregister(worker_id_);
  if (!s.ok()) spdlog::warn("worker {}: deregister: {}", worker_id_, s.ToString());
  const WorkerStats st = stats();
  spdlog::info("worker {} stopped: {} started, {} succeeded, {} failed, {} lost, {} abandoned", worker_id_, st.started,
               st.succeeded, st.failed, st.lost, st.abandoned);
  MutexLock lock(mu_);
  return gave_up_ ? 70 : 0;
}

WorkerStats WorkerPool::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

int WorkerPool::busy() const {
  MutexLock lock(mu_);
  return static_cast<int>(active_.size());
}

}  // namespace jobwarden
