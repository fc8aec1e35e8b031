// A jobs file: jobs that `jobwarden up --seed FILE` enqueues into a database
// that has none yet (the demo's jobs, docs/worker.md). TOML, one table per job:
//
//   [[jobs]]
//   kind = "download"             # required
//   args = { sources = 5 }        # any TOML table, given to the handler as JSON. Default {}
//   unique_key = "demo:download"  # recommended: two starts racing do not enqueue twice
//   queue = "default"             # the other keys override the kind's defaults:
//   priority = 10                 #   higher runs first
//   timeout = "30s"
//   stall_timeout = "20s"
//   deadline = "10m"              # from enqueue
//   delay = "5s"                  # run_at = now + delay
//   max_attempts = 3
//   resource_key = "source:pexels"
//   tags = ["demo"]
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"

namespace jobwarden {

// Reads and validates `path`. Errors name the file, the job's index and the key.
Result<std::vector<EnqueueRequest>> LoadSeedJobs(const std::string& path);

// Enqueues `jobs` when the database holds no job at all (a first start), and
// logs each; returns how many were enqueued (0 on a later start, whose
// unfinished jobs are already there, and resume).
Result<int> SeedIfEmpty(Engine& engine, const std::vector<EnqueueRequest>& jobs);

}  // namespace jobwarden
