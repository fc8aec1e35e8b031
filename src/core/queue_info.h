// A queue as the API shows it (GET /v1/queues): its name, whether it is
// paused, how many jobs it holds in each state, and its oldest available job.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/job_state.h"
#include "core/time.h"

namespace jobwarden {

struct QueueInfo {
  std::string name;
  bool paused = false;
  std::int64_t counts[kJobStateCount] = {};
  std::optional<Timestamp> oldest_available_run_at;
};

}  // namespace jobwarden
