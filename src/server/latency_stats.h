// How long jobs wait and run, per queue and kind: the latency breakdown of
// GET /v1/latency (the dashboard's overview) and the per-queue histograms of
// GET /metrics.
//
// Three figures per job, from the engine's events:
//   wait   due (run_at) -> start of the attempt, at each start
//   run    start -> the end of that attempt (success, failure, retry, take-back)
//   total  enqueue (created_at) -> finish, for a job that finished
// The windowed figures keep one log-bucketed histogram per minute (16 of
// them, so windows up to 15 minutes), accurate to within 5% from 1 ms to
// days, per queue and kind; the metrics keep Prometheus' cumulative buckets per queue.
//
// Fed on the thread that changed the job: one lock, a hash lookup and a few
// increments per event. A completion event carries no queue or kind, so the
// start of each running job is remembered until its attempt ends; jobs that
// were running when this server started are not in `run` or `total`.
// Memory is bounded: at most kMaxGroups queue/kind pairs (later ones are not
// broken down) and kMaxRunning remembered starts.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/thread_annotations.h"
#include "engine/engine.h"

namespace jobwarden::server {

class LatencyStats {
 public:
  static constexpr std::size_t kMaxGroups = 256;
  static constexpr std::size_t kMaxRunning = 1'000'000;
  static constexpr int kMaxWindowMinutes = 15;

  explicit LatencyStats(const Clock& clock);
  ~LatencyStats();
  LatencyStats(const LatencyStats&) = delete;
  LatencyStats& operator=(const LatencyStats&) = delete;

  // Engine listener.
  void OnJobEvent(const JobEventRecord& e);

  struct Quantiles {
    std::int64_t count = 0;
    double p50_s = 0;
    double p95_s = 0;
  };
  struct Group {
    std::string queue;
    std::string kind;
    Quantiles wait, run, total;
  };
  // Each queue and kind with samples in the last `window` (rounded up to
  // whole minutes, at most kMaxWindowMinutes; the current minute counts as
  // one), sorted by queue then kind.
  std::vector<Group> Window(Duration window) const;

  // Prometheus text: jobwarden_job_wait_seconds and jobwarden_job_run_seconds,
  // histograms per queue, cumulative since the server started.
  void AppendMetrics(std::string& out) const;

 private:
  // Log-spaced buckets of milliseconds: bucket 0 holds [0, 1 ms), bucket i
  // [1.1^(i-1), 1.1^i) ms; the last also holds everything above (13 days).
  static constexpr int kBuckets = 220;
  using Histogram = std::array<std::uint32_t, kBuckets>;
  struct Minute {
    std::int64_t minute = -1;  // minutes since the epoch this slot holds
    Histogram wait{}, run{}, total{};
  };
  struct Windows {
    std::array<Minute, kMaxWindowMinutes + 1> slots;
  };
  // Prometheus' cumulative buckets (le), per queue.
  static constexpr std::array<double, 16> kPromBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                         2.5,   5,    10,    30,   60,  300,  900, 3600};
  struct Prom {
    std::array<std::uint64_t, kPromBounds.size() + 1> buckets{};  // the last is +Inf
    std::uint64_t count = 0;
    double sum = 0;
    void Add(double seconds);
  };
  struct QueueProm {
    Prom wait, run;
  };
  struct Started {
    std::string queue, kind;
    Timestamp at{};
    std::optional<Timestamp> created_at;
  };
  enum class Figure { kWait, kRun, kTotal };

  static int BucketOf(Duration d);
  static double BucketValueSeconds(int bucket);
  static Quantiles QuantilesOf(const Histogram& h);
  static void AppendHistogram(std::string& out, const char* name, const char* help,
                              const std::map<std::string, QueueProm>& per_queue, Prom QueueProm::*which);
  void Add(const std::string& queue, const std::string& kind, Figure f, Duration d, Timestamp at) REQUIRES(mu_);

  const Clock& clock_;
  mutable Mutex mu_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Windows>> groups_ GUARDED_BY(mu_);
  std::map<std::string, QueueProm> prom_ GUARDED_BY(mu_);
  std::unordered_map<JobId, Started> running_ GUARDED_BY(mu_);
};

}  // namespace jobwarden::server
