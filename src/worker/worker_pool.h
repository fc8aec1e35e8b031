// The worker pool: N slots that run leased jobs, with hard time limits.
//
// Threads, each owned and joined by the pool (Stop/Wait):
// - the fetcher: leases up to (free slots) jobs per fetch, long-polling at
//   most (TTL - grace) / 3 per fetch; when some slots are busy it waits a
//   moment for half of them to be free, so one fetch leases several jobs;
// - the completer: reports successes in batches, one CompleteMany for every
//   success that came since its last send (none is held back: while one send
//   is in flight, the next batch gathers);
// - the lease keeper: one batched heartbeat for every held job every TTL/3
//   (sooner when a checkpoint is waiting or a fetch found jobs late in its
//   long poll, coalesced), and a watchdog that
//   stops jobs at their limits and self-fences leases it could not renew;
// - N slot threads that run handlers. A slot whose in-process handler ignores
//   its stop request past the grace is abandoned (its thread detached: the one
//   documented exception to "every thread is joined") and replaced by a fresh
//   thread, so hung handlers never use up the pool (G3).
//
// The pool's code is split by those threads: worker_pool.cc (start, stop),
// worker_pool_fetch.cc (the fetcher and the hand-off to slots),
// worker_pool_run.cc (slots: running and reporting), worker_pool_complete.cc
// (the completer), worker_pool_leases.cc (the lease keeper and the watchdog).
//
// Timing (DESIGN.md timing rules): a lease's end is tracked on the monotonic
// clock from when the renewing request was sent, with the TTL the engine
// returned. From lease end - grace the job is stopped; by lease end it is
// killed (command) or abandoned (in-process), because the engine is about to
// give it to someone else. A `lost` heartbeat answer kills a command at once
// (another worker may hold the job already); an in-process handler gets its
// stop token and the grace. Neither outcome is reported. Every one of those
// times is read from the pool's MonotonicClock (core/monotonic_clock.h): the real
// monotonic clock by default, a fake one in tests.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/monotonic_clock.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "protocol/backend.h"
#include "worker/job_context.h"

namespace jobwarden {

using InProcessHandler = std::function<void(JobContext&)>;

// How a run that the worker stopped is classified (by why it was stopped).
// Lease lost and self-fence are never reported: the job may already be elsewhere.
Failure StoppedFailure(const Job& job, StopReason reason);

// The outcome of one run, before it is reported.
struct RunOutcome {
  bool success = false;
  std::optional<std::string> result;  // success: JSON text
  Failure failure;                    // !success
  bool stopped = false;               // the run ended because the worker stopped it
  // success: the fd-3 {"batch": ...} bodies of a command handler, submitted
  // (parent: the job) before the job is completed; a refused one fails it.
  std::vector<std::string> batches;
};

// Runs jobs of some kinds another way than a function call (command handlers).
// Run blocks until the run ended; it must honour active->stop by way of the
// terminate/kill callbacks it installs on `active`.
class JobRunner {
 public:
  virtual ~JobRunner() = default;
  virtual RunOutcome Run(const std::shared_ptr<ActiveJob>& active) = 0;
};

struct WorkerOptions {
  std::vector<std::string> queues{"default"};
  int concurrency = 4;                                // Default: 4 slots
  Duration lease_ttl = std::chrono::seconds(10);      // Default: 10 s (asked; the engine may clamp)
  Duration grace = std::chrono::seconds(5);           // Default: 5 s, must be <= TTL/2
  Duration drain_timeout = std::chrono::seconds(30);  // Default: 30 s
  Duration fetch_wait = std::chrono::seconds(5);      // long-poll of one fetch
  int max_abandoned = 4;  // past this many abandoned handlers the worker drains and exits non-zero
  std::string worker_id;  // empty: the engine assigns one
  // Checkpoints larger than this are refused at the worker (logged, the
  // previous one kept), so one cannot fail the batched heartbeat.
  std::size_t max_checkpoint_bytes = 256 * 1024;  // Default: 256 KiB, the engine's default
};

struct WorkerStats {
  std::int64_t started = 0;
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;     // reported failures of any class
  std::int64_t abandoned = 0;  // in-process handlers given up on
  std::int64_t lost = 0;       // leases lost or self-fenced (nothing reported)
};

class WorkerPool {
  using SteadyDuration = std::chrono::steady_clock::duration;
  using SteadyTime = std::chrono::steady_clock::time_point;

 public:
  // `clock` times leases, heartbeats, the watchdog and the drain. Default
  // (nullptr): the real monotonic clock, read directly, so the fetch and
  // heartbeat paths make no virtual call for it. A test passes a
  // FakeMonotonicClock; it must outlive the pool.
  WorkerPool(Backend& backend, WorkerOptions options, const MonotonicClock* clock = nullptr);
  ~WorkerPool();  // StopNow() and joins every owned thread
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Register before Start().
  void Handle(const std::string& kind, InProcessHandler handler);
  void HandleWith(const std::string& kind, std::shared_ptr<JobRunner> runner);

