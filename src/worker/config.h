// The worker's TOML configuration (docs/config.md):
//
//   [worker]
//   concurrency = 4          # slots                       Default: 4
//   queues = ["default"]     #                             Default: ["default"]
//   lease_ttl = "10s"        # asked at fetch, 1s-10m      Default: 10s
//   grace = "5s"             # SIGTERM -> SIGKILL, <= TTL/2 Default: 5s
//   drain_timeout = "30s"    #                             Default: 30s
//   max_abandoned = 4        # hung in-process handlers before the worker exits non-zero
//   reaper_tick = "1s"       # embedded mode's reaper     Default: min(1s, lease_ttl/4)
//
//   [kinds.NAME]             # the kinds: config/kinds.h reads them (commands and defaults)
//   [queues.NAME], [resources."KEY"]   # flow-control limits: config/flow_limits.h reads them;
//                            # an embedded worker applies them to its database at start
//   [schedules.NAME]         # periodic jobs: config/schedules.h reads them; an embedded worker
//                            # stores them and its reaper fires them
//
// JOBWARDEN_CONCURRENCY, JOBWARDEN_QUEUES (comma-separated), JOBWARDEN_LEASE_TTL and
// JOBWARDEN_DRAIN_TIMEOUT override the [worker] values; command-line flags override both.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "core/flow_config.h"
#include "core/kind.h"
#include "core/schedule.h"
#include "worker/command_runner.h"
#include "worker/worker_pool.h"

namespace jobwarden {

struct Config {
  std::string path;  // the file it was read from
  WorkerOptions worker;
  std::optional<Duration> reaper_tick;          // [worker] reaper_tick; absent: DefaultReaperTick(lease_ttl)
  std::map<std::string, CommandKind> commands;  // kinds run as commands
  std::map<std::string, KindDefaults> kinds;    // per-kind defaults for the engine
  FlowLimits flow_limits;                       // [queues.*], [resources.*]: an embedded engine applies them
  std::vector<ScheduleSpec> schedules;          // [schedules.*]: an embedded engine stores and fires them
};

// Reads and validates `path`. Errors name the file, the key and what is wrong.
Result<Config> LoadConfig(const std::string& path);

// Applies JOBWARDEN_* environment overrides to `config.worker`.
Status ApplyEnvironment(Config& config);

}  // namespace jobwarden
