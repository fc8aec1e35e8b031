#include "worker/worker_pool.h"

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <unordered_map>

#include "core/lifecycle.h"
#include "os/process_identity.h"

namespace jobwarden {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr auto kWatchdogTick = std::chrono::milliseconds(20);
// Self-fencing acts this much before its deadlines, so a watchdog tick that
// comes late still kills by lease end, not after it.
constexpr auto kFenceMargin = 2 * kWatchdogTick;
constexpr int kReportAttempts = 5;
// A fetch that returns nothing this fast is not long-polling: pause before the next.
constexpr auto kMinFetchRound = std::chrono::milliseconds(50);
// A fetch that returned jobs after waiting longer than this has their leases
// renewed at once (see FetchLoop).
constexpr auto kRenewAfterFetchWait = std::chrono::milliseconds(50);
// A busy pool waits at most this long for half its slots to be free before it
// fetches, so that one fetch (one transaction) leases several jobs.
constexpr auto kFetchGather = std::chrono::milliseconds(2);

bool IsUnreportable(StopReason r) { return r == StopReason::kLeaseLost || r == StopReason::kSelfFence; }

StopReason StopReasonFor(CancelReason r) {
  switch (r) {
    case CancelReason::kTimeout: return StopReason::kTimeout;
    case CancelReason::kDeadline: return StopReason::kDeadline;
    case CancelReason::kStalled: return StopReason::kStalled;
    case CancelReason::kUser:
    case CancelReason::kNone: return StopReason::kCancel;
  }
  return StopReason::kCancel;
}

// In-process run. A free function on purpose: after an abandoned handler
// returns, this frame may outlive the pool, so it must not touch it.
RunOutcome RunInProcess(const std::shared_ptr<ActiveJob>& a, const std::shared_ptr<const InProcessHandler>& h) {
  RunOutcome out;
  JobContext ctx(a);
  auto stopped = [&]() -> std::optional<StopReason> {
    std::lock_guard<std::mutex> lock(a->mu);
    if (a->stop_reason == StopReason::kNone) return std::nullopt;
    return a->stop_reason;
  };
  auto fail = [&](ErrorClass c, std::string message, std::optional<Duration> retry_after = std::nullopt) {
    // A failure after the worker asked the handler to stop is classified by the stop.
    if (auto reason = stopped()) {
      out.stopped = true;
      out.failure = StoppedFailure(a->job, *reason);
      return;
    }
    out.failure.error_class = c;
    out.failure.message = std::move(message);
    out.failure.retry_after = retry_after;
  };
  try {
    (*h)(ctx);
    out.success = true;
    std::lock_guard<std::mutex> lock(a->mu);
    out.result = a->result;
  } catch (const StopRequested&) {
    if (auto reason = stopped()) {
      out.stopped = true;
      out.failure = StoppedFailure(a->job, *reason);
    } else {
      // Not a cancel: nobody asked it to stop.
      out.failure.error_class = ErrorClass::kTransient;
      out.failure.message = "handler threw StopRequested, but the worker had not asked it to stop";
    }
  } catch (const JobError& e) {
    ErrorClass c = e.error_class();
    std::string message = e.what();
    if (c != ErrorClass::kTransient && c != ErrorClass::kPermanent && c != ErrorClass::kRateLimited) {
      message = "handler threw class '" + std::string(ToString(c)) + "', which only the worker may decide: " + message;
      c = ErrorClass::kTransient;
    }
    fail(c, message, e.retry_after());
  } catch (const std::exception& e) {
    fail(ErrorClass::kTransient, std::string("handler threw: ") + e.what());
  } catch (...) {
    fail(ErrorClass::kTransient, "handler threw an exception that is not a std::exception");
  }
  return out;
}

}  // namespace

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

WorkerPool::WorkerPool(Backend& backend, WorkerOptions options)
    : backend_(backend), options_(std::move(options)), combine_(backend.OneWriteCompleteAndFetch()) {}

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
  std::lock_guard<std::mutex> lock(mu_);
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

// ---------------------------------------------------------------------------
// Fetching

