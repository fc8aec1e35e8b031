// The worker pool's shared constants and small helpers, used by the files
// that implement WorkerPool (worker_pool*.cc). Not part of its interface.
#pragma once

#include <chrono>

#include "core/job.h"
#include "worker/job_context.h"

namespace jobwarden::worker_pool_internal {

constexpr auto kWatchdogTick = std::chrono::milliseconds(20);
// Self-fencing acts this much before its deadlines, so a watchdog tick that
// comes late still kills by lease end, not after it.
constexpr auto kFenceMargin = 2 * kWatchdogTick;
constexpr int kReportAttempts = 5;
// A fetch that returns nothing this fast is not long-polling: pause before the next.
constexpr auto kMinFetchRound = std::chrono::milliseconds(50);
// A fetch that returned jobs after waiting longer than this has their leases
// renewed at once (see FetchLoop).
constexpr auto kRenewAfterFetchWait = std::chrono::milliseconds(50);
// A busy pool waits at most this long for half its slots to be free before it
// fetches, so that one fetch (one transaction) leases several jobs.
constexpr auto kFetchGather = std::chrono::milliseconds(2);

inline bool IsUnreportable(StopReason r) { return r == StopReason::kLeaseLost || r == StopReason::kSelfFence; }

inline StopReason StopReasonFor(CancelReason r) {
  switch (r) {
    case CancelReason::kTimeout: return StopReason::kTimeout;
    case CancelReason::kDeadline: return StopReason::kDeadline;
    case CancelReason::kStalled: return StopReason::kStalled;
    case CancelReason::kUser:
    case CancelReason::kNone: return StopReason::kCancel;
  }
  return StopReason::kCancel;
}

}  // namespace jobwarden::worker_pool_internal
