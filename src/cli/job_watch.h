// `status ID --watch` and `ls --watch` (docs/cli.md). On a terminal they redraw
// in place; when stdout is not one (a pipe, a log file) they print plain lines,
// one per change, so the output stays a readable history.
#pragma once

#include "cli/job_target.h"
#include "core/status.h"
#include "core/time.h"
#include "engine/engine.h"

namespace jobwarden::cli {

// Follows one job until it is terminal: a progress bar (done/total, rate,
// ETA, the nearest limit) redrawn every `interval`, a line for each change of
// state, and a last line with how it ended. Returns Ok when the job ended,
// whatever its end state (`status --json` tells it to a script).
Status WatchJob(JobTarget& target, JobId id, Duration interval);

// Refreshes `ls` every `interval` until interrupted: the table redrawn on a
// terminal; otherwise the table once, then a line per job that appeared,
// changed state or left the listing.
Status WatchJobs(JobTarget& target, const JobListParams& params, Duration interval);

}  // namespace jobwarden::cli