// Lease timing of a fetch (DESIGN timing rules). The engine grants a lease
// when it finds the job, which may be late in a long poll, but the worker only
// knows when it sent the fetch, and must never assume a lease started later
// than it might have: it times the lease from the send. A job found after a
// wait W thus looks W older than it is, and one found late in a 5 s poll would
// be self-fenced as "not renewed" before its first heartbeat (and come back as
// lease_expired, an attempt spent). Two measures keep the rule safe and true:
// - each fetch waits at most (TTL - grace) / 3 (the smaller of the TTL asked
//   and the ones granted), so at least two thirds of the time before the fence
//   remain when the answer arrives;
// - a fetch that returns jobs after more than kRenewAfterFetchWait wakes the
//   lease keeper, which renews every held lease at once (one heartbeat, timed
//   from its own send, listing every job as the engine requires).
// The backend does not report when it granted the lease: a remote backend
// cannot know that on this process's monotonic clock, and one rule for every
// backend is simpler to reason about and to test.
void WorkerPool::FetchLoop() {
  std::mt19937 rng{std::random_device{}()};
  Duration backoff = std::chrono::milliseconds(100);
  Duration ttl = options_.lease_ttl;  // the smallest of the TTL asked and those granted
  while (true) {
    int free;
    std::vector<PendingComplete> settle;  // successes sent with this fetch (see CompleterLoop)
    {
      std::unique_lock<std::mutex> lock(mu_);
      fetcher_state_ = FetcherState::kWaiting;
      fetch_cv_.wait(lock, [&] { return phase_ != Phase::kRunning || BusySlots() < options_.concurrency; });
      // Under load, fetch for several slots at once (one engine transaction
      // for many jobs); the wait is short and bounded. An idle pool (every
      // slot free, so at least half) fetches at once: no added latency.
      const int half = (options_.concurrency + 1) / 2;
      if (phase_ == Phase::kRunning && options_.concurrency - BusySlots() < half) {
        fetch_cv_.wait_for(lock, kFetchGather,
                           [&] { return phase_ != Phase::kRunning || options_.concurrency - BusySlots() >= half; });
      }
      if (phase_ != Phase::kRunning) {
        SetFetcherState(lock, FetcherState::kDone);
        return;
      }
      free = options_.concurrency - BusySlots();
      if (combine_) settle.swap(completions_);
      SetFetcherState(lock, settle.empty() ? FetcherState::kLong : FetcherState::kQuick);
    }
    FetchRequest req;
    req.queues = options_.queues;
    req.max = free;  // never more than free slots: prefetching starves other workers
    req.lease_ttl = options_.lease_ttl;
    req.grace = options_.grace;
    req.worker_id = worker_id_;
    const auto sent = SteadyClock::now();
    const auto sent_wall = std::chrono::system_clock::now();
    const Duration wait = std::clamp<Duration>((ttl - options_.grace) / 3, Duration(0), options_.fetch_wait);
    Result<std::vector<Job>> fetched = std::vector<Job>{};
    if (!settle.empty()) {
      // The slots' successes and their next jobs in one call (one transaction
      // in embedded mode). It does not wait: with nothing to lease, the next
      // round is a plain fetch that may.
      std::vector<CompleteRequest> requests;
      requests.reserve(settle.size());
      for (const auto& pc : settle) requests.push_back(pc.request);
      auto both = backend_.CompleteAndFetch(requests, req);
      if (!both.ok()) {
        // Nothing of it was written (one transaction), and the error may be
        // the fetch's: the successes are sent again on their own, and the
        // fetch is retried plainly, with its own error handling.
        spdlog::warn("worker {}: complete-and-fetch failed, sending the {} success(es) alone: {}", worker_id_,
                     settle.size(), both.status().ToString());
        SendCompletions(std::move(settle));
        continue;
      }
      SendCompletions(std::move(settle), std::move(both->completed));
      if (both->fetched.empty()) continue;
      fetched = std::move(both->fetched);
    } else {
      fetched = backend_.Fetch(req, wait);
    }
    if (fetched.ok() && fetched->empty() && SteadyClock::now() - sent < kMinFetchRound) {
      std::unique_lock<std::mutex> lock(mu_);
      fetch_cv_.wait_for(lock, 2 * kMinFetchRound, [&] { return phase_ != Phase::kRunning; });
      continue;
    }
    if (!fetched.ok()) {
      spdlog::warn("worker {}: fetch failed, retrying in {}: {}", worker_id_, FormatDurationShort(backoff),
                   fetched.status().ToString());
      std::unique_lock<std::mutex> lock(mu_);
      std::uniform_int_distribution<std::int64_t> jitter(0, backoff.count() / 2);
      fetch_cv_.wait_for(lock, backoff + Duration(jitter(rng)), [&] { return phase_ != Phase::kRunning; });
      backoff = std::min<Duration>(backoff * 2, std::chrono::seconds(5));
      continue;
    }
    backoff = std::chrono::milliseconds(100);
    if (fetched->empty()) continue;
    const bool renew_now = SteadyClock::now() - sent > kRenewAfterFetchWait;
    std::vector<std::shared_ptr<ActiveJob>> batch;
    for (Job& job : *fetched) {
      if (job.lease_ttl > Duration(0)) ttl = std::min(ttl, job.lease_ttl);
      auto a = std::make_shared<ActiveJob>();
      a->notifier = notifier_;
      a->grace = options_.grace;
      a->max_checkpoint_bytes = options_.max_checkpoint_bytes;
      a->lease_deadline = sent + job.lease_ttl;
      if (auto limit = AttemptDeadline(job)) {
        a->attempt_deadline = sent + std::chrono::duration_cast<SteadyClock::duration>(*limit - sent_wall);
        a->deadline_kind = (job.deadline_at && *job.deadline_at == *limit) ? CancelReason::kDeadline
                                                                            : CancelReason::kTimeout;
      }
      a->checkpoint = job.checkpoint;
      a->job = std::move(job);
      batch.push_back(std::move(a));
    }
    bool accepted;
    bool wake_slot = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      accepted = phase_ == Phase::kRunning;
      if (accepted) {
        for (auto& a : batch) {
          active_.push_back(a);
          queue_.push_back(a);
        }
        wake_slot = NeedSearcher();
      }
    }
    if (!accepted) {
      // The drain (or stop) began while this fetch was in flight, and the
      // slots may be gone already: hand the jobs back from here, untouched
      // and with no attempt spent, rather than leave the process holding
      // leases nobody runs (they would come back as worker_lost, an attempt
      // spent, when it exits).
      for (auto& a : batch) {
        Failure f = StoppedFailure(a->job, StopReason::kDrain);
        f.message = "the worker is shutting down; handed back before it started";
        SendFail(a->job, std::move(f), std::nullopt, std::nullopt);
      }
      std::unique_lock<std::mutex> lock(mu_);
      SetFetcherState(lock, FetcherState::kDone);
      return;
    }
    // One wake-up for the whole batch: the slot it wakes wakes the next (Take).
    if (wake_slot) slot_cv_.notify_one();
    if (renew_now) notifier_->Notify();  // the keeper sends a heartbeat for every held job now
  }
}

