#include "cli/job_target.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <optional>
#include <system_error>
#include <utility>

#include "client/discovery.h"
#include "core/clock.h"
#include "store/open_store.h"

namespace jobwarden::cli {

namespace {

// A local engine over the --db file, for one command. No Reaper thread: a
// one-shot command runs at most one reaper pass, through Refresh().
class LocalJobTarget final : public JobTarget {
 public:
  explicit LocalJobTarget(std::unique_ptr<Store> store) : store_(std::move(store)), engine_(*store_, clock_) {}

  Status Refresh() override { return engine_.ReapOnce().status(); }
  Result<EnqueueResult> Enqueue(const EnqueueRequest& request) override { return engine_.Enqueue(request); }
  Result<Job> Get(JobId id) override { return engine_.Get(id); }
  Result<std::vector<Job>> List(const JobListParams& params) override { return engine_.List(params); }
  Result<Job> Cancel(JobId id) override { return engine_.Cancel(id); }
  Result<Job> Retry(JobId id) override { return engine_.Retry(id); }
  Status Delete(JobId id) override { return engine_.Delete(id); }
  Result<std::int64_t> DeleteMany(const DeleteFilter& filter) override { return engine_.DeleteMany(filter); }
  Result<ResetStuckResult> ResetStuck(Duration older_than) override { return engine_.ResetStuck(older_than); }
  Status PauseQueue(const std::string& name) override { return engine_.PauseQueue(name); }
  Status ResumeQueue(const std::string& name) override { return engine_.ResumeQueue(name); }
  Result<std::vector<QueueInfo>> Queues() override { return engine_.Queues(); }
  Result<std::vector<JobDiagnosis>> Doctor() override { return engine_.Doctor(); }
  Result<QueueInfo> SetQueueLimits(const std::string& name, const QueueLimitsPatch& patch) override {
    return engine_.SetQueueLimits(name, patch);
  }
  Result<std::vector<ResourceInfo>> Resources() override { return engine_.Resources(); }
  Result<std::vector<ScheduleInfo>> Schedules() override { return engine_.Schedules(); }
  Result<BatchInfo> SubmitBatch(const BatchRequest& request) override { return engine_.SubmitBatch(request); }
  Result<Engine::Failures> Failures(Timestamp since, int limit) override { return engine_.FailureGroups(since, limit); }
  Result<BatchInfo> Batch(const std::string& id) override { return engine_.Batch(id); }
  Result<std::vector<BatchInfo>> Batches(const BatchListParams& params) override { return engine_.Batches(params); }
  Result<ResourceInfo> SetResourceLimits(const std::string& key, const ResourceLimitsPatch& patch) override {
    return engine_.SetResourceLimits(key, patch);
  }
  Result<std::vector<QueueHold>> HeldQueues() override { return engine_.HeldQueues(); }
  Timestamp Now() const override { return clock_.Now(); }

 private:
  std::unique_ptr<Store> store_;
  SystemClock clock_;
  Engine engine_;  // after store_ and clock_: it refers to both
};

}  // namespace

Result<std::unique_ptr<JobTarget>> OpenJobTarget(const GlobalOptions& global) {
  if (!global.server.empty()) return OpenHttpJobTarget(global);
  // A server runs on this database: go through it, so the change passes its
  // event stream, its metrics and its long-polling workers at once.
  auto where = ParseStoreUrl(global.db);
  if (!where.ok()) return where.status().WithContext("--db");
  if (!global.local && where->driver == StoreDriver::kSqlite) {
    Result<std::optional<ServerDiscovery>> found = FindServerFor(where->target);
    if (!found.ok()) {
      // A one-shot command's logger shows errors only; this is a warning the user should see.
      std::cerr << "jobwarden: warning: " << found.status().message() << " (ignored: opening the database file)\n";
    } else if (found->has_value()) {
      spdlog::debug("--db {}: using the server at {} (pid {}, from its discovery file)", global.db, (*found)->url,
                    (*found)->pid);
      GlobalOptions via_server = global;
      via_server.server = (*found)->url;
      return OpenHttpJobTarget(via_server);
    }
  }
  auto store = OpenStore(global.db, {.durability = Durability::kProcess});
  if (!store.ok()) return store.status().WithContext("--db");
  return std::unique_ptr<JobTarget>(std::make_unique<LocalJobTarget>(std::move(store).value()));
}

}  // namespace jobwarden::cli
