// Error classes (DESIGN.md "Errors and retries"). Every unsuccessful run of a
// job records exactly one of these, with a message a person can read.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace jobwarden {

enum class ErrorClass : std::uint8_t {
  kTransient,     // retry with backoff
  kPermanent,     // never retry: bad input, policy rejection
  kRateLimited,   // retry after the given retry_after; does not spend an attempt
  kTimeout,       // a time limit was hit (attempt timeout or job deadline)
  kStalled,       // no progress for stall_timeout
  kLeaseExpired,  // no heartbeat until lease end (also admin reset-stuck)
  kWorkerLost,    // the worker's death was seen
  kCrashed,       // the handler process died on a signal
  kInterrupted,   // graceful shutdown: does not spend an attempt
  kCancelled,     // a cancel request was acknowledged or enforced
};

inline constexpr ErrorClass kAllErrorClasses[] = {
    ErrorClass::kTransient,   ErrorClass::kPermanent,    ErrorClass::kRateLimited, ErrorClass::kTimeout,
    ErrorClass::kStalled,     ErrorClass::kLeaseExpired, ErrorClass::kWorkerLost,  ErrorClass::kCrashed,
    ErrorClass::kInterrupted, ErrorClass::kCancelled,
};

std::string_view ToString(ErrorClass c);
std::optional<ErrorClass> ParseErrorClass(std::string_view s);

// Whether a failure of this class spends one of the job's attempts.
constexpr bool SpendsAttempt(ErrorClass c) { return c != ErrorClass::kRateLimited && c != ErrorClass::kInterrupted; }

// The classes a worker may report through fail(). lease_expired and
// worker_lost are the engine's own verdicts; a handler itself may declare only
// transient, permanent and rate_limited (the worker adds the rest).
constexpr bool ReportableByWorker(ErrorClass c) {
  return c != ErrorClass::kLeaseExpired && c != ErrorClass::kWorkerLost;
}

}  // namespace jobwarden