// Chain wake of slots (as Go's scheduler wakes "spinning" threads). Waking
// one slot per fetched job costs a thread wake-up per job, and on a small
// machine a wake-up across CPUs costs more than a short job: a slot that is
// already awake usually takes several queued jobs before a woken one runs.
// So a fetch wakes at most one idle slot, and a slot that takes a job wakes
// the next one only if jobs are still queued and no other slot is on its way.
// A slot that finishes a job takes the next queued job without sleeping.
//
// Invariant (under mu_): whenever jobs are queued and a slot is idle, a
// wake-up is on its way (searching_ > 0), so a queued job never waits behind
// a slow handler while a slot sleeps. It holds because a wake-up is sent only
// while some slot is idle (idle_slots_ counts slots inside the wait, from
// before they block until they have the lock again), every slot that comes
// out of the wait takes the pending wake-up as its own and looks at the queue
// in the same critical section, and jobs are added only by the fetcher, which
// sends the wake-up when needed.
bool WorkerPool::NeedSearcher() {
  if (queue_.empty() || idle_slots_ == 0 || searching_ > 0) return false;
  ++searching_;
  return true;
}

std::shared_ptr<ActiveJob> WorkerPool::Take(std::size_t slot) {
  std::unique_lock<std::mutex> lock(mu_);
  while (queue_.empty() && phase_ != Phase::kStopped) {
    ++idle_slots_;
    slot_cv_.wait(lock);
    --idle_slots_;
    // Whichever slot comes out of the wait answers the wake-up (they are alike).
    if (searching_ > 0) --searching_;
  }
  if (queue_.empty()) return nullptr;
  auto a = std::move(queue_.front());
  queue_.pop_front();
  slot_job_[slot] = a;
  const bool wake_next = NeedSearcher();
  lock.unlock();
  if (wake_next) slot_cv_.notify_one();
  return a;
}

// ---------------------------------------------------------------------------
// Running

