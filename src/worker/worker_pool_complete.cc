// The worker pool's completer: reports successes in batches (see
// CompleterLoop for who sends them and when).
#include "worker/worker_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "core/log_fields.h"
#include "worker/worker_pool_internal.h"

namespace jobwarden {

using namespace worker_pool_internal;

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
      MutexLock lock(mu_);
      while (phase_ != Phase::kStopped && (completions_.empty() || FetcherTakesCompletions())) {
        completer_cv_.Wait(mu_);
      }
      if (completions_.empty()) return;
      batch.swap(completions_);
    }
    SendCompletions(std::move(batch));
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
      const ScopedLogFields log_fields(JobLogFields(job, worker_id_));
      if (s.code() == StatusCode::kInvalidArgument) {
        // A result the engine cannot store (not JSON): a failure to report, not
        // a success to drop and leave to the lease's expiry.
        Failure f;
        f.error_class = ErrorClass::kTransient;
        f.message = "the handler succeeded but its result was refused: " + s.message();
        SendFail(job, std::move(f), batch[k].request.checkpoint, batch[k].request.progress);
      } else {
        MutexLock lock(mu_);
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
    MutexLock lock(mu_);
    active_.erase(std::remove(active_.begin(), active_.end(), a), active_.end());
    --awaiting_complete_;
    // The slot was already counted free: only Wait() (stopping, no job held) cares.
    if (phase_ == Phase::kRunning || !active_.empty()) return;
  }
  cv_.NotifyAll();
}

}  // namespace jobwarden
