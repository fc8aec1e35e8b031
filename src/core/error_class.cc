#include "core/error_class.h"

namespace jobwarden {

std::string_view ToString(ErrorClass c) {
  switch (c) {
    case ErrorClass::kTransient: return "transient";
    case ErrorClass::kPermanent: return "permanent";
    case ErrorClass::kRateLimited: return "rate_limited";
    case ErrorClass::kTimeout: return "timeout";
    case ErrorClass::kStalled: return "stalled";
    case ErrorClass::kLeaseExpired: return "lease_expired";
    case ErrorClass::kWorkerLost: return "worker_lost";
    case ErrorClass::kCrashed: return "crashed";
    case ErrorClass::kInterrupted: return "interrupted";
    case ErrorClass::kCancelled: return "cancelled";
  }
  return "transient";
}

std::optional<ErrorClass> ParseErrorClass(std::string_view s) {
  for (ErrorClass c : kAllErrorClasses) {
    if (ToString(c) == s) return c;
  }
  return std::nullopt;
}

}  // namespace jobwarden
