// Retry backoff (DESIGN.md defaults table):
//   delay = min(cap, base * 2^(attempt-1)) * U(0.5, 1)
// The jitter keeps retries of jobs that failed together from arriving together.
#pragma once

#include <random>

#include "core/time.h"

namespace jobwarden {

struct BackoffPolicy {
  Duration base = std::chrono::seconds(5);  // Default: 5 s
  Duration cap = std::chrono::minutes(10);  // Default: 10 min
};

// `attempt` is the attempt that just failed (1 for the first run). `unit` is a
// uniform draw in [0, 1]; it maps to the jitter factor 0.5 + 0.5 * unit.
Duration BackoffDelay(const BackoffPolicy& policy, int attempt, double unit);

// The same with a draw from `rng` (seeded in tests for determinism).
Duration BackoffDelay(const BackoffPolicy& policy, int attempt, std::mt19937_64& rng);

}  // namespace jobwarden
