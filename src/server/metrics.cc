#include "server/metrics.h"

#include <algorithm>
#include <ostream>
#include <sstream>
#include <utility>

namespace jobwarden::server {

std::string EscapeLabelValue(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

void Help(std::ostream& out, std::string_view name, std::string_view help) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n";
}

// Per queue: running jobs, the concurrency limit (only when set), and each
// configured warning, 1 while in force (DESIGN.md "Flow control").
void RenderQueueLimits(std::ostream& out, const std::vector<QueueInfo>& queues) {
  Help(out, "jobwarden_queue_running", "Running jobs of the queue.");
  for (const QueueInfo& q : queues) {
    out << "jobwarden_queue_running{queue=\"" << EscapeLabelValue(q.name) << "\"} "
        << q.counts[static_cast<std::size_t>(JobState::kRunning)] << '\n';
  }
  Help(out, "jobwarden_queue_limit", "The queue's concurrency limit (queues without one are left out).");
  for (const QueueInfo& q : queues) {
    if (q.limits.concurrency) {
      out << "jobwarden_queue_limit{queue=\"" << EscapeLabelValue(q.name) << "\"} " << *q.limits.concurrency << '\n';
    }
  }
  Help(out, "jobwarden_queue_warning", "1 while the queue's warn_depth or warn_age warning is in force, else 0.");
  for (const QueueInfo& q : queues) {
    for (const auto& [reason, set] : {std::pair<std::string_view, bool>{kWarnDepth, q.limits.warn_depth.has_value()},
                                      {kWarnAge, q.limits.warn_age.has_value()}}) {
      if (!set) continue;
      const bool on = std::find(q.warnings.begin(), q.warnings.end(), reason) != q.warnings.end();
      out << "jobwarden_queue_warning{queue=\"" << EscapeLabelValue(q.name) << "\",reason=\"" << reason << "\"} "
          << (on ? 1 : 0) << '\n';
    }
  }
}

// Per resource: running jobs, the concurrency limit (only when set), the
// breaker (closed 0, half_open 1, open 2), available jobs held back by a
// limit, and the store's 5-minute window of outcomes.
void RenderResources(std::ostream& out, const std::vector<ResourceInfo>& resources, Timestamp now) {
  const auto each = [&](std::string_view name, std::string_view help, const auto& value) {
    Help(out, name, help);
    for (const ResourceInfo& r : resources) value(r, "{resource=\"" + EscapeLabelValue(r.key) + "\"}");
  };
  each("jobwarden_resource_running", "Running jobs with this resource_key.",
       [&](const ResourceInfo& r, const std::string& l) {
         out << "jobwarden_resource_running" << l << ' ' << r.running << '\n';
       });
  each("jobwarden_resource_limit", "The resource's concurrency limit (resources without one are left out).",
       [&](const ResourceInfo& r, const std::string& l) {
         if (r.limits.concurrency) out << "jobwarden_resource_limit" << l << ' ' << *r.limits.concurrency << '\n';
       });
  each("jobwarden_resource_breaker_state", "The resource's circuit breaker: closed 0, half_open 1, open 2.",
       [&](const ResourceInfo& r, const std::string& l) {
         out << "jobwarden_resource_breaker_state" << l << ' ' << BreakerStateNumber(r.breaker.state) << '\n';
       });
  each("jobwarden_resource_held_jobs",
       "Available jobs of the resource that a limit holds back now (its breaker, concurrency, rate or a "
       "retry_after hold), else 0.",
       [&](const ResourceInfo& r, const std::string& l) {
         const bool held = r.available > 0 && !ResourceHoldReasons(r, now).empty();
         out << "jobwarden_resource_held_jobs" << l << ' ' << (held ? r.available : 0) << '\n';
       });
  each("jobwarden_resource_succeeded_5m", "Jobs of the resource that succeeded in the last 5 minutes.",
       [&](const ResourceInfo& r, const std::string& l) {
         out << "jobwarden_resource_succeeded_5m" << l << ' ' << r.stats.succeeded << '\n';
       });
  each("jobwarden_resource_failed_5m", "Runs of the resource that ended with an error in the last 5 minutes.",
       [&](const ResourceInfo& r, const std::string& l) {
         out << "jobwarden_resource_failed_5m" << l << ' ' << r.stats.failed << '\n';
       });
  Help(out, "jobwarden_resource_run_seconds",
       "Run time of the resource's successes in the last 5 minutes, by quantile (0.5, 0.95).");
  for (const ResourceInfo& r : resources) {
    for (const auto& [q, d] :
         {std::pair<const char*, const std::optional<Duration>&>{"0.5", r.stats.p50}, {"0.95", r.stats.p95}}) {
      if (d) {
        out << "jobwarden_resource_run_seconds{resource=\"" << EscapeLabelValue(r.key) << "\",quantile=\"" << q
            << "\"} " << ToSeconds(*d) << '\n';
      }
    }
  }
}

}  // namespace

