// A resource as the API shows it (GET /v1/resources): its flow-control
// settings, its state (breaker, bucket, retry_after hold), its jobs and its
// recent outcomes. Beside QueueInfo in core, so the wire (protocol/) can
// write and read it without knowing the store that fills it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/flow_control.h"
#include "core/time.h"

namespace jobwarden {

// A resource's outcomes over a recent window (DESIGN.md Resource JSON `stats`).
struct ResourceStats {
  std::int64_t succeeded = 0;   // jobs that succeeded in the window
  std::int64_t failed = 0;      // runs that ended with an error in the window
  std::optional<Duration> p50;  // run time of the successes
  std::optional<Duration> p95;
};

// A resource as the API shows it: its settings, its state and its jobs.
struct ResourceInfo {
  std::string key;
  ResourceLimits limits;
  std::int64_t running = 0;
  std::int64_t available = 0;
  Breaker breaker;                      // as of `now` (open past its cooldown reads half_open)
  std::optional<TokenBucket> bucket;    // with a rate, refilled to `now`
  std::optional<Timestamp> held_until;  // a retry_after hold in force
  ResourceStats stats;
};

inline constexpr Duration kResourceStatsWindow = std::chrono::minutes(5);

}  // namespace jobwarden
