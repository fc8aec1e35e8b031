// What an in-process handler gets: the job, its limits, a stop token, and the
// means to report progress, checkpoints and a result.
//
// The handler contract (docs/worker.md):
// - Returning normally means success (the result is what SetResult set, else null).
// - Throwing JobError classifies a failure: transient, permanent or rate_limited.
// - Any other exception is `transient` with its message.
// - When asked to stop (timeout, deadline, cancel, drain, lost lease), the stop
//   token fires. A handler stops by calling ThrowIfStopped() (or throwing
//   StopRequested): the failure is then classified by why it was stopped.
//   A handler that ignores the stop past the kill grace is abandoned: its slot
//   gets a fresh thread and the job is reported without it.
#pragma once

#include <spdlog/common.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>

#include "core/batch.h"
#include "core/error_class.h"
#include "core/job.h"
#include "core/monotonic_clock.h"
#include "core/status.h"
#include "core/thread_annotations.h"

namespace jobwarden {

// Thrown by a handler to classify its failure.
class JobError : public std::runtime_error {
 public:
  JobError(ErrorClass error_class, const std::string& message, std::optional<Duration> retry_after = std::nullopt)
      : std::runtime_error(message), error_class_(error_class), retry_after_(retry_after) {}
  ErrorClass error_class() const { return error_class_; }
  std::optional<Duration> retry_after() const { return retry_after_; }

 private:
  ErrorClass error_class_;
  std::optional<Duration> retry_after_;
};

// Thrown by JobContext::ThrowIfStopped() when the worker asked the handler to stop.
class StopRequested : public std::exception {
 public:
  const char* what() const noexcept override { return "stop requested"; }
};

// Why the worker stops a job before its handler finished.
enum class StopReason : std::uint8_t {
  kNone,
  kCancel,     // cancelled by a user (heartbeat answered cancel)
  kTimeout,    // attempt timeout (worker's own clock, or the server's request)
  kDeadline,   // job deadline
  kStalled,    // the server saw no progress for stall_timeout
  kDrain,      // graceful shutdown: handed back as interrupted
  kLeaseLost,  // the server answered lost: someone else may hold the job now
  kSelfFence,  // the lease could not be renewed in time: stop before it expires
};
std::string_view ToString(StopReason r);

// Wakes the heartbeat loop when a handler reports something worth sending
// now (a checkpoint). Shared, so an abandoned handler can outlive the pool.
class Notifier {
 public:
  void Notify() {
    {
      MutexLock lock(mu_);
      pending_ = true;
    }
    cv_.NotifyAll();
  }
  // Waits up to `timeout` for a notification; true if one came.
  bool WaitFor(std::chrono::steady_clock::duration timeout) {
    MutexLock lock(mu_);
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!pending_ && cv_.WaitUntil(mu_, until) == std::cv_status::no_timeout) {
    }
    const bool got = pending_;
    pending_ = false;
    return got;
  }
  // Waits until `clock` reaches `deadline` for a notification; true if one came.
  bool WaitUntil(const MonotonicClock& clock, MonotonicClock::TimePoint deadline) {
    MutexLock lock(mu_);
    while (!pending_ && clock.Now() < deadline) clock.WaitUntil(cv_, mu_, deadline);
    const bool got = pending_;
    pending_ = false;
    return got;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool pending_ GUARDED_BY(mu_) = false;
};

// The state of one leased job, shared by its handler, the heartbeat loop and
// the watchdog. All mutable fields are guarded by `mu`.
struct ActiveJob {
  Job job;  // snapshot at fetch (lease_token, lease_ttl, checkpoint of the last attempt)
  std::stop_source stop;
  std::shared_ptr<Notifier> notifier;