void WorkerPool::SlotLoop(std::size_t slot) {
  while (auto a = Take(slot)) {
    bool hand_back = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hand_back = phase_ != Phase::kRunning;
      if (!hand_back) ++stats_.started;
    }
    RunOutcome out;
    StopReason stopped_before = StopReason::kNone;
    {
      // A job stopped before it started (lease lost, self-fenced, cancelled
      // while queued) is never run: its lease may already be someone else's.
      std::lock_guard<std::mutex> lock(a->mu);
      if (!hand_back) stopped_before = a->stop_reason;
    }
    if (hand_back) {
      // Fetched but not started when the drain began: give it back untouched.
      {
        std::lock_guard<std::mutex> lock(a->mu);
        if (a->stop_reason == StopReason::kNone) a->stop_reason = StopReason::kDrain;
        a->finished = true;
      }
      out.stopped = true;
      out.failure = StoppedFailure(a->job, StopReason::kDrain);
      out.failure.message = "the worker is shutting down; handed back before it started";
    } else if (stopped_before != StopReason::kNone) {
      {
        std::lock_guard<std::mutex> lock(a->mu);
        a->finished = true;
      }
      out.stopped = true;
      out.failure = StoppedFailure(a->job, stopped_before);
      out.failure.message += " (before it started)";
    } else {
      auto h = handlers_.find(a->job.kind);
      auto r = runners_.find(a->job.kind);
      if (h != handlers_.end()) {
        std::shared_ptr<const InProcessHandler> handler = h->second;
        {
          std::lock_guard<std::mutex> lock(a->mu);
          a->in_process = true;
        }
        out = RunInProcess(a, handler);
        std::lock_guard<std::mutex> lock(a->mu);
        if (a->abandoned) return;  // this thread was given up on: the pool may be gone; touch nothing
        a->finished = true;
      } else if (r != runners_.end()) {
        out = r->second->Run(a);
        std::lock_guard<std::mutex> lock(a->mu);
        a->finished = true;
      } else {
        out.failure.error_class = ErrorClass::kTransient;
        out.failure.message = "no handler for kind '" + a->job.kind + "' in worker " + worker_id_;
        std::lock_guard<std::mutex> lock(a->mu);
        a->finished = true;
      }
    }
    if (!Report(a, std::move(out))) Finish(a);
    std::lock_guard<std::mutex> lock(mu_);
    if (slot_job_[slot] == a) slot_job_[slot] = nullptr;
  }
}

bool WorkerPool::Report(const std::shared_ptr<ActiveJob>& a, RunOutcome outcome) {
  StopReason reason;
  std::optional<std::string> checkpoint;
  std::optional<Progress> progress;
  {
    std::lock_guard<std::mutex> lock(a->mu);
    if (a->settled) return false;
    a->settled = true;
    reason = a->stop_reason;
    // Always the latest checkpoint set in this run, even if a heartbeat that
    // carried it is in flight (it may fail), and the latest progress.
    if (a->checkpoint_set) checkpoint = a->checkpoint;
    progress = a->progress;
  }
  const Job& job = a->job;
  if (IsUnreportable(reason)) {
    spdlog::warn("job {} [{}]: {}; its outcome is not reported (the job may run elsewhere)", job.id, job.kind,
                 ToString(reason));
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.lost;
    return false;
  }
  if (outcome.success && outcome.result && !nlohmann::json::accept(*outcome.result)) {
    // Refused here, for this job alone: the engine checks a batch of
    // successes as a whole, and one result it cannot store would fail every
    // job sent with it.
    Failure f;
    f.error_class = ErrorClass::kTransient;
    f.message = "the handler succeeded but its result is not JSON: " +
                (outcome.result->size() > 200 ? outcome.result->substr(0, 200) + "..." : *outcome.result);
    SendFail(job, std::move(f), std::move(checkpoint), std::move(progress));
    return false;
  }
  if (outcome.success) {
    // The slot is free now; the lease stays held (in active_) until the
    // completer settled it.
    bool wake_fetcher;
    bool wake_completer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      completions_.push_back({a, CompleteRequest{job.id, job.lease_token, outcome.result, checkpoint, progress}});
      ++awaiting_complete_;
      wake_fetcher = FetcherMayProceed();
      // Not when the fetcher takes it along: the completer would wake only to
      // sleep again, a thread switch per job. It is woken when that changes
      // (SetFetcherState, NotifyAll).
      wake_completer = !FetcherTakesCompletions();
    }
    if (wake_completer) completer_cv_.notify_one();
    if (wake_fetcher) fetch_cv_.notify_one();  // the fetcher counts the slot as free
    return true;
  }
  SendFail(job, std::move(outcome.failure), std::move(checkpoint), std::move(progress));
  return false;
}

