// The clock seam. Logic takes `now` from a Clock owned by the caller, so tests
// inject a FakeClock (tests/testutil/fake_clock.h) and never sleep.
#pragma once

#include "core/time.h"

namespace jobwarden {

// Safe for concurrent use.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (UTC), used for everything stored in the database.
  virtual Timestamp Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Timestamp Now() const override { return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()); }
};

}  // namespace jobwarden
