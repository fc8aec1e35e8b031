// Prometheus metrics (GET /metrics, text format 0.0.4).
//
// Counters live in memory from the server's start (Prometheus handles
// resets); gauges of the job table, the queues' limits and the resources are
// read from the store at scrape time (two reads: the queue list and the
// resource list), so they are true for every process sharing the database.
// A resource's outcomes are the store's 5-minute window as gauges, not
// counters: jobs of a resource are settled by every server on the database.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/error_class.h"
#include "core/thread_annotations.h"
#include "engine/engine.h"
#include "server/latency_stats.h"

namespace jobwarden::server {

// A Prometheus label value: backslash, double quote and newline escaped.
std::string EscapeLabelValue(std::string_view s);

struct StreamGauges {
  std::size_t long_polls = 0;
  std::size_t event_streams = 0;
  std::size_t sessions = 0;
};

class Metrics {
 public:
  explicit Metrics(const Clock& clock) : latency_(clock) {}

  // Engine listener: completions, failures by class, lease expirations, and
  // the wait and run times (LatencyStats).
  void OnJobEvent(const JobEventRecord& e);
  const LatencyStats& latency() const { return latency_; }
  // Engine batch listener: batches finished, by state, and callbacks enqueued.
  void OnBatch(const BatchInfo& b);
  // `method` and `route` must outlive the Metrics (route table strings, literals).
  void OnRequest(std::string_view method, std::string_view route, int status);
  // A busy-poll for a connection's next request caught it, or ran out.
  void OnBusyPoll(bool caught) {
    (caught ? busy_polls_caught_ : busy_polls_missed_).fetch_add(1, std::memory_order_relaxed);
  }

  // `resources`: Engine::Resources() at `now` (flow control: limits, breaker,
  // held jobs and the last 5 minutes' outcomes, per resource).
  // `batches`: BatchStateCounts() (batches per state, in the store).
  std::string Render(const std::vector<QueueInfo>& queues, const std::vector<ResourceInfo>& resources,
                     const std::array<std::int64_t, 3>& batches, Timestamp now, const StreamGauges& streams) const;

 private:
  static constexpr std::size_t kClasses = std::size(kAllErrorClasses);
  std::atomic<std::uint64_t> enqueued_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::array<std::atomic<std::uint64_t>, kClasses> failures_{};  // by ErrorClass, each unsuccessful run
  std::atomic<std::uint64_t> lease_expirations_{0};
  std::array<std::atomic<std::uint64_t>, 3> batches_finished_{};  // by BatchState
  std::atomic<std::uint64_t> batch_callbacks_{0};
  std::atomic<std::uint64_t> busy_polls_caught_{0};
  std::atomic<std::uint64_t> busy_polls_missed_{0};
  LatencyStats latency_;
  mutable Mutex mu_;
  std::map<std::tuple<std::string_view, std::string_view, int>, std::uint64_t> requests_ GUARDED_BY(mu_);
};

}  // namespace jobwarden::server
