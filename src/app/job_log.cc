#include "app/job_log.h"

#include <spdlog/spdlog.h>

#include "core/log_fields.h"

namespace jobwarden {

namespace {

// JSON for a log line: whole when short, else its head.
std::string Brief(const std::string& json) {
  constexpr std::size_t kMax = 200;
  return json.size() <= kMax ? json : json.substr(0, kMax) + "...";
}

std::string ProgressText(const Progress& p) {
  std::string s = std::to_string(p.done);
  if (p.total) s += "/" + std::to_string(*p.total);
  if (!p.message.empty()) s += " (" + p.message + ")";
  return s;
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

LoggingBackend::LoggingBackend(Backend& inner, Duration progress_every)
    : inner_(inner), progress_every_(progress_every) {}

Result<std::string> LoggingBackend::Register(const WorkerRecord& worker) { return inner_.Register(worker); }

Status LoggingBackend::Deregister(const std::string& worker_id) { return inner_.Deregister(worker_id); }

void LoggingBackend::WakeAll() { inner_.WakeAll(); }

Result<std::vector<Job>> LoggingBackend::Fetch(const FetchRequest& request, Duration wait) {
  auto jobs = inner_.Fetch(request, wait);
  if (jobs.ok()) LogStarted(*jobs, request.worker_id);
  return jobs;
}

void LoggingBackend::LogStarted(const std::vector<Job>& jobs, const std::string& worker_id) {
  const auto now = std::chrono::steady_clock::now();
  for (const Job& j : jobs) {
    {
      MutexLock lock(mu_);
      running_[j.id] = {j.kind, j.attempt, worker_id, now, now};
    }
    const ScopedLogFields log_fields(JobLogFields(j, worker_id));
    const std::string limits = "timeout " + FormatDurationShort(j.timeout) +
                               (j.stall_timeout ? ", stall timeout " + FormatDurationShort(*j.stall_timeout) : "");
    if (j.checkpoint) {
      spdlog::info("job {} [{}] attempt {}/{} started ({}), resuming from checkpoint {}", j.id, j.kind, j.attempt,
                   j.max_attempts, limits, Brief(*j.checkpoint));
    } else {
      spdlog::info("job {} [{}] attempt {}/{} started ({})", j.id, j.kind, j.attempt, j.max_attempts, limits);
    }
  }
}

Result<std::vector<HeartbeatResult>> LoggingBackend::Heartbeat(const HeartbeatRequest& request) {
  const auto now = std::chrono::steady_clock::now();
  for (const HeartbeatItem& item : request.jobs) {
    if (!item.progress) continue;
    std::string kind;
    int attempt = 0;
    {
      MutexLock lock(mu_);
      auto it = running_.find(item.id);
      if (it == running_.end() || now - it->second.progress_logged < progress_every_) continue;
      it->second.progress_logged = now;
      kind = it->second.kind;
      attempt = it->second.attempt;
    }
    const ScopedLogFields log_fields(
        {.job_id = item.id, .kind = kind, .attempt = attempt, .worker_id = request.worker_id});
    spdlog::info("job {} [{}] progress {}{}", item.id, kind, ProgressText(*item.progress),
                 item.checkpoint ? ", checkpoint " + Brief(*item.checkpoint) : std::string());
  }
  return inner_.Heartbeat(request);
}

Result<std::vector<Status>> LoggingBackend::CompleteMany(const std::vector<CompleteRequest>& requests) {
  auto results = inner_.CompleteMany(requests);
  if (results.ok()) LogCompleted(requests, *results);
  return results;
}

Result<CompleteAndFetchResult> LoggingBackend::CompleteAndFetch(const std::vector<CompleteRequest>& completions,
                                                                const FetchRequest& fetch) {
  auto both = inner_.CompleteAndFetch(completions, fetch);
  if (!both.ok()) return both;
  LogCompleted(completions, both->completed);
  LogStarted(both->fetched, fetch.worker_id);
  return both;
}

void LoggingBackend::LogCompleted(const std::vector<CompleteRequest>& requests, const std::vector<Status>& results) {
  for (std::size_t i = 0; i < requests.size() && i < results.size(); ++i) {
    const CompleteRequest& r = requests[i];
    Running run;
    {
      MutexLock lock(mu_);
      auto it = running_.find(r.id);
      if (it == running_.end()) continue;
      run = it->second;
      running_.erase(it);
    }
    if (results[i].ok()) {
      const ScopedLogFields log_fields(
          {.job_id = r.id, .kind = run.kind, .attempt = run.attempt, .worker_id = run.worker_id});
      spdlog::info("job {} [{}] attempt {} succeeded in {:.1f}s: result {}", r.id, run.kind, run.attempt,
                   SecondsSince(run.started), r.result ? Brief(*r.result) : std::string("null"));
    }
  }
}

Status LoggingBackend::Fail(const FailRequest& request) {
  Status s = inner_.Fail(request);
  Running run;
  {
    MutexLock lock(mu_);
    auto it = running_.find(request.id);
    if (it == running_.end()) return s;
    run = it->second;
    running_.erase(it);
  }
  // Other failures are logged by the pool (and the engine); a hand-back says
  // what the next worker starts from.
  if (s.ok() && request.failure.error_class == ErrorClass::kInterrupted) {
    const ScopedLogFields log_fields(
        {.job_id = request.id, .kind = run.kind, .attempt = run.attempt, .worker_id = run.worker_id});
    spdlog::info(
        "job {} [{}] handed back as interrupted after {:.1f}s (attempt not spent){}", request.id, run.kind,
        SecondsSince(run.started),
        request.checkpoint ? "; the next worker resumes from checkpoint " + Brief(*request.checkpoint) : std::string());
  }
  return s;
}

}  // namespace jobwarden
