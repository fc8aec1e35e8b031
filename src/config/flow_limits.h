// The flow-control tables of the configuration file (DESIGN.md "Flow
// control"): one reader for every process that opens an engine with the file
// and applies them at start (`jobwarden server`, `up`, an embedded `worker`).
//
//   [queues.uploads]
//   concurrency = 1          # at most N running jobs of the queue; 1 = sequential mode
//   warn_depth = 50          # a queue_warning when more jobs than this are available
//   warn_age = "5m"          # ... or when the oldest available job waits longer than this
//
//   [resources."host:imx.to"]      # keys with ':' '/' '.' are quoted
//   concurrency = 4          # at most N running jobs with this resource_key
//   rate = "10/s"            # token bucket: "N/s", "N/min" or "N/h"
//   burst = 20               # bucket size; only with rate (default: the rate's N)
//   breaker_failures = 5     # consecutive failures that open the breaker (default: no breaker)
//   breaker_cooldown = "30s" # open this long, then one probe (default 30s, at least 1s)
//
// A table gives its queue or resource exactly these limits at start: a key
// left out is cleared (the file replaces; the API's PUT merges). Queues and
// resources the file does not name keep what the API set.
#pragma once

#include <toml++/toml.h>

#include <string>

#include "core/flow_config.h"
#include "core/status.h"

namespace jobwarden {

// Reads root["queues"] and root["resources"] (absent: none) of the file
// `file`. Errors name the file and the key (`jobwarden.toml:
// resources."host:imx".rate: rate "abc": expected ...`); unknown keys are refused.
Result<FlowLimits> ReadFlowLimits(const toml::table& root, const std::string& file);

// Parses `path` and reads its flow-control tables only. An empty path: none.
Result<FlowLimits> LoadFlowLimits(const std::string& path);

}  // namespace jobwarden
