// The monotonic-clock seam, beside Clock (core/clock.h, wall time for what is
// stored). Logic that times things on the monotonic clock (the worker pool's
// leases, heartbeats and watchdog) reads it and waits on it through a
// MonotonicClock, so tests inject a FakeMonotonicClock
// (tests/testutil/fake_monotonic_clock.h), move time by hand and never sleep.
#pragma once

#include <chrono>

#include "core/thread_annotations.h"

namespace jobwarden {

// Safe for concurrent use.
class MonotonicClock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~MonotonicClock() = default;
  virtual TimePoint Now() const = 0;
  // Blocks on `cv`, releasing `mu` (held by the caller), until `cv` is
  // notified (or wakes spuriously) or this clock reaches `deadline`; returns
  // with `mu` held. Callers loop on their condition, as with CondVar (no
  // predicate overload, so the lock analysis can follow the loop):
  //   while (!ready_ && clock.Now() < deadline) clock.WaitUntil(cv_, mu_, deadline);
  virtual void WaitUntil(CondVar& cv, Mutex& mu, TimePoint deadline) const REQUIRES(mu) = 0;
};

class RealMonotonicClock final : public MonotonicClock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  void WaitUntil(CondVar& cv, Mutex& mu, TimePoint deadline) const override REQUIRES(mu) { cv.WaitUntil(mu, deadline); }
};

}  // namespace jobwarden
