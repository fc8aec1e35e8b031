// The monotonic-clock seam, beside Clock (core/clock.h, wall time for what is
// stored). Logic that times things on the monotonic clock (the worker pool's
// leases, heartbeats and watchdog) reads it and waits on it through a
// MonotonicClock, so tests inject a FakeMonotonicClock
// (tests/testutil/fake_monotonic_clock.h), move time by hand and never sleep.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace jobwarden {

// Safe for concurrent use.
class MonotonicClock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~MonotonicClock() = default;
  virtual TimePoint Now() const = 0;
  // Blocks on `cv`, whose mutex `lock` holds, until `cv` is notified (or
  // wakes spuriously) or this clock reaches `deadline`.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         TimePoint deadline) const = 0;

  // Waits until `pred()` holds or this clock reaches `deadline`; returns
  // pred() (as std::condition_variable::wait_until does).
  template <typename Pred>
  bool WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, TimePoint deadline,
                 Pred pred) const {
    while (!pred()) {
      if (Now() >= deadline) return pred();
      WaitUntil(cv, lock, deadline);
    }
    return true;
  }
};

class RealMonotonicClock final : public MonotonicClock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 TimePoint deadline) const override {
    cv.wait_until(lock, deadline);
  }
  using MonotonicClock::WaitUntil;
};

}  // namespace jobwarden
