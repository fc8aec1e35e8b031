// A queue as the API shows it (GET /v1/queues): its name, whether it is
// paused, how many jobs it holds in each state, its oldest available job,
// its flow-control limits and the warnings in force.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/flow_control.h"
#include "core/job_state.h"
#include "core/time.h"

namespace jobwarden {

struct QueueInfo {
  std::string name;
  bool paused = false;
  std::int64_t counts[kJobStateCount] = {};
  // How old `counts` are: 0 when counted for this answer; on a big store the
  // SQLite driver answers from a count up to about a second old.
  Duration counts_age{0};
  std::optional<Timestamp> oldest_available_run_at;
  QueueLimits limits;
  // The warnings in force ("depth", "age"): set by the engine from the
  // counts and the limits, not by the store.
  std::vector<std::string> warnings;
};

}  // namespace jobwarden
