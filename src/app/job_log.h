// What a person watching a worker's log needs to see (G6): each job's start
// (and whether it resumes from a checkpoint), its progress now and then, its
// success with the result, and a hand-back on shutdown. Failures are logged
// by the pool and every state change with an error class by the engine.
//
// A Backend decorator, so the pool stays free of presentation and the same
// lines appear whichever backend (local or HTTP) is underneath.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "core/thread_annotations.h"
#include "protocol/backend.h"

namespace jobwarden {

class LoggingBackend final : public Backend {
 public:
  // Progress of one job is logged at most once per `progress_every`.
  explicit LoggingBackend(Backend& inner, Duration progress_every = std::chrono::seconds(5));

  Result<std::string> Register(const WorkerRecord& worker) override;
  Status Deregister(const std::string& worker_id) override;
  Result<std::vector<Job>> Fetch(const FetchRequest& request, Duration wait) override;
  Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& request) override;
  Result<std::vector<Status>> CompleteMany(const std::vector<CompleteRequest>& requests) override;
  // Settles and leases in one write exactly when the backend underneath does.
  bool OneWriteCompleteAndFetch() const override { return inner_.OneWriteCompleteAndFetch(); }
  Result<CompleteAndFetchResult> CompleteAndFetch(const std::vector<CompleteRequest>& completions,
                                                  const FetchRequest& fetch) override;
  Status Fail(const FailRequest& request) override;
  Result<BatchInfo> SubmitBatch(JobId parent, std::int64_t token, const BatchRequest& request) override {
    return inner_.SubmitBatch(parent, token, request);
  }
  void WakeAll() override;

 private:
  void LogStarted(const std::vector<Job>& jobs, const std::string& worker_id);
  void LogCompleted(const std::vector<CompleteRequest>& requests, const std::vector<Status>& results);

  struct Running {
    std::string kind;
    int attempt = 0;
    std::string worker_id;  // who fetched it, for the log lines' fields
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point progress_logged;
  };

  Backend& inner_;
  const Duration progress_every_;
  Mutex mu_;
  std::map<JobId, Running> running_ GUARDED_BY(mu_);  // jobs fetched and not yet reported
};

}  // namespace jobwarden
