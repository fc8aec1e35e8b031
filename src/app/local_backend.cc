#include "app/local_backend.h"

#include <algorithm>
#include <random>

namespace jobwarden {

LocalBackend::LocalBackend(Engine& engine, Duration poll_interval) : engine_(engine), poll_interval_(poll_interval) {
  engine_.AddListener([w = wakeups_, &engine](const JobEventRecord& e) {
    // A job became available, or stopped running where flow limits are set
    // (the slot it freed may let a held job start).
    const bool freed = e.from == JobState::kRunning && e.to != JobState::kRunning && engine.HasFlowLimits();
    if (e.to != JobState::kAvailable && !freed) return;
    {
      MutexLock lock(w->mu);
      ++w->generation;
    }
    w->cv.NotifyAll();
  });
}

Result<std::string> LocalBackend::Register(const WorkerRecord& worker) { return engine_.RegisterWorker(worker); }

Status LocalBackend::Deregister(const std::string& worker_id) { return engine_.DeregisterWorker(worker_id); }

Result<std::vector<Job>> LocalBackend::Fetch(const FetchRequest& request, Duration wait) {
  thread_local std::mt19937 rng{std::random_device{}()};
  const auto give_up = std::chrono::steady_clock::now() + wait;
  while (true) {
    std::uint64_t seen;
    {
      MutexLock lock(wakeups_->mu);
      if (wakeups_->shut_down) return std::vector<Job>{};
      seen = wakeups_->generation;
    }
    FetchHolds holds;
    JW_ASSIGN_OR_RETURN(std::vector<Job> jobs, engine_.Fetch(request, &holds));
    const auto now = std::chrono::steady_clock::now();
    if (!jobs.empty() || now >= give_up) return jobs;
    // Poll with +-20% jitter, or wake at once when a job becomes available here.
    std::uniform_int_distribution<std::int64_t> jitter(-poll_interval_.count() / 5, poll_interval_.count() / 5);
    auto next_poll = now + poll_interval_ + Duration(jitter(rng));
    // Jobs held by a rate, a breaker's cooldown or a retry_after hold: fetch
    // again when the earliest one lifts (a rate of 5/s: every 200 ms).
    if (holds.retry_at) {
      const Duration lifts = *holds.retry_at - engine_.clock().Now();
      next_poll = std::min(next_poll, now + std::clamp<Duration>(lifts, std::chrono::milliseconds(5), poll_interval_));
    }
    const auto until = std::min(next_poll, give_up);
    Wakeups& w = *wakeups_;
    MutexLock lock(w.mu);
    while (w.generation == seen && !w.shut_down && w.cv.WaitUntil(w.mu, until) == std::cv_status::no_timeout) {
    }
  }
}

Result<std::vector<HeartbeatResult>> LocalBackend::Heartbeat(const HeartbeatRequest& request) {
  return engine_.Heartbeat(request);
}

Result<std::vector<Status>> LocalBackend::CompleteMany(const std::vector<CompleteRequest>& requests) {
  return engine_.CompleteMany(requests);
}

Result<CompleteAndFetchResult> LocalBackend::CompleteAndFetch(const std::vector<CompleteRequest>& completions,
                                                              const FetchRequest& fetch) {
  bool shut_down;
  {
    MutexLock lock(wakeups_->mu);
    shut_down = wakeups_->shut_down;
  }
  if (!shut_down) return engine_.CompleteManyAndFetch(completions, fetch);
  CompleteAndFetchResult out;  // as Fetch after WakeAll: settle, lease nothing
  JW_ASSIGN_OR_RETURN(out.completed, engine_.CompleteMany(completions));
  return out;
}

Status LocalBackend::Fail(const FailRequest& request) { return engine_.Fail(request); }

Result<BatchInfo> LocalBackend::SubmitBatch(JobId parent, std::int64_t token, const BatchRequest& request) {
  return engine_.SubmitChildBatch(parent, token, request);
}

void LocalBackend::WakeAll() {
  {
    MutexLock lock(wakeups_->mu);
    wakeups_->shut_down = true;
  }
  wakeups_->cv.NotifyAll();
}

}  // namespace jobwarden