void WorkerPool::SendFail(const Job& job, Failure failure, std::optional<std::string> checkpoint,
                          std::optional<Progress> progress) {
  // The engine refuses an empty message (G6: every failure says what happened).
  if (failure.message.empty()) {
    failure.message = "the handler failed (" + std::string(ToString(failure.error_class)) + ") without saying why";
  }
  Status s;
  for (int i = 0; i < kReportAttempts; ++i) {
    s = backend_.Fail({job.id, job.lease_token, failure, checkpoint, progress});
    if (s.code() != StatusCode::kUnavailable) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100) * (1 << i));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!s.ok()) {
    if (s.code() == StatusCode::kLeaseLost) ++stats_.lost;
    spdlog::warn("job {} [{}]: could not report {}: {}", job.id, job.kind, ToString(failure.error_class),
                 s.ToString());
    return;
  }
  ++stats_.failed;
  spdlog::info("job {} [{}] attempt {} failed [{}]: {}", job.id, job.kind, job.attempt, ToString(failure.error_class),
               failure.message);
}

// Successes are reported in batches: each carries every success since the
// last one was sent (the engine commits them in one transaction and answers
// per job). Nothing waits for a batch to fill: an idle pool's single success
// is sent at once, and under load the next batch gathers while one send is in
// flight.
//
// Who sends them: a success frees a slot, so the fetcher is about to fetch
// for it; where the backend settles and leases in one write (embedded mode),
// the fetcher takes the waiting successes along (CompleteAndFetch). The completer
// sends them itself whenever the fetcher will not take them soon: it is in a
// fetch that may wait (long-poll), backing off, or gone (drain, stop).
void WorkerPool::CompleterLoop() {
  while (true) {
    std::vector<PendingComplete> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      completer_cv_.wait(lock, [&] {
        return phase_ == Phase::kStopped || (!completions_.empty() && !FetcherTakesCompletions());
      });
      if (completions_.empty()) return;
      batch.swap(completions_);
    }
    SendCompletions(std::move(batch));
  }
}

bool WorkerPool::FetcherTakesCompletions() const {
  return combine_ && phase_ == Phase::kRunning &&
         (fetcher_state_ == FetcherState::kWaiting || fetcher_state_ == FetcherState::kQuick);
}

void WorkerPool::SetFetcherState(std::unique_lock<std::mutex>& lock, FetcherState state) {
  fetcher_state_ = state;
  if (state == FetcherState::kLong || state == FetcherState::kDone) {
    // Successes that wait for the fetcher would now wait behind a long-poll.
    if (!completions_.empty()) {
      lock.unlock();
      completer_cv_.notify_one();
      lock.lock();
    }
  }
}

void WorkerPool::SendCompletions(std::vector<PendingComplete> batch, std::optional<Result<std::vector<Status>>> sent) {
  for (int i = 0; !batch.empty(); ++i) {
    Result<std::vector<Status>> answers = std::vector<Status>{};
    if (i == 0 && sent) {
      answers = std::move(*sent);
    } else {
      std::vector<CompleteRequest> requests;
      requests.reserve(batch.size());
      for (const auto& p : batch) requests.push_back(p.request);
      answers = backend_.CompleteMany(requests);
    }
    if (answers.ok() && answers->size() != batch.size()) {
      answers = Status::Internal("complete: " + std::to_string(answers->size()) + " answers for " +
                                 std::to_string(batch.size()) + " jobs");
    }
    std::vector<PendingComplete> retry;
    for (std::size_t k = 0; k < batch.size(); ++k) {
      const Status s = answers.ok() ? (*answers)[k] : answers.status();
      if (s.code() == StatusCode::kUnavailable && i + 1 < kReportAttempts) {
        retry.push_back(std::move(batch[k]));
        continue;
      }
      const Job& job = batch[k].active->job;
      if (s.code() == StatusCode::kInvalidArgument) {
        // A result the engine cannot store (not JSON): a failure to report, not
        // a success to drop and leave to the lease's expiry.
        Failure f;
        f.error_class = ErrorClass::kTransient;
        f.message = "the handler succeeded but its result was refused: " + s.message();
        SendFail(job, std::move(f), batch[k].request.checkpoint, batch[k].request.progress);
      } else {
        std::lock_guard<std::mutex> lock(mu_);
        if (s.ok()) {
          ++stats_.succeeded;
        } else {
          if (s.code() == StatusCode::kLeaseLost) ++stats_.lost;
          spdlog::warn("job {} [{}]: could not report success: {}", job.id, job.kind, s.ToString());
        }
      }
      FinishCompleted(batch[k].active);
    }
    batch = std::move(retry);
    if (!batch.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100) * (1 << i));
  }
}

