#include "core/backoff.h"

#include <algorithm>
#include <cmath>

namespace jobwarden {

Duration BackoffDelay(const BackoffPolicy& policy, int attempt, double unit) {
  const int exponent = std::clamp(attempt, 1, 62) - 1;
  // Compare in floating point so 2^exponent cannot overflow before the cap applies.
  const double raw = static_cast<double>(policy.base.count()) * std::ldexp(1.0, exponent);
  const double capped = std::min(raw, static_cast<double>(policy.cap.count()));
  const double factor = 0.5 + 0.5 * std::clamp(unit, 0.0, 1.0);
  return Duration(static_cast<std::int64_t>(std::llround(capped * factor)));
}

Duration BackoffDelay(const BackoffPolicy& policy, int attempt, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  return BackoffDelay(policy, attempt, dist(rng));
}

}  // namespace jobwarden
