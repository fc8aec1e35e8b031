// A MonotonicClock that only moves when a test says so. Safe for concurrent use.
//
// A wait on it ends when its condition variable is notified or once the
// test advanced the clock past the wait's deadline: a waiter looks at the
// fake time again every kPollSlice of real time, so an Advance() takes
// effect within about a millisecond, and nothing depends on how long the
// real machine took.
#pragma once

#include <atomic>
#include <chrono>

#include "core/monotonic_clock.h"

namespace jobwarden::testing {

class FakeMonotonicClock final : public MonotonicClock {
 public:
  static constexpr auto kPollSlice = std::chrono::milliseconds(1);

  // Starts well after the epoch, so code that subtracts from Now() stays positive.
  FakeMonotonicClock() : now_ns_(std::chrono::nanoseconds(std::chrono::hours(1)).count()) {}

  TimePoint Now() const override { return TimePoint(std::chrono::nanoseconds(now_ns_.load())); }
  void WaitUntil(CondVar& cv, Mutex& mu, TimePoint deadline) const override REQUIRES(mu) {
    if (Now() >= deadline) return;
    cv.WaitFor(mu, kPollSlice);
  }

  void Advance(std::chrono::nanoseconds d) { now_ns_ += d.count(); }

 private:
  std::atomic<std::int64_t> now_ns_;
};

}  // namespace jobwarden::testing