void WorkerPool::FinishCompleted(const std::shared_ptr<ActiveJob>& a) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_.erase(std::remove(active_.begin(), active_.end(), a), active_.end());
    --awaiting_complete_;
    // The slot was already counted free: only Wait() (stopping, no job held) cares.
    if (phase_ == Phase::kRunning || !active_.empty()) return;
  }
  cv_.notify_all();
}

int WorkerPool::BusySlots() const { return static_cast<int>(active_.size()) - awaiting_complete_; }

bool WorkerPool::FetcherMayProceed() const {
  // The fetcher waits for one free slot, then (briefly) for half of them.
  const int free = options_.concurrency - BusySlots();
  return phase_ == Phase::kRunning && (free == 1 || free >= (options_.concurrency + 1) / 2);
}

void WorkerPool::Finish(const std::shared_ptr<ActiveJob>& a) {
  bool wake_fetcher;
  bool wake_waiter;
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_.erase(std::remove(active_.begin(), active_.end(), a), active_.end());
    wake_fetcher = FetcherMayProceed();
    wake_waiter = phase_ != Phase::kRunning && active_.empty();
  }
  if (wake_fetcher) fetch_cv_.notify_one();
  if (wake_waiter) cv_.notify_all();
}

void WorkerPool::NotifyAll() {
  cv_.notify_all();
  fetch_cv_.notify_all();
  slot_cv_.notify_all();
  completer_cv_.notify_all();
}

// ---------------------------------------------------------------------------
// Heartbeats and the watchdog

WorkerPool::SteadyDuration WorkerPool::HeartbeatInterval() const {
  // The TTL the engine granted (it may clamp what we asked), not the one asked.
  Duration ttl = options_.lease_ttl;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& a : active_) ttl = std::min(ttl, a->job.lease_ttl > Duration(0) ? a->job.lease_ttl : ttl);
  }
  return std::chrono::duration_cast<SteadyDuration>(ttl / 3);
}

void WorkerPool::KeeperLoop() {
  auto last_sent = SteadyClock::now();
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (phase_ == Phase::kStopped) return;
    }
    // Timed from the previous send, so a slow answer does not stretch the period.
    const auto next = last_sent + HeartbeatInterval();
    // A checkpoint, or jobs found late in a long poll, wake us early; waiting
    // a little lets several coalesce.
    const bool notified = notifier_->WaitFor(
        std::clamp<SteadyDuration>(next - SteadyClock::now(), SteadyDuration(0), std::chrono::milliseconds(200)));
    if (notified) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (notified || SteadyClock::now() >= next) {
      last_sent = SteadyClock::now();
      // After a failure, try again sooner: the leases are running out.
      if (!SendHeartbeat()) last_sent -= HeartbeatInterval() * 2 / 3;
    }
  }
}