  // Validates options, registers the worker, starts the threads.
  Status Start();
  const std::string& worker_id() const { return worker_id_; }

  // Graceful stop: stop fetching; running jobs get drain_timeout to finish;
  // then the rest are stopped and handed back as `interrupted` (attempt not
  // spent, last checkpoint kept). Returns at once; Wait() blocks.
  void Drain();
  // Skips the drain: stops running jobs now (still handing them back).
  void StopNow();
  // Blocks until the pool stopped (after Drain/StopNow, or by itself after
  // too many abandoned handlers). Returns the exit code for the process:
  // 0 after a clean stop, 70 (EX_SOFTWARE) when it gave up on hung handlers.
  int Wait();

  // Hooks for a backend that learns of trouble out of band (the remote
  // backend's session stream); safe to call from any thread, and a no-op for a
  // lease the pool no longer holds (unknown id, or an older token).
  //
  // The server pushed a cancel notice (user cancel, timeout, deadline, stall):
  // the job is stopped now, as if a heartbeat had answered cancel.
  void CancelJob(JobId id, std::int64_t token, CancelReason reason);
  // These leases are lost (the worker session broke and could not be reopened
  // in time): the jobs may run elsewhere soon, so commands are killed at once,
  // in-process handlers get their stop token, and nothing is reported.
  void LeasesLost(const std::vector<std::pair<JobId, std::int64_t>>& leases);

  WorkerStats stats() const;
  int busy() const;

 private:
  enum class Phase { kRunning, kDraining, kStopping, kStopped };

  SteadyTime Now() const { return clock_ ? clock_->Now() : std::chrono::steady_clock::now(); }
  // Waits on `cv`, releasing mu_, until it is notified (or wakes spuriously) or the pool's clock
  // reaches `deadline`. Callers loop on their condition. REQUIRES: mu_ held
  void WaitUntil(CondVar& cv, SteadyTime deadline) const REQUIRES(mu_) {
    if (clock_) {
      clock_->WaitUntil(cv, mu_, deadline);
    } else {
      cv.WaitUntil(mu_, deadline);
    }
  }

  void FetchLoop();
  // The fetcher's wait for free slots (briefly, for half of them under load):
  // false once the pool stops fetching. Sets `free`, and takes the waiting
  // successes into `settle` when they go along with the fetch.
  struct PendingComplete;
  bool AwaitFreeSlots(int& free, std::vector<PendingComplete>& settle);
  // Sends `settle` and leases the next jobs in one call. nullopt: nothing to
  // lease this round (or the call failed and the successes were sent alone).
  std::optional<std::vector<Job>> CompleteAndFetch(std::vector<PendingComplete> settle, const FetchRequest& req);
  // Pauses the fetcher for `d` (a stop ends the pause).
  void PauseFetching(Duration d);
  // The fetched jobs as held leases, timed from `sent` (see FetchLoop).
  std::vector<std::shared_ptr<ActiveJob>> ToActiveJobs(std::vector<Job>& jobs, SteadyTime sent,
                                                       std::chrono::system_clock::time_point sent_wall, Duration& ttl);
  // Queues the batch for the slots; false when the pool stopped fetching
  // meanwhile (the jobs are handed back) and the fetcher must return.
  bool QueueFetched(std::vector<std::shared_ptr<ActiveJob>> batch, bool renew_now);
  void KeeperLoop();
  void WatchdogLoop();
  void SlotLoop(std::size_t slot);
  // One batched heartbeat for every held job; false when it failed.
  bool SendHeartbeat();
  void Watchdog();
  // Records the stop and fires the stop token and the runner's terminate.
  void RequestStop(const std::shared_ptr<ActiveJob>& a, StopReason reason);
  struct PendingComplete {
    std::shared_ptr<ActiveJob> active;
    CompleteRequest request;
  };
  // Reports a run's outcome. A success is handed to the completer, which
  // calls FinishCompleted later (returns true); otherwise the caller Finishes.
  bool Report(const std::shared_ptr<ActiveJob>& a, RunOutcome outcome);
  // One fd-3 batch body, submitted with `job` as its parent.
  Status SubmitFd3Batch(const Job& job, const std::string& body);
  void SendFail(const Job& job, Failure failure, std::optional<std::string> checkpoint,
                std::optional<Progress> progress);
  void CompleterLoop();
  // Settles the batch: `sent` is the answer to its first send when the caller
  // made it (CompleteAndFetch), else one CompleteMany; the unavailable ones
  // are sent again with backoff.
  void SendCompletions(std::vector<PendingComplete> batch,
                       std::optional<Result<std::vector<Status>>> sent = std::nullopt);
  // Whether the fetcher will send the waiting successes soon. REQUIRES: mu_ held
  bool FetcherTakesCompletions() const REQUIRES(mu_) {
    return combine_ && phase_ == Phase::kRunning &&
           (fetcher_state_ == FetcherState::kWaiting || fetcher_state_ == FetcherState::kQuick);
  }
  enum class FetcherState;
  // REQUIRES: mu_ held (released briefly to wake the completer).
  void SetFetcherState(FetcherState state) REQUIRES(mu_);
  void FinishCompleted(const std::shared_ptr<ActiveJob>& a);
  // REQUIRES: mu_ held
  int BusySlots() const REQUIRES(mu_) { return static_cast<int>(active_.size()) - awaiting_complete_; }
  // Whether a freed slot may end a wait of the fetcher. REQUIRES: mu_ held
  bool FetcherMayProceed() const REQUIRES(mu_) {
    // The fetcher waits for one free slot, then (briefly) for half of them.
    const int free = options_.concurrency - BusySlots();
    return phase_ == Phase::kRunning && (free == 1 || free >= (options_.concurrency + 1) / 2);
  }
  // Wakes every waiter of every condition variable (phase changes).
  void NotifyAll();
  void Abandon(const std::shared_ptr<ActiveJob>& a, std::size_t slot);
  // Heartbeat period: a third of the shortest lease TTL granted to a held job.
  SteadyDuration HeartbeatInterval() const;
  void Finish(const std::shared_ptr<ActiveJob>& a);
  std::shared_ptr<ActiveJob> FindHeld(JobId id, std::int64_t token) const;
  std::shared_ptr<ActiveJob> Take(std::size_t slot);  // blocks; nullptr when stopping
  // Whether to wake an idle slot for the queued jobs (see Take); counts the
  // wake-up as sent. REQUIRES: mu_ held
  bool NeedSearcher() REQUIRES(mu_);
  void Shutdown();

