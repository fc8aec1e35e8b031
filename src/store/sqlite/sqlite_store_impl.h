// The SQLite store's internals, shared by the files that implement it:
// - sqlite_store.cc: opening (migrations, connection setup), the store itself;
// - sqlite_job_writes.cc: the job writes (insert, fetch, heartbeat, complete,
//   apply, delete), each one op in the group commit (sqlite_writer.h);
// - sqlite_job_reads.cc: the job reads, each in one snapshot on a reader;
// - sqlite_queues_workers.cc: queues, workers and the reaper's tick record.
// Not part of the driver's interface (sqlite_store.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/thread_annotations.h"
#include "store/sqlite/sqlite_checkpointer.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_queue_counts.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_writer.h"
#include "store/store.h"

namespace jobwarden::sqlite {

// A small pool of read connections.
class ReaderPool {
 public:
  void Add(std::unique_ptr<Connection> c) {
    MutexLock lock(mu_);
    free_.push_back(std::move(c));
  }

  class Lease {
   public:
    Lease(ReaderPool& pool, std::unique_ptr<Connection> c) : pool_(pool), conn_(std::move(c)) {}
    ~Lease() { pool_.Return(std::move(conn_)); }
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    ReaderPool& pool_;
    std::unique_ptr<Connection> conn_;
  };

  Lease Acquire() {
    MutexLock lock(mu_);
    while (free_.empty()) cv_.Wait(mu_);
    auto c = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(c));
  }

 private:
  void Return(std::unique_ptr<Connection> c) {
    {
      MutexLock lock(mu_);
      free_.push_back(std::move(c));
    }
    cv_.NotifyOne();
  }

  Mutex mu_;
  CondVar cv_;
  std::vector<std::unique_ptr<Connection>> free_ GUARDED_BY(mu_);
};

// Runs a read in one snapshot (BEGIN ... COMMIT on a reader connection).
template <typename Fn>
Status InReadTx(Connection& conn, Fn&& fn) {
  JW_RETURN_IF_ERROR(conn.Exec("BEGIN", "begin read"));
  Status s = fn(conn);
  Status end = conn.Exec("COMMIT", "end read");
  return s.ok() ? end : s;
}

// Flow control's per-transaction types (sqlite_flow.cc).
struct FetchCandidate;
struct ResourceGate;
using GateMap = std::unordered_map<std::string, ResourceGate>;

// The settings of every resource with a row, cached per store and reloaded
// when the database's limits_version changes. Touched only inside writer ops,
// which the group commit runs one at a time.
//
// `holds` remembers, across fetches, the keys a fetch found held by a hold
// that only time or a settings change can end: an open breaker (until its
// cooldown ends; outcomes do not move an open breaker) and a retry_after hold
// (which writes only lengthen). Fetch passes over such a key without reading
// its state again; an entry is dropped when its time comes, and the whole map
// when the settings are reloaded. Never used to settle: RecordOutcome reads
// the state itself.
struct FlowSettings {
  std::int64_t version = -1;  // -1: not loaded
  std::unordered_map<std::string, ResourceLimits> resources;
  bool any_breaker = false;
  std::unordered_map<std::string, Timestamp> holds;  // key -> held until
};

class SqliteStore final : public Store {
 public:
  SqliteStore(SqliteStoreOptions options, std::unique_ptr<Connection> writer, std::unique_ptr<Connection> checkpoints);

  ReaderPool& readers() { return readers_; }

  // Job writes (sqlite_job_writes.cc).
  Result<std::vector<InsertedJob>> JobInsertMany(const JobInsertParams& p) override;
  Result<std::vector<Job>> JobFetch(const JobFetchParams& p) override;
  Result<std::vector<HeartbeatResult>> LeaseExtendMany(const LeaseExtendParams& p) override;
  Result<std::vector<Status>> JobCompleteMany(const JobCompleteParams& p) override;
  // One transaction for both: the pages a complete and a fetch touch (the
  // jobs' rows, the state indexes) are written to the WAL once, not twice.
  Result<CompleteAndFetchResult> JobCompleteManyAndFetch(const JobCompleteParams& complete,
                                                         const JobFetchParams& fetch) override;
  Result<std::vector<Status>> JobApplyMany(const JobApplyParams& p) override;
  Result<std::int64_t> JobPromoteScheduled(Timestamp now, int limit) override;
  Status JobDelete(JobId id, Timestamp now) override;
  Result<std::int64_t> JobDeleteMany(const JobDeleteParams& p) override;

  // Job reads (sqlite_job_reads.cc).
  Result<Job> JobGet(JobId id) override;
  Result<std::vector<FailedAttempt>> JobErrorsSince(Timestamp since, int limit) override;
  Result<std::vector<Job>> JobList(const JobListParams& p) override;
  Result<std::vector<Job>> JobListDeadlinePassed(Timestamp now, int limit) override;

  // Queues, workers, the reaper's tick (sqlite_queues_workers.cc).
  Status QueueSetPaused(const std::string& name, bool paused, Timestamp now) override;
  Result<std::vector<QueueInfo>> QueueList() override;

  // Flow control (sqlite_flow.cc).
  Status QueueSetLimits(const std::string& name, const QueueLimits& limits, Timestamp now) override;
  Result<std::vector<std::pair<std::string, std::int64_t>>> QueueResourceKeys(const std::string& queue,
                                                                              int limit) override;
  Status ResourceSetLimits(const std::string& key, const ResourceLimits& limits, Timestamp now) override;
  Result<std::vector<ResourceInfo>> ResourceList(Timestamp now) override;
  Result<ResourceInfo> ResourceGet(const std::string& key, Timestamp now) override;