bool WorkerPool::SendHeartbeat() {
  std::vector<std::shared_ptr<ActiveJob>> held;
  {
    std::lock_guard<std::mutex> lock(mu_);
    held = active_;
  }
  HeartbeatRequest req;
  req.worker_id = worker_id_;
  std::unordered_map<JobId, std::shared_ptr<ActiveJob>> by_id;
  std::vector<std::pair<bool, bool>> cleared;  // dirty flags taken, to restore on failure
  std::vector<std::shared_ptr<ActiveJob>> sent_jobs;
  for (auto& a : held) {
    std::lock_guard<std::mutex> lock(a->mu);
    // Settled jobs are no longer held; lost or self-fenced ones are given up
    // (renewing them now would keep a job we are killing from its next worker).
    if (a->settled || IsUnreportable(a->stop_reason)) continue;
    HeartbeatItem item{a->job.id, a->job.lease_token, std::nullopt, std::nullopt};
    if (a->progress_dirty) item.progress = a->progress;
    if (a->checkpoint_dirty) item.checkpoint = a->checkpoint;
    cleared.emplace_back(a->progress_dirty, a->checkpoint_dirty);
    a->progress_dirty = false;
    a->checkpoint_dirty = false;
    req.jobs.push_back(std::move(item));
    by_id[a->job.id] = a;
    sent_jobs.push_back(a);
  }
  if (req.jobs.empty()) return true;
  auto sent = SteadyClock::now();
  auto answers = backend_.Heartbeat(req);
  if (!answers.ok() && answers.status().code() != StatusCode::kUnavailable) {
    // Refused for its content (a payload the engine rejects): the leases
    // matter more than progress, so renew them without it.
    spdlog::error("worker {}: heartbeat refused ({}); renewing the leases without progress and checkpoints",
                  worker_id_, answers.status().ToString());
    for (HeartbeatItem& item : req.jobs) {
      item.progress.reset();
      item.checkpoint.reset();
    }
    sent = SteadyClock::now();
    answers = backend_.Heartbeat(req);
  }
  if (!answers.ok()) {
    spdlog::warn("worker {}: heartbeat for {} job(s) failed: {}", worker_id_, req.jobs.size(),
                 answers.status().ToString());
    for (std::size_t i = 0; i < sent_jobs.size(); ++i) {
      std::lock_guard<std::mutex> lock(sent_jobs[i]->mu);
      sent_jobs[i]->progress_dirty |= cleared[i].first;
      sent_jobs[i]->checkpoint_dirty |= cleared[i].second;
    }
    return false;
  }
  for (const HeartbeatResult& r : *answers) {
    auto it = by_id.find(r.id);
    if (it == by_id.end()) continue;
    const auto& a = it->second;
    if (r.answer == HeartbeatAnswer::kLost) {
      RequestStop(a, StopReason::kLeaseLost);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(a->mu);
      a->lease_deadline = sent + a->job.lease_ttl;
    }
    if (r.answer == HeartbeatAnswer::kCancel) RequestStop(a, StopReasonFor(r.cancel_reason));
  }
  return true;
}

void WorkerPool::RequestStop(const std::shared_ptr<ActiveJob>& a, StopReason reason) {
  std::function<void(Duration)> terminate;
  std::function<void()> kill;
  {
    std::lock_guard<std::mutex> lock(a->mu);
    if (a->stop_reason != StopReason::kNone || a->finished) {
      // A lost lease overrides an earlier reason: the outcome must not be reported,
      // and a command still running is killed now.
      if (reason == StopReason::kLeaseLost && !a->finished && a->stop_reason != StopReason::kLeaseLost) {
        a->stop_reason = reason;
        kill = a->kill;
      } else if (IsUnreportable(reason) && !IsUnreportable(a->stop_reason)) {
        a->stop_reason = reason;
      }
      if (!kill) return;
    } else {
      a->stop_reason = reason;
      a->stop_at = SteadyClock::now();
      terminate = a->terminate;
      // The job may be running elsewhere already: no grace for a command.
      if (reason == StopReason::kLeaseLost) kill = a->kill;
    }
  }
  spdlog::info("job {} [{}]: stopping ({})", a->job.id, a->job.kind, ToString(reason));
  a->stop.request_stop();  // outside the lock: stop callbacks run here
  if (kill) {
    kill();
  } else if (terminate) {
    terminate(options_.grace);
  }
}

std::shared_ptr<ActiveJob> WorkerPool::FindHeld(JobId id, std::int64_t token) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& a : active_) {
    if (a->job.id == id && a->job.lease_token == token) return a;
  }
  return nullptr;
}

void WorkerPool::CancelJob(JobId id, std::int64_t token, CancelReason reason) {
  if (auto a = FindHeld(id, token)) RequestStop(a, StopReasonFor(reason));
}

void WorkerPool::LeasesLost(const std::vector<std::pair<JobId, std::int64_t>>& leases) {
  for (const auto& [id, token] : leases) {
    if (auto a = FindHeld(id, token)) RequestStop(a, StopReason::kLeaseLost);
  }
}

void WorkerPool::WatchdogLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, kWatchdogTick, [&] { return phase_ == Phase::kStopped; })) return;
    }
    Watchdog();
  }
}

