// Failures grouped by pattern (DESIGN.md "Dashboard and observability"):
// failed attempts whose messages differ only in numbers, ids, hex, paths and
// quoted strings are one group, so 500 "timeout after 30s on img_4411.jpg"
// are one line. Pure: the store reads the attempts, this groups them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error_class.h"
#include "core/job.h"
#include "core/time.h"

namespace jobwarden {

// `message` with its variable parts masked, in this order:
// - quoted strings ('...', "...", `...`)         -> "<str>" (keeping the quote)
// - a UUID                                        -> <id>
// - a word with a '/' (a path or a URL)           -> <path>
// - 0x..., and words of 6+ hex digits mixing digits and letters -> <hex>
// - every other run of digits (with . or ,)       -> <n>
// "timeout after 30s on img_4411.jpg" -> "timeout after <n>s on img_<n>.jpg".
std::string FailurePattern(std::string_view message);

// One unsuccessful run, as the store keeps it.
struct FailedAttempt {
  JobId job_id = 0;
  std::string kind;
  ErrorClass error_class = ErrorClass::kTransient;
  std::string message;
  Timestamp at{};
};

struct FailureGroup {
  std::string pattern;
  ErrorClass error_class = ErrorClass::kTransient;
  std::vector<std::string> kinds;  // sorted
  std::int64_t count = 0;
  Timestamp first_at{};
  Timestamp last_at{};
  std::vector<JobId> sample_job_ids;  // the most recent, distinct, at most kFailureSamples
};

inline constexpr std::size_t kFailureSamples = 5;

// Groups by (class, pattern), the pattern of the message without the
// engine's "(final: ...)" note, so an attempt that ended the job and one that
// was retried are one group; biggest group first (then the most recent).
std::vector<FailureGroup> GroupFailures(const std::vector<FailedAttempt>& attempts);

}  // namespace jobwarden
