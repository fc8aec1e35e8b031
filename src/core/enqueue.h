// What a producer asks when it enqueues a job, and what it is answered
// (DESIGN.md "Job JSON", "Defaults"). Plain data: the engine validates it and
// applies the defaults; the HTTP codec reads and writes it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/job.h"
#include "core/time.h"

namespace jobwarden {

struct EnqueueRequest {
  std::string kind;
  std::optional<std::string> args;  // JSON text; must be valid JSON. Default {}.
  std::optional<std::string> queue;
  std::optional<int> priority;
  std::optional<Duration> timeout;
  std::optional<Duration> stall_timeout;
  std::optional<Duration> deadline_in;   // relative to now (CLI --deadline, API deadline_s)
  std::optional<Timestamp> deadline_at;  // absolute
  std::optional<Duration> delay;         // run_at = now + delay
  std::optional<Timestamp> run_at;       // absolute
  std::optional<int> max_attempts;
  std::optional<std::string> unique_key;
  std::optional<std::string> resource_key;
  std::optional<std::string> batch_id;
  std::vector<std::string> tags;
  std::optional<int> cost;  // default 1
};

struct EnqueueResult {
  Job job;
  bool deduplicated = false;
};

}  // namespace jobwarden