  // Schedules (sqlite_schedules.cc).
  Status ScheduleUpsert(const std::vector<ScheduleUpsertItem>& items, Timestamp now) override;
  Result<std::vector<ScheduleInfo>> ScheduleList() override;
  Result<ScheduleFireResult> ScheduleFire(const ScheduleFireParams& p) override;

  // Batches (sqlite_batches.cc).
  Result<InsertedBatch> BatchInsert(const NewBatch& b, Timestamp now) override;
  Result<BatchInfo> BatchGet(const std::string& id, bool with_members) override;
  Result<std::vector<BatchInfo>> BatchList(const BatchListParams& p) override;
  Result<std::array<std::int64_t, 3>> BatchStateCounts() override;
  Result<std::int64_t> BatchPurgeFinished(Timestamp before, int limit) override;
  void SetBatchFinishedListener(BatchFinishedListener listener) override { batch_listener_ = std::move(listener); }

  Result<ReaperTickResult> ReaperTick(const ReaperTickParams& p) override;
  Status WorkerUpsert(const WorkerRecord& w) override;
  Status WorkerTouch(const std::string& id, int busy, Timestamp now) override;
  Status WorkerSetStopped(const std::string& id, Timestamp now) override;
  Result<std::int64_t> WorkerPurgeStopped(Timestamp before) override;
  Result<std::vector<WorkerRecord>> WorkerList(bool include_stopped) override;
  Result<WorkerRecord> WorkerGet(const std::string& id) override;

  bool SupportsNotify() const override { return false; }
  std::string Describe() const override;

 private:
  // The bodies of JobFetch and JobCompleteMany, inside the caller's transaction.
  Status FetchIn(Connection& conn, const JobFetchParams& p, std::vector<Job>& out);
  // One job, inside the caller's transaction: an existing non-terminal job with its unique_key is answered instead.
  static Result<InsertedJob> InsertIn(Connection& conn, const NewJob& j, Timestamp now);
  // `due`: whether a batch's last member was among the completed (CountMembersIn).
  Status CompleteIn(Connection& conn, const JobCompleteParams& p, std::vector<Status>& out, bool& due);
  // Keeps the batch counts for the jobs this op ended (made terminal) and
  // reopened (terminal -> not), while some batch runs; `due` tells whether a
  // batch's last member ended (FinishDueBatchesIn then has work).
  Status CountMembersIn(Connection& conn, const std::vector<JobId>& ended, const std::vector<JobId>& reopened,
                        bool& due);
  // Finishes every batch whose last member ended in this transaction (the
  // triggers of migration 5 list them in batches_due): its state, and its
  // callback job. Every op that can end a job calls it before it returns.
  Status FinishDueBatchesIn(Connection& conn, Timestamp now, std::vector<BatchInfo>& finished);
  // After the commit: tells the listener.
  void NotifyBatchesFinished(const std::vector<BatchInfo>& finished) const;

  // Flow control inside a writer op (sqlite_flow.cc).
  Status LoadFlow(Connection& conn);
  // The gate of `key` in this transaction, loaded once; nullptr when the key has no row.
  Result<ResourceGate*> GateFor(Connection& conn, const std::string& key, Timestamp now, GateMap& gates);
  static bool GateAllows(const ResourceGate& g, int cost, Timestamp now, FetchHolds* holds);
  // A key fetch knows to be held until a time (FlowSettings::holds): notes the time and says so.
  bool KnownHeld(const std::string& key, Timestamp now, FetchHolds* holds);
  static void GateTake(ResourceGate& g, JobId id, int cost, Timestamp now);
  static Status WriteGates(Connection& conn, const GateMap& gates);
  Status QueueCandidates(Connection& conn, const std::string& queue, int max, const JobFetchParams& p, GateMap& gates,
                         std::vector<FetchCandidate>& out);
  Status KeyedCandidates(Connection& conn, const std::string& queue, int max, const JobFetchParams& p, GateMap& gates,
                         std::vector<FetchCandidate>& out);
  // A run's outcome for its resource (breaker, retry_after hold).
  Status RecordOutcome(Connection& conn, const std::string& key, BreakerOutcome outcome, JobId job,
                       std::optional<Timestamp> hold_until, Timestamp now);
  // Breaker successes of the completed jobs, when some resource has a breaker.
  Status RecordSuccesses(Connection& conn, const std::vector<JobId>& completed, Timestamp now);

  // One write statement in the group commit, bound by `bind`; returns the rows
  // it changed. `weight` is its share of a batch (the rows it may touch).
  template <typename BindFn>
  Result<std::int64_t> WriteCountingChanges(std::string_view statement, BindFn bind, int weight,
                                            std::string_view context) {
    std::int64_t n = 0;
    Status s = writer_.Submit(
        [&](Connection& conn) -> Status {
          Query q(conn, statement);
          bind(q);
          JW_RETURN_IF_ERROR(q.Run());
          n = conn.Changes();
          return Status::Ok();
        },
        weight);
    if (!s.ok()) return s.WithContext(context);
    return n;
  }

  // Jobs per queue and state (QueueCounts) in a read transaction of its own.
  Result<QueueCountCache::Counts> CountQueues();

  SqliteStoreOptions options_;
  ReaderPool readers_;
  QueueCountCache queue_counts_;  // counts from readers_, so declared after it
  Checkpointer checkpointer_;     // outlives the writer, whose commits signal it
  FlowSettings flow_;             // only inside writer ops (see FlowSettings)
  BatchFinishedListener batch_listener_;
  Writer writer_;
};

}  // namespace jobwarden::sqlite
