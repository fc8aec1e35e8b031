// Embedded mode: the Backend over an Engine in this process.
//
// A Fetch that finds nothing waits on a condition variable that the engine's
// event listener signals whenever a job becomes available in this process
// (enqueue, retry, take-back), so a job enqueued here starts with no polling
// delay; likewise when a job stops running here where flow limits are set
// (its slot may free a held job). Jobs made available by other processes (a
// CLI enqueue beside a running worker) or by time (scheduled jobs) are found
// by a poll every `poll_interval` (with jitter, so processes do not
// synchronise), or sooner when the fetch's time-based holds (a rate, a
// breaker's cooldown) lift.
#pragma once

#include <memory>

#include "core/thread_annotations.h"
#include "engine/engine.h"
#include "protocol/backend.h"

namespace jobwarden {

class LocalBackend final : public Backend {
 public:
  // Registers a listener on `engine`: construct before sharing the engine
  // between threads. The listener shares its state, so the engine may outlive
  // this backend.
  LocalBackend(Engine& engine, Duration poll_interval = std::chrono::milliseconds(500));

  Result<std::string> Register(const WorkerRecord& worker) override;
  Status Deregister(const std::string& worker_id) override;
  Result<std::vector<Job>> Fetch(const FetchRequest& request, Duration wait) override;
  Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& request) override;
  Result<std::vector<Status>> CompleteMany(const std::vector<CompleteRequest>& requests) override;
  bool OneWriteCompleteAndFetch() const override { return true; }
  Result<CompleteAndFetchResult> CompleteAndFetch(const std::vector<CompleteRequest>& completions,
                                                  const FetchRequest& fetch) override;
  Status Fail(const FailRequest& request) override;
  Result<BatchInfo> SubmitBatch(JobId parent, std::int64_t token, const BatchRequest& request) override;
  void WakeAll() override;

 private:
  struct Wakeups {
    Mutex mu;
    CondVar cv;
    std::uint64_t generation GUARDED_BY(mu) = 0;  // bumped when a job may have become available
    bool shut_down GUARDED_BY(mu) = false;        // WakeAll() was called
  };

  Engine& engine_;
  const Duration poll_interval_;
  const std::shared_ptr<Wakeups> wakeups_ = std::make_shared<Wakeups>();
};

}  // namespace jobwarden