  Mutex mu;
  std::chrono::steady_clock::time_point lease_deadline GUARDED_BY(mu);    // send time of last renewal + TTL
  std::optional<std::chrono::steady_clock::time_point> attempt_deadline;  // nearest limit, on the monotonic clock
  CancelReason deadline_kind = CancelReason::kTimeout;                    // which limit attempt_deadline is
  std::optional<Progress> progress GUARDED_BY(mu);
  bool progress_dirty GUARDED_BY(mu) = false;
  std::optional<std::string> checkpoint GUARDED_BY(mu);  // latest, JSON text
  bool checkpoint_dirty GUARDED_BY(mu) = false;          // not yet sent by a heartbeat
  bool checkpoint_set GUARDED_BY(mu) = false;            // set during this run: always sent with the outcome
  std::optional<std::string> result GUARDED_BY(mu);
  StopReason stop_reason GUARDED_BY(mu) = StopReason::kNone;
  std::chrono::steady_clock::time_point stop_at GUARDED_BY(mu);
  bool in_process GUARDED_BY(mu) = false;  // run by an in-process handler (may be abandoned)
  bool finished GUARDED_BY(mu) = false;    // the handler returned (or the process exited)
  bool abandoned GUARDED_BY(mu) = false;   // the handler was given up on
  bool settled GUARDED_BY(mu) = false;     // the outcome was reported (or cannot be)
  // Set by a command runner while its process runs: how to stop it.
  std::function<void(Duration grace)> terminate GUARDED_BY(mu);
  std::function<void()> kill GUARDED_BY(mu);
  // Set by the pool at fetch (immutable after): the kill grace (SIGTERM ->
  // SIGKILL, stop -> abandon) and the largest checkpoint the engine takes.
  Duration grace = std::chrono::seconds(5);
  std::size_t max_checkpoint_bytes = 256 * 1024;
  // Submits a batch whose parent is this job (the pool's backend, fenced by the lease).
  std::function<Result<BatchInfo>(const BatchRequest&)> submit_batch;
};

// Records a checkpoint for `a` and wakes the heartbeat loop so it is sent
// promptly. `json` must be valid JSON text of at most a->max_checkpoint_bytes;
// otherwise it is refused (InvalidArgument / CheckpointTooLarge) and the
// previous checkpoint stays: one bad checkpoint must never fail the heartbeat
// that renews every lease of the worker.
Status RecordCheckpoint(ActiveJob& a, std::string_view json);
// Records progress, sent with the next heartbeat.
void RecordProgress(ActiveJob& a, Progress progress);

class JobContext {
 public:
  explicit JobContext(std::shared_ptr<ActiveJob> active) : active_(std::move(active)) {}

  const Job& job() const { return active_->job; }
  int attempt() const { return active_->job.attempt; }
  // The nearest of the attempt timeout and the job deadline (wall clock).
  std::optional<Timestamp> deadline() const;
  // The checkpoint of the last attempt (or of this one, once set): resume from it.
  std::optional<std::string> last_checkpoint() const;
  // The fencing token of this lease: pass it to external systems to fence side effects.
  std::int64_t lease_token() const { return active_->job.lease_token; }

  std::stop_token stop_token() const { return active_->stop.get_token(); }
  bool stop_requested() const { return active_->stop.stop_requested(); }
  void ThrowIfStopped() const {
    if (stop_requested()) throw StopRequested();
  }

  // Sent with the next heartbeat (every TTL/3).
  void ReportProgress(std::int64_t done, std::optional<std::int64_t> total = std::nullopt, std::string message = "");
  // `json` must be valid JSON text (at most 256 KiB by default); sent promptly
  // (coalesced), and with the outcome. An invalid or oversized checkpoint is
  // logged as an error and dropped (the previous one stays).
  void Checkpoint(std::string json);
  // The result reported on success (JSON text). Default: null.
  void SetResult(std::string json);
  // Fans out (DESIGN.md "Batches"): submits `batch` with this job as its
  // parent, now, and answers it with its id and members. Each member's
  // deadline is at most this job's. Throws StopRequested once the worker
  // asked the handler to stop (its lease may be gone); a refused batch is an
  // error Status (InvalidArgument naming the field, LeaseLost, Unavailable).
  Result<BatchInfo> SubmitBatch(const BatchRequest& batch);

  // A log line prefixed with the job ("job 12 [resize] attempt 2: ...").
  void Log(spdlog::level::level_enum level, std::string_view message) const;

 private:
  std::shared_ptr<ActiveJob> active_;
};

}  // namespace jobwarden
