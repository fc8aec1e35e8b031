// The worker pool's slots: each runs the jobs it takes (an in-process
// handler, a runner, or nothing for an unknown kind) and reports the outcome;
// failures are sent from here, successes handed to the completer.
#include "worker/worker_pool.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <thread>

#include "core/log_fields.h"
#include "protocol/batch_json.h"
#include "worker/worker_pool_internal.h"

namespace jobwarden {

using namespace worker_pool_internal;

namespace {

// In-process run. A free function on purpose: after an abandoned handler
// returns, this frame may outlive the pool, so it must not touch it.
RunOutcome RunInProcess(const std::shared_ptr<ActiveJob>& a, const std::shared_ptr<const InProcessHandler>& h) {
  RunOutcome out;
  JobContext ctx(a);
  auto stopped = [&]() -> std::optional<StopReason> {
    MutexLock lock(a->mu);
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
    MutexLock lock(a->mu);
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

void WorkerPool::SlotLoop(std::size_t slot) {
  while (auto a = Take(slot)) {
    // Every line about this job from this thread (the runner's, the report's) names it.
    const ScopedLogFields log_fields(JobLogFields(a->job, worker_id_));
    bool hand_back = false;
    {
      MutexLock lock(mu_);
      hand_back = phase_ != Phase::kRunning;
      if (!hand_back) ++stats_.started;
    }
    RunOutcome out;
    StopReason stopped_before = StopReason::kNone;
    {
      // A job stopped before it started (lease lost, self-fenced, cancelled
      // while queued) is never run: its lease may already be someone else's.
      MutexLock lock(a->mu);
      if (!hand_back) stopped_before = a->stop_reason;
    }
    if (hand_back) {
      // Fetched but not started when the drain began: give it back untouched.
      {
        MutexLock lock(a->mu);
        if (a->stop_reason == StopReason::kNone) a->stop_reason = StopReason::kDrain;
        a->finished = true;
      }
      out.stopped = true;
      out.failure = StoppedFailure(a->job, StopReason::kDrain);
      out.failure.message = "the worker is shutting down; handed back before it started";
    } else if (stopped_before != StopReason::kNone) {
      {
        MutexLock lock(a->mu);
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
          MutexLock lock(a->mu);
          a->in_process = true;
        }
        out = RunInProcess(a, handler);
        MutexLock lock(a->mu);
        if (a->abandoned) return;  // this thread was given up on: the pool may be gone; touch nothing
        a->finished = true;
      } else if (r != runners_.end()) {
        out = r->second->Run(a);
        MutexLock lock(a->mu);
        a->finished = true;
      } else {
        out.failure.error_class = ErrorClass::kTransient;
        out.failure.message = "no handler for kind '" + a->job.kind + "' in worker " + worker_id_;
        MutexLock lock(a->mu);
        a->finished = true;
      }
    }
    if (!Report(a, std::move(out))) Finish(a);
    MutexLock lock(mu_);
    if (slot_job_[slot] == a) slot_job_[slot] = nullptr;
  }
}

bool WorkerPool::Report(const std::shared_ptr<ActiveJob>& a, RunOutcome outcome) {
  StopReason reason;
  std::optional<std::string> checkpoint;
  std::optional<Progress> progress;
  {
    MutexLock lock(a->mu);
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
    MutexLock lock(mu_);
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
  if (outcome.success && !outcome.batches.empty()) {
    // The handler's fan-out, before its success: a batch the server refuses
    // fails the job with the server's reason, and a retry submits again.
    for (std::size_t i = 0; i < outcome.batches.size(); ++i) {
      Status s = SubmitFd3Batch(job, outcome.batches[i]);
      if (s.ok()) continue;
      if (s.code() == StatusCode::kLeaseLost) {
        spdlog::warn("job {} [{}]: its fd-3 batch was refused ({}); the outcome is not reported", job.id, job.kind,
                     s.message());
        MutexLock lock(mu_);
        ++stats_.lost;
        return false;
      }
      Failure f;
      const bool bad = s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kConflict;
      f.error_class = bad ? ErrorClass::kPermanent : ErrorClass::kTransient;
      f.message = "the handler succeeded but its fd-3 batch " + std::to_string(i + 1) + " of " +
                  std::to_string(outcome.batches.size()) + " was refused: " + s.message();
      SendFail(job, std::move(f), std::move(checkpoint), std::move(progress));
      return false;
    }
  }
  if (outcome.success) {
    // The slot is free now; the lease stays held (in active_) until the
    // completer settled it.
    bool wake_fetcher;
    bool wake_completer;
    {
      MutexLock lock(mu_);
      completions_.push_back({a, CompleteRequest{job.id, job.lease_token, outcome.result, checkpoint, progress}});
      ++awaiting_complete_;
      wake_fetcher = FetcherMayProceed();
      // Not when the fetcher takes it along: the completer would wake only to
      // sleep again, a thread switch per job. It is woken when that changes
      // (SetFetcherState, NotifyAll).
      wake_completer = !FetcherTakesCompletions();
    }
    if (wake_completer) completer_cv_.NotifyOne();
    if (wake_fetcher) fetch_cv_.NotifyOne();  // the fetcher counts the slot as free
    return true;
  }
  SendFail(job, std::move(outcome.failure), std::move(checkpoint), std::move(progress));
  return false;
}

Status WorkerPool::SubmitFd3Batch(const Job& job, const std::string& body) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  JW_ASSIGN_OR_RETURN(BatchRequest request, ParseBatchRequest(j));
  JW_ASSIGN_OR_RETURN(BatchInfo b, backend_.SubmitBatch(job.id, job.lease_token, request));
  spdlog::info("job {} [{}]: fanned out batch {} ({} members)", job.id, job.kind, b.id, b.total);
  return Status::Ok();
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
  MutexLock lock(mu_);
  if (!s.ok()) {
    if (s.code() == StatusCode::kLeaseLost) ++stats_.lost;
    spdlog::warn("job {} [{}]: could not report {}: {}", job.id, job.kind, ToString(failure.error_class), s.ToString());
    return;
  }
  ++stats_.failed;
  spdlog::info("job {} [{}] attempt {} failed [{}]: {}", job.id, job.kind, job.attempt, ToString(failure.error_class),
               failure.message);
}

void WorkerPool::Finish(const std::shared_ptr<ActiveJob>& a) {
  bool wake_fetcher;
  bool wake_waiter;
  {
    MutexLock lock(mu_);
    active_.erase(std::remove(active_.begin(), active_.end(), a), active_.end());
    wake_fetcher = FetcherMayProceed();
    wake_waiter = phase_ != Phase::kRunning && active_.empty();
  }
  if (wake_fetcher) fetch_cv_.NotifyOne();
  if (wake_waiter) cv_.NotifyAll();
}

}  // namespace jobwarden
