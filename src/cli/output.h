// What the job subcommands print: human views (tables, the status page, the
// doctor's verdicts) and the JSON of --json. Formatting only: no I/O besides
// the stream given, no engine calls, so commands stay short and the views
// can change without touching them.
//
// Every --json view of a job is protocol/job_json.h's JobToJson, so the field
// names are DESIGN.md's ("Job JSON") and cannot drift from the HTTP API.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "core/job.h"
#include "engine/engine.h"

namespace jobwarden::cli {

// "[########------------] 40% 20/50 uploading" (no bar when total is unknown:
// "20 done uploading"; "-" when nothing was reported).
std::string ProgressText(const Progress& progress);

// "3m05s ago" or "in 2m00s", relative to now.
std::string RelativeTime(Timestamp t, Timestamp now);

// The limit that will stop a running attempt first: "timeout", "deadline"
// or "stall_timeout", and when; none for a job that is not running or has none.
struct NearestLimit {
  std::string name;
  Timestamp at{};
};
std::optional<NearestLimit> NearestLimitOf(const Job& job);

// `status ID --watch`: "[#####-----] 40% 20/50 · 4.1/s · ETA 7s · timeout in 52s
// · uploading". `items_per_s` is the measured rate (none: unknown yet).
std::string ProgressBarLine(const Job& job, std::optional<double> items_per_s, Timestamp now);

// `status ID`: the job as a person reads it (state, attempt, progress, times,
// lease, limits, errors, output tail of the last error).
void PrintJobDetail(std::ostream& out, const Job& job, Timestamp now);

// `ls`: one row per job.
void PrintJobTable(std::ostream& out, const std::vector<Job>& jobs, Timestamp now);
nlohmann::json JobsToJson(const std::vector<Job>& jobs);

// `queues`: depth by state, oldest available job's age, paused, concurrency
// limit and warnings in force. --json: the API's queue JSON (protocol/flow_json.h).
void PrintQueueTable(std::ostream& out, const std::vector<QueueInfo>& queues, Timestamp now);
nlohmann::json QueuesToJson(const std::vector<QueueInfo>& queues, Timestamp now);

// `queue set`: "queue uploads: concurrency 1, warn_depth 50, warn_age 5m".
void PrintQueueLimits(std::ostream& out, const QueueInfo& queue);

// `resources`: limits, running and available jobs, breaker, retry_after hold,
// the last 5 minutes' success rate and run times. --json: the resource JSON.
void PrintResourceTable(std::ostream& out, const std::vector<ResourceInfo>& resources, Timestamp now);
nlohmann::json ResourcesToJson(const std::vector<ResourceInfo>& resources);

// `resource set`: "resource host:imx: concurrency 4, rate 10/s (burst 20), breaker after 5 failures (cooldown 30s)".
void PrintResourceLimits(std::ostream& out, const ResourceInfo& resource);

// `doctor`: one line per queue whose available jobs are held back
// ("queue uploads: 3 available; 3 held: resource host:imx breaker open until ...").
void PrintHolds(std::ostream& out, const std::vector<QueueHold>& holds);

// `doctor`: one line per running job with its verdict and the reason.
void PrintDiagnoses(std::ostream& out, const std::vector<JobDiagnosis>& diagnoses);
nlohmann::json DiagnosesToJson(const std::vector<JobDiagnosis>& diagnoses);

// Pretty-printed JSON and a newline.
void PrintJson(std::ostream& out, const nlohmann::json& j);

}  // namespace jobwarden::cli
