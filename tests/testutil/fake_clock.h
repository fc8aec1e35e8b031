// A Clock that only moves when a test says so. Safe for concurrent use.
#pragma once

#include <atomic>

#include "core/clock.h"

namespace jobwarden::testing {

class FakeClock final : public Clock {
 public:
  // Starts at a fixed, readable instant (2026-01-01T00:00:00Z) so failures print stable times.
  explicit FakeClock(Timestamp start = FromMillis(1'767'225'600'000)) : now_ms_(ToMillis(start)) {}
  Timestamp Now() const override { return FromMillis(now_ms_.load()); }
  void Advance(Duration d) { now_ms_ += d.count(); }
  void Set(Timestamp t) { now_ms_ = ToMillis(t); }

 private:
  std::atomic<std::int64_t> now_ms_;
};

}  // namespace jobwarden::testing
