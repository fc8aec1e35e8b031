// What the job subcommands talk to: the operations they need, and nothing of
// how those reach an engine: a local engine over the SQLite file named by
// --db (job_target.cc), or a server's HTTP API with --server (remote mode,
// job_target_http.cc).
//
// Errors follow core/status.h; the commands hand every non-OK Status to
// cli::Fail, the one place that turns it into an exit code. An implementation
// reports infrastructure trouble (database unusable, server unreachable) as
// kUnavailable so it maps to exit 3.
#pragma once

#include <memory>
#include <vector>

#include "cli/cli.h"
#include "core/status.h"
#include "engine/engine.h"

namespace jobwarden::cli {

class JobTarget {
 public:
  virtual ~JobTarget() = default;

  // Brings time-based state up to date before a read (status, ls, queues,
  // doctor), so what is shown is current even when no server runs: locally,
  // one guarded, idempotent reaper pass; remotely, nothing (the server's
  // reaper runs all the time).
  virtual Status Refresh() = 0;

  virtual Result<EnqueueResult> Enqueue(const EnqueueRequest& request) = 0;
  virtual Result<Job> Get(JobId id) = 0;
  virtual Result<std::vector<Job>> List(const JobListParams& params) = 0;
  virtual Result<Job> Cancel(JobId id) = 0;
  virtual Result<Job> Retry(JobId id) = 0;
  virtual Status Delete(JobId id) = 0;
  virtual Result<std::int64_t> DeleteMany(const DeleteFilter& filter) = 0;
  virtual Result<ResetStuckResult> ResetStuck(Duration older_than) = 0;
  virtual Status PauseQueue(const std::string& name) = 0;
  virtual Status ResumeQueue(const std::string& name) = 0;
  virtual Result<std::vector<QueueInfo>> Queues() = 0;
  virtual Result<std::vector<JobDiagnosis>> Doctor() = 0;

  // Flow control (DESIGN.md "Flow control"): limits merged from a patch,
  // answered with the queue or resource as it now is.
  virtual Result<QueueInfo> SetQueueLimits(const std::string& name, const QueueLimitsPatch& patch) = 0;
  virtual Result<std::vector<ResourceInfo>> Resources() = 0;
  virtual Result<std::vector<ScheduleInfo>> Schedules() = 0;
  // Failed attempts since `since`, grouped (GET /v1/failures).
  virtual Result<Engine::Failures> Failures(Timestamp since, int limit) = 0;
  // Batches (DESIGN.md "Batches").
  virtual Result<BatchInfo> SubmitBatch(const BatchRequest& request) = 0;
  virtual Result<BatchInfo> Batch(const std::string& id) = 0;
  virtual Result<std::vector<BatchInfo>> Batches(const BatchListParams& params) = 0;
  virtual Result<ResourceInfo> SetResourceLimits(const std::string& key, const ResourceLimitsPatch& patch) = 0;
  // Queues whose available jobs are held back, and by what (doctor).
  virtual Result<std::vector<QueueHold>> HeldQueues() = 0;

  // The time the target's answers are relative to ("lease 8s left").
  virtual Timestamp Now() const = 0;
};

// Opens the target the global options name: the server when --server (or
// $JOBWARDEN_SERVER) is set; else the server that serves the --db file, when
// its discovery file (client/discovery.h) names a live one and --local is not
// given; else the local database file (its directory is created). Fails with kInvalidArgument for a malformed --server
// URL, kUnavailable when the database cannot be opened. A server is not contacted until the first call (an unreachable
// one fails that call with kUnavailable).
Result<std::unique_ptr<JobTarget>> OpenJobTarget(const GlobalOptions& global);

// Remote mode (job_target_http.cc).
Result<std::unique_ptr<JobTarget>> OpenHttpJobTarget(const GlobalOptions& global);

}  // namespace jobwarden::cli
