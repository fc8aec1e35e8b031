// The job model (DESIGN.md "Concepts" and "Job JSON").
//
// JSON-valued fields (args, checkpoint, result) are kept as serialized text:
// the store reads and writes them as-is and only the API codec parses them,
// so the hot path never builds a JSON tree it does not look at.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error_class.h"
#include "core/job_state.h"
#include "core/time.h"

namespace jobwarden {

using JobId = std::int64_t;

// Queue, kind and resource names: 1..max_len characters of [A-Za-z0-9_.:/-].
inline constexpr std::size_t kMaxQueueNameLength = 128;
bool IsValidName(std::string_view s, std::size_t max_len);

// Why a running job was asked to stop (the first phase of a two-phase stop).
enum class CancelReason : std::uint8_t {
  kNone,
  kUser,      // a user's cancel; taken back as `cancelled`
  kTimeout,   // attempt timeout reached; taken back as `timeout`
  kStalled,   // no progress for stall_timeout; taken back as `stalled`
  kDeadline,  // job deadline reached; taken back as `timeout` (limit `deadline`)
};
std::string_view ToString(CancelReason r);
std::optional<CancelReason> ParseCancelReason(std::string_view s);

struct Progress {
  std::int64_t done = 0;
  std::optional<std::int64_t> total;
  std::string message;
  std::optional<Timestamp> updated_at;
};

// One unsuccessful run (stored in the attempts table, off the hot job row).
struct ErrorEntry {
  int attempt = 0;
  ErrorClass error_class = ErrorClass::kTransient;
  std::string message;
  Timestamp at{};
  bool counted = true;               // whether the run spent an attempt
  std::optional<std::string> limit;  // "timeout", "stall_timeout", "deadline" for time limits
  std::optional<std::string> output_tail;
};

struct Job {
  JobId id = 0;
  std::string kind;
  std::string queue = "default";
  int priority = 0;
  JobState state = JobState::kAvailable;
  std::string args = "{}";  // JSON text
  int attempt = 0;          // number of the current counted attempt (see DESIGN.md)
  int max_attempts = 5;
  Duration timeout{};
  std::optional<Duration> stall_timeout;
  std::optional<Timestamp> deadline_at;
  Timestamp run_at{};
  Timestamp created_at{};
  std::optional<Timestamp> started_at;
  std::optional<Timestamp> finished_at;
  std::optional<Timestamp> heartbeat_at;
  std::optional<Timestamp> lease_expires_at;
  std::optional<std::string> worker_id;
  // The fencing token of the current (or last) lease. It grows with every
  // lease of the job, so handlers can fence their own side effects with
  // "accept only tokens greater than the last one seen".
  std::int64_t lease_token = 0;
  Duration lease_ttl{};  // TTL of the current lease, as granted at fetch
  Duration grace{};      // kill grace of the current lease's worker
  bool cancel_requested = false;
  CancelReason cancel_reason = CancelReason::kNone;
  std::optional<Timestamp> takeback_at;  // when the server takes the job back if not settled
  Progress progress;
  std::optional<Timestamp> stall_since;   // the stall clock: attempt start or last progress change
  std::optional<std::string> checkpoint;  // JSON text
  std::optional<std::string> result;      // JSON text
  std::vector<ErrorEntry> errors;
  std::optional<std::string> unique_key;
  std::optional<std::string> resource_key;
  std::optional<std::string> batch_id;
  std::vector<std::string> tags;
  int cost = 1;  // tokens the job spends from its resource's rate limit when leased
};

// A job's cost: 1 ..= kMaxJobCost.
inline constexpr int kMaxJobCost = 1'000'000;

// The id as it appears in the API and CLI: an opaque string.
std::string FormatJobId(JobId id);
Result<JobId> ParseJobId(std::string_view text);

}  // namespace jobwarden