  Backend& backend_;
  WorkerOptions options_;
  const MonotonicClock* const clock_;  // nullptr: the real steady clock
  std::string worker_id_;
  std::map<std::string, std::shared_ptr<const InProcessHandler>> handlers_;
  std::map<std::string, std::shared_ptr<JobRunner>> runners_;
  std::shared_ptr<Notifier> notifier_ = std::make_shared<Notifier>();

  mutable Mutex mu_;
  // One condition variable per kind of waiter, so that a job handed to a slot
  // or a slot freed wakes one thread, not all of them (perf: docs/benchmarks.md).
  CondVar cv_;        // Wait() and the watchdog wait for the phase / the last lease
  CondVar fetch_cv_;  // the fetcher waits for free slots
  CondVar slot_cv_;   // slots wait for fetched jobs
  Phase phase_ GUARDED_BY(mu_) = Phase::kRunning;
  std::deque<std::shared_ptr<ActiveJob>> queue_ GUARDED_BY(mu_);  // fetched, not started
  int idle_slots_ GUARDED_BY(mu_) = 0;                            // slot threads waiting in slot_cv_ for a job
  int searching_ GUARDED_BY(mu_) = 0;  // wake-ups sent to idle slots and not yet answered (0 or 1)
  std::vector<PendingComplete> completions_ GUARDED_BY(mu_);  // successes not yet sent
  int awaiting_complete_ GUARDED_BY(mu_) = 0;  // held jobs whose run succeeded (slot free), not yet settled
  CondVar completer_cv_;
  // What the fetcher is doing, for the completer (CompleterLoop).
  enum class FetcherState {
    kWaiting,  // for free slots: about to fetch, and it takes the waiting successes along
    kQuick,    // in a CompleteAndFetch, which does not wait
    kLong,     // in a fetch that may long-poll, or backing off
    kDone,     // returned (drain, stop)
  };
  FetcherState fetcher_state_ GUARDED_BY(mu_) = FetcherState::kWaiting;
  const bool combine_;  // the fetcher sends successes with its fetch (Backend::OneWriteCompleteAndFetch)
  std::vector<std::shared_ptr<ActiveJob>> active_ GUARDED_BY(mu_);  // held leases (queued or running)
  std::vector<std::thread> slots_ GUARDED_BY(mu_);
  std::vector<std::shared_ptr<ActiveJob>> slot_job_ GUARDED_BY(mu_);  // the job each slot runs
  SteadyTime drain_deadline_ GUARDED_BY(mu_);
  bool gave_up_ GUARDED_BY(mu_) = false;  // too many abandoned
  WorkerStats stats_ GUARDED_BY(mu_);
  std::thread fetcher_;
  std::thread keeper_;
  std::thread watchdog_;
  std::thread completer_;
  bool started_ = false;
  bool joined_ = false;
};

}  // namespace jobwarden