void Metrics::OnJobEvent(const JobEventRecord& e) {
  if (!e.from && e.to) enqueued_.fetch_add(1, std::memory_order_relaxed);
  if (e.to == JobState::kSucceeded) completed_.fetch_add(1, std::memory_order_relaxed);
  if (e.error_class) {
    failures_[static_cast<std::size_t>(*e.error_class)].fetch_add(1, std::memory_order_relaxed);
    if (*e.error_class == ErrorClass::kLeaseExpired) lease_expirations_.fetch_add(1, std::memory_order_relaxed);
  }
  latency_.OnJobEvent(e);
}

void Metrics::OnRequest(std::string_view method, std::string_view route, int status) {
  MutexLock lock(mu_);
  ++requests_[{method, route, status}];
}

void Metrics::OnBatch(const BatchInfo& b) {
  if (b.state == BatchState::kRunning) return;  // submitted
  batches_finished_[static_cast<std::size_t>(b.state)].fetch_add(1, std::memory_order_relaxed);
  if (b.callback_job_id) batch_callbacks_.fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::Render(const std::vector<QueueInfo>& queues, const std::vector<ResourceInfo>& resources,
                            const std::array<std::int64_t, 3>& batches, Timestamp now,
                            const StreamGauges& streams) const {
  std::ostringstream out;
  out << "# HELP jobwarden_jobs Jobs by queue and state.\n# TYPE jobwarden_jobs gauge\n";
  std::int64_t running = 0;
  for (const QueueInfo& q : queues) {
    for (JobState s : kAllJobStates) {
      const auto n = q.counts[static_cast<std::size_t>(s)];
      if (s == JobState::kRunning) running += n;
      out << "jobwarden_jobs{queue=\"" << EscapeLabelValue(q.name) << "\",state=\"" << ToString(s) << "\"} " << n
          << '\n';
    }
  }
  out << "# HELP jobwarden_jobs_running Jobs running now, all queues.\n# TYPE jobwarden_jobs_running gauge\n"
      << "jobwarden_jobs_running " << running << '\n';
  out << "# HELP jobwarden_queue_oldest_available_age_seconds Age of the oldest available job.\n"
      << "# TYPE jobwarden_queue_oldest_available_age_seconds gauge\n";
  for (const QueueInfo& q : queues) {
    const double age = q.oldest_available_run_at ? std::max(0.0, ToSeconds(now - *q.oldest_available_run_at)) : 0.0;
    out << "jobwarden_queue_oldest_available_age_seconds{queue=\"" << EscapeLabelValue(q.name) << "\"} " << age << '\n';
  }
  out << "# HELP jobwarden_queue_paused Whether the queue is paused.\n# TYPE jobwarden_queue_paused gauge\n";
  for (const QueueInfo& q : queues) {
    out << "jobwarden_queue_paused{queue=\"" << EscapeLabelValue(q.name) << "\"} " << (q.paused ? 1 : 0) << '\n';
  }
  RenderQueueLimits(out, queues);
  RenderResources(out, resources, now);
  constexpr BatchState kBatchStates[] = {BatchState::kRunning, BatchState::kSucceeded, BatchState::kFailed};
  out << "# HELP jobwarden_batches Batches by state (in the store).\n# TYPE jobwarden_batches gauge\n";
  for (BatchState s : kBatchStates) {
    out << "jobwarden_batches{state=\"" << ToString(s) << "\"} " << batches[static_cast<std::size_t>(s)] << '\n';
  }
  out << "# HELP jobwarden_batches_finished_total Batches this server saw finish, by state.\n"
      << "# TYPE jobwarden_batches_finished_total counter\n";
  for (BatchState s : {BatchState::kSucceeded, BatchState::kFailed}) {
    out << "jobwarden_batches_finished_total{state=\"" << ToString(s) << "\"} "
        << batches_finished_[static_cast<std::size_t>(s)].load() << '\n';
  }
  out << "# HELP jobwarden_batch_callbacks_total Batch callback jobs enqueued by this server.\n"
      << "# TYPE jobwarden_batch_callbacks_total counter\njobwarden_batch_callbacks_total " << batch_callbacks_.load()
      << '\n';
  out << "# HELP jobwarden_jobs_enqueued_total Jobs enqueued through this server.\n"
      << "# TYPE jobwarden_jobs_enqueued_total counter\njobwarden_jobs_enqueued_total " << enqueued_.load() << '\n';
  out << "# HELP jobwarden_job_completions_total Jobs that succeeded.\n"
      << "# TYPE jobwarden_job_completions_total counter\njobwarden_job_completions_total " << completed_.load()
      << '\n';
  out << "# HELP jobwarden_job_failures_total Unsuccessful runs, by error class.\n"
      << "# TYPE jobwarden_job_failures_total counter\n";
  for (ErrorClass c : kAllErrorClasses) {
    out << "jobwarden_job_failures_total{class=\"" << ToString(c) << "\"} "
        << failures_[static_cast<std::size_t>(c)].load() << '\n';
  }
  out << "# HELP jobwarden_lease_expirations_total Leases that expired and were taken back.\n"
      << "# TYPE jobwarden_lease_expirations_total counter\njobwarden_lease_expirations_total "
      << lease_expirations_.load() << '\n';
  out << "# HELP jobwarden_long_polls Fetches waiting for a job.\n# TYPE jobwarden_long_polls gauge\n"
      << "jobwarden_long_polls " << streams.long_polls << '\n';
  out << "# HELP jobwarden_event_streams Open event streams.\n# TYPE jobwarden_event_streams gauge\n"
      << "jobwarden_event_streams " << streams.event_streams << '\n';
  out << "# HELP jobwarden_worker_sessions Open worker sessions.\n# TYPE jobwarden_worker_sessions gauge\n"
      << "jobwarden_worker_sessions " << streams.sessions << '\n';
  out << "# HELP jobwarden_http_busy_polls_total Busy-polls for a keep-alive connection's next request, by "
         "whether the request came within the poll.\n# TYPE jobwarden_http_busy_polls_total counter\n"
      << "jobwarden_http_busy_polls_total{outcome=\"caught\"} " << busy_polls_caught_.load() << '\n'
      << "jobwarden_http_busy_polls_total{outcome=\"missed\"} " << busy_polls_missed_.load() << '\n';
  out << "# HELP jobwarden_http_requests_total HTTP requests by route and status.\n"
      << "# TYPE jobwarden_http_requests_total counter\n";
  MutexLock lock(mu_);
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    out << "jobwarden_http_requests_total{method=\"" << method << "\",route=\"" << EscapeLabelValue(route)
        << "\",status=\"" << status << "\"} " << n << '\n';
  }
  std::string text = out.str();
  latency_.AppendMetrics(text);
  return text;
}

}  // namespace jobwarden::server
