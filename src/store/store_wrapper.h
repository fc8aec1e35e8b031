// A Store that forwards every call to another (LevelDB's EnvWrapper). A test
// double overrides only the calls it changes — e.g. fail the third
// JobCompleteMany with kUnavailable — and the rest reach the real driver.
// A new Store method must be forwarded here (the compiler says so: every
// method of Store is pure or overridden below).
#pragma once

#include "store/store.h"

namespace jobwarden {

class StoreWrapper : public Store {
 public:
  // `target` must outlive the wrapper.
  explicit StoreWrapper(Store& target) : target_(target) {}
  Store& target() const { return target_; }

  // JobStore
  Result<std::vector<InsertedJob>> JobInsertMany(const JobInsertParams& p) override { return target_.JobInsertMany(p); }
  Result<std::vector<Job>> JobFetch(const JobFetchParams& p) override { return target_.JobFetch(p); }
  Result<std::vector<HeartbeatResult>> LeaseExtendMany(const LeaseExtendParams& p) override {
    return target_.LeaseExtendMany(p);
  }
  Result<std::vector<Status>> JobCompleteMany(const JobCompleteParams& p) override {
    return target_.JobCompleteMany(p);
  }
  Result<CompleteAndFetchResult> JobCompleteManyAndFetch(const JobCompleteParams& complete,
                                                         const JobFetchParams& fetch) override {
    return target_.JobCompleteManyAndFetch(complete, fetch);
  }
  Result<std::vector<Status>> JobApplyMany(const JobApplyParams& p) override { return target_.JobApplyMany(p); }
  Status JobDelete(JobId id, Timestamp now) override { return target_.JobDelete(id, now); }
  Result<std::int64_t> JobDeleteMany(const JobDeleteParams& p) override { return target_.JobDeleteMany(p); }
  Result<Job> JobGet(JobId id) override { return target_.JobGet(id); }
  Result<std::vector<FailedAttempt>> JobErrorsSince(Timestamp since, int limit) override {
    return target_.JobErrorsSince(since, limit);
  }
  Result<std::vector<Job>> JobList(const JobListParams& p) override { return target_.JobList(p); }

  // QueueStore
  Status QueueSetPaused(const std::string& name, bool paused, Timestamp now) override {
    return target_.QueueSetPaused(name, paused, now);
  }
  Status QueueSetLimits(const std::string& name, const QueueLimits& limits, Timestamp now) override {
    return target_.QueueSetLimits(name, limits, now);
  }
  Result<std::vector<QueueInfo>> QueueList() override { return target_.QueueList(); }
  Result<std::vector<std::pair<std::string, std::int64_t>>> QueueResourceKeys(const std::string& queue,
                                                                              int limit) override {
    return target_.QueueResourceKeys(queue, limit);
  }

  // ResourceStore
  Status ResourceSetLimits(const std::string& key, const ResourceLimits& limits, Timestamp now) override {
    return target_.ResourceSetLimits(key, limits, now);
  }
  Result<std::vector<ResourceInfo>> ResourceList(Timestamp now) override { return target_.ResourceList(now); }
  Result<ResourceInfo> ResourceGet(const std::string& key, Timestamp now) override {
    return target_.ResourceGet(key, now);
  }

  // BatchStore
  Result<InsertedBatch> BatchInsert(const NewBatch& b, Timestamp now) override { return target_.BatchInsert(b, now); }
  Result<BatchInfo> BatchGet(const std::string& id, bool with_members) override {
    return target_.BatchGet(id, with_members);
  }
  Result<std::vector<BatchInfo>> BatchList(const BatchListParams& p) override { return target_.BatchList(p); }
  Result<std::array<std::int64_t, 3>> BatchStateCounts() override { return target_.BatchStateCounts(); }
  Result<std::int64_t> BatchPurgeFinished(Timestamp before, int limit) override {
    return target_.BatchPurgeFinished(before, limit);
  }
  void SetBatchFinishedListener(BatchFinishedListener listener) override {
    target_.SetBatchFinishedListener(std::move(listener));
  }

  // ScheduleStore
  Status ScheduleUpsert(const std::vector<ScheduleUpsertItem>& items, Timestamp now) override {
    return target_.ScheduleUpsert(items, now);
  }
  Result<std::vector<ScheduleInfo>> ScheduleList() override { return target_.ScheduleList(); }
  Result<ScheduleFireResult> ScheduleFire(const ScheduleFireParams& p) override { return target_.ScheduleFire(p); }

  // WorkerStore
  Status WorkerUpsert(const WorkerRecord& w) override { return target_.WorkerUpsert(w); }
  Status WorkerTouch(const std::string& id, int busy, Timestamp now) override {
    return target_.WorkerTouch(id, busy, now);
  }
  Status WorkerSetStopped(const std::string& id, Timestamp now) override { return target_.WorkerSetStopped(id, now); }
  Result<std::vector<WorkerRecord>> WorkerList(bool include_stopped) override {
    return target_.WorkerList(include_stopped);
  }
  Result<std::int64_t> WorkerPurgeStopped(Timestamp before) override { return target_.WorkerPurgeStopped(before); }
  Result<WorkerRecord> WorkerGet(const std::string& id) override { return target_.WorkerGet(id); }

  // MaintenanceStore
  Result<std::int64_t> JobPromoteScheduled(Timestamp now, int limit) override {
    return target_.JobPromoteScheduled(now, limit);
  }
  Result<std::vector<Job>> JobListDeadlinePassed(Timestamp now, int limit) override {
    return target_.JobListDeadlinePassed(now, limit);
  }
  Result<ReaperTickResult> ReaperTick(const ReaperTickParams& p) override { return target_.ReaperTick(p); }

  bool SupportsNotify() const override { return target_.SupportsNotify(); }
  std::string Describe() const override { return target_.Describe(); }

 private:
  Store& target_;
};

}  // namespace jobwarden