void WorkerPool::Watchdog() {
  const auto now = SteadyClock::now();
  std::vector<std::shared_ptr<ActiveJob>> held;
  std::vector<std::shared_ptr<ActiveJob>> running;  // by slot
  bool drain_expired = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    held = active_;
    running = slot_job_;
    drain_expired = (phase_ == Phase::kDraining || phase_ == Phase::kStopping) && now >= drain_deadline_;
  }
  for (auto& a : held) {
    std::optional<StopReason> stop;
    std::function<void()> kill;
    {
      std::lock_guard<std::mutex> lock(a->mu);
      if (a->finished || a->settled) continue;
      if (a->stop_reason == StopReason::kNone) {
        if (now + kFenceMargin >= a->lease_deadline - a->grace) {
          stop = StopReason::kSelfFence;  // the engine is about to give it away
        } else if (a->attempt_deadline && now >= *a->attempt_deadline) {
          stop = a->deadline_kind == CancelReason::kDeadline ? StopReason::kDeadline : StopReason::kTimeout;
        } else if (drain_expired) {
          stop = StopReason::kDrain;
        }
      } else if (a->kill && now + kFenceMargin >= a->lease_deadline) {
        kill = a->kill;  // a command still alive at lease end: kill it now
        a->kill = nullptr;  // once is enough
      }
    }
    if (stop) RequestStop(a, *stop);
    if (kill) kill();
  }
  // In-process handlers past their grace (or their lease) are abandoned.
  for (std::size_t slot = 0; slot < running.size(); ++slot) {
    const auto& a = running[slot];
    if (!a) continue;
    bool give_up = false;
    {
      std::lock_guard<std::mutex> lock(a->mu);
      give_up = a->in_process && !a->finished && !a->abandoned && a->stop_reason != StopReason::kNone &&
                (now >= a->stop_at + a->grace || now + kFenceMargin >= a->lease_deadline);
      if (give_up) a->abandoned = true;
    }
    if (give_up) Abandon(a, slot);
  }
}

void WorkerPool::Abandon(const std::shared_ptr<ActiveJob>& a, std::size_t slot) {
  StopReason reason;
  {
    std::lock_guard<std::mutex> lock(a->mu);
    reason = a->stop_reason;
  }
  std::int64_t count;
  bool give_up_now = false;
  bool report_here = false;
  RunOutcome outcome{false, std::nullopt, StoppedFailure(a->job, reason), true};
  outcome.failure.message += "; the handler ignored the stop request and its thread was abandoned";
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The documented exception to "every thread is joined": the hung handler's
    // thread is detached. It holds shared ownership of what it touches, and
    // returns without touching the pool if its handler ever comes back.
    slots_[slot].detach();
    slot_job_[slot] = nullptr;
    count = ++stats_.abandoned;
    if (count > options_.max_abandoned && !gave_up_) {
      gave_up_ = true;
      give_up_now = true;
    }
    if (phase_ != Phase::kStopped) {
      // The fresh thread reports the job first, so the watchdog never waits on the backend.
      slots_[slot] = std::thread([this, slot, a, outcome] {
        if (!Report(a, outcome)) Finish(a);
        SlotLoop(slot);
      });
    } else {
      report_here = true;
    }
  }
  spdlog::error("job {} [{}]: handler ignored its stop request ({}) for {}; abandoned its thread ({} abandoned so far)",
                a->job.id, a->job.kind, ToString(reason), FormatDurationShort(a->grace), count);
  if (report_here) {
    if (!Report(a, outcome)) Finish(a);
  }
  if (give_up_now) {
    spdlog::error("worker {}: more than {} abandoned handlers; draining and exiting so a supervisor restarts it",
                  worker_id_, options_.max_abandoned);
    Drain();
  }
}

// ---------------------------------------------------------------------------
// Stopping

void WorkerPool::Drain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ != Phase::kRunning) return;
    phase_ = Phase::kDraining;
    drain_deadline_ = SteadyClock::now() + options_.drain_timeout;
  }
  spdlog::info("worker {}: draining: no new jobs; running jobs have {} to finish", worker_id_,
               FormatDurationShort(options_.drain_timeout));
  backend_.WakeAll();
  NotifyAll();
}

void WorkerPool::StopNow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ == Phase::kStopped || phase_ == Phase::kStopping) return;
    phase_ = Phase::kStopping;
    drain_deadline_ = SteadyClock::now();
  }
  spdlog::info("worker {}: stopping now: running jobs are handed back", worker_id_);
  backend_.WakeAll();
  NotifyAll();
}

int WorkerPool::Wait() {
  if (!started_ || joined_) return gave_up_ ? 70 : 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return phase_ != Phase::kRunning && active_.empty(); });
    phase_ = Phase::kStopped;
  }
  NotifyAll();
  completer_cv_.notify_all();
  notifier_->Notify();
  fetcher_.join();
  completer_.join();
  keeper_.join();
  watchdog_.join();
  std::vector<std::thread> slots;
  {
    std::lock_guard<std::mutex> lock(mu_);
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
  return gave_up_ ? 70 : 0;
}

WorkerStats WorkerPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int WorkerPool::busy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(active_.size());
}

}  // namespace jobwarden
