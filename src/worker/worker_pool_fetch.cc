// The worker pool's fetcher: leases as many jobs as there are free slots and
// hands them to the slots (one wake-up per batch, see Take).
#include "worker/worker_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "worker/worker_pool_internal.h"

namespace jobwarden {

using namespace worker_pool_internal;

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
    if (!AwaitFreeSlots(free, settle)) return;
    FetchRequest req;
    req.queues = options_.queues;
    req.max = free;  // never more than free slots: prefetching starves other workers
    req.lease_ttl = options_.lease_ttl;
    req.grace = options_.grace;
    req.worker_id = worker_id_;
    const auto sent = Now();
    const auto sent_wall = std::chrono::system_clock::now();
    const Duration wait = std::clamp<Duration>((ttl - options_.grace) / 3, Duration(0), options_.fetch_wait);
    Result<std::vector<Job>> fetched = std::vector<Job>{};
    if (!settle.empty()) {
      std::optional<std::vector<Job>> jobs = CompleteAndFetch(std::move(settle), req);
      if (!jobs) continue;
      fetched = std::move(*jobs);
    } else {
      fetched = backend_.Fetch(req, wait);
    }
    if (fetched.ok() && fetched->empty() && Now() - sent < kMinFetchRound) {
      PauseFetching(2 * kMinFetchRound);
      continue;
    }
    if (!fetched.ok()) {
      spdlog::warn("worker {}: fetch failed, retrying in {}: {}", worker_id_, FormatDurationShort(backoff),
                   fetched.status().ToString());
      std::uniform_int_distribution<std::int64_t> jitter(0, backoff.count() / 2);
      PauseFetching(backoff + Duration(jitter(rng)));
      backoff = std::min<Duration>(backoff * 2, std::chrono::seconds(5));
      continue;
    }
    backoff = std::chrono::milliseconds(100);
    if (fetched->empty()) continue;
    const bool renew_now = Now() - sent > kRenewAfterFetchWait;
    if (!QueueFetched(ToActiveJobs(*fetched, sent, sent_wall, ttl), renew_now)) return;
  }
}

bool WorkerPool::AwaitFreeSlots(int& free, std::vector<PendingComplete>& settle) {
  MutexLock lock(mu_);
  fetcher_state_ = FetcherState::kWaiting;
  while (phase_ == Phase::kRunning && BusySlots() >= options_.concurrency) fetch_cv_.Wait(mu_);
  // Under load, fetch for several slots at once (one engine transaction
  // for many jobs); the wait is short and bounded. An idle pool (every
  // slot free, so at least half) fetches at once: no added latency.
  const int half = (options_.concurrency + 1) / 2;
  if (phase_ == Phase::kRunning && options_.concurrency - BusySlots() < half) {
    const auto until = std::chrono::steady_clock::now() + kFetchGather;
    while (phase_ == Phase::kRunning && options_.concurrency - BusySlots() < half &&
           fetch_cv_.WaitUntil(mu_, until) == std::cv_status::no_timeout) {
    }
  }
  if (phase_ != Phase::kRunning) {
    SetFetcherState(FetcherState::kDone);
    return false;
  }
  free = options_.concurrency - BusySlots();
  if (combine_) settle.swap(completions_);
  SetFetcherState(settle.empty() ? FetcherState::kLong : FetcherState::kQuick);
  return true;
}

std::optional<std::vector<Job>> WorkerPool::CompleteAndFetch(std::vector<PendingComplete> settle,
                                                             const FetchRequest& req) {
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
    return std::nullopt;
  }
  SendCompletions(std::move(settle), std::move(both->completed));
  if (both->fetched.empty()) return std::nullopt;
  return std::move(both->fetched);
}

void WorkerPool::PauseFetching(Duration d) {
  MutexLock lock(mu_);
  const auto until = std::chrono::steady_clock::now() + d;
  while (phase_ == Phase::kRunning && fetch_cv_.WaitUntil(mu_, until) == std::cv_status::no_timeout) {
  }
}

std::vector<std::shared_ptr<ActiveJob>> WorkerPool::ToActiveJobs(std::vector<Job>& jobs, SteadyTime sent,
                                                                 std::chrono::system_clock::time_point sent_wall,
                                                                 Duration& ttl) {
  std::vector<std::shared_ptr<ActiveJob>> batch;
  for (Job& job : jobs) {
    if (job.lease_ttl > Duration(0)) ttl = std::min(ttl, job.lease_ttl);
    auto a = std::make_shared<ActiveJob>();
    a->notifier = notifier_;
    a->grace = options_.grace;
    a->max_checkpoint_bytes = options_.max_checkpoint_bytes;
    a->submit_batch = [backend = &backend_, id = job.id, token = job.lease_token](const BatchRequest& r) {
      return backend->SubmitBatch(id, token, r);
    };
    if (auto limit = AttemptDeadline(job)) {
      a->attempt_deadline = sent + std::chrono::duration_cast<SteadyDuration>(*limit - sent_wall);
      a->deadline_kind =
          (job.deadline_at && *job.deadline_at == *limit) ? CancelReason::kDeadline : CancelReason::kTimeout;
    }
    {
      MutexLock lock(a->mu);  // `a` is not shared yet: uncontended, taken for the fields' rule
      a->lease_deadline = sent + job.lease_ttl;
      a->checkpoint = job.checkpoint;
    }
    a->job = std::move(job);
    batch.push_back(std::move(a));
  }
  return batch;
}

bool WorkerPool::QueueFetched(std::vector<std::shared_ptr<ActiveJob>> batch, bool renew_now) {
  bool accepted;
  bool wake_slot = false;
  {
    MutexLock lock(mu_);
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
    MutexLock lock(mu_);
    SetFetcherState(FetcherState::kDone);
    return false;
  }
  // One wake-up for the whole batch: the slot it wakes wakes the next (Take).
  if (wake_slot) slot_cv_.NotifyOne();
  if (renew_now) notifier_->Notify();  // the keeper sends a heartbeat for every held job now
  return true;
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
  std::shared_ptr<ActiveJob> a;
  bool wake_next;
  {
    MutexLock lock(mu_);
    while (queue_.empty() && phase_ != Phase::kStopped) {
      ++idle_slots_;
      slot_cv_.Wait(mu_);
      --idle_slots_;
      // Whichever slot comes out of the wait answers the wake-up (they are alike).
      if (searching_ > 0) --searching_;
    }
    if (queue_.empty()) return nullptr;
    a = std::move(queue_.front());
    queue_.pop_front();
    slot_job_[slot] = a;
    wake_next = NeedSearcher();
  }
  if (wake_next) slot_cv_.NotifyOne();
  return a;
}

void WorkerPool::SetFetcherState(FetcherState state) {
  fetcher_state_ = state;
  if (state == FetcherState::kLong || state == FetcherState::kDone) {
    // Successes that wait for the fetcher would now wait behind a long-poll.
    if (!completions_.empty()) {
      MutexUnlock unlock(mu_);
      completer_cv_.NotifyOne();
    }
  }
}

}  // namespace jobwarden
