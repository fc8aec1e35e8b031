// The storage-driver seam. One interface, one driver per database (SQLite now,
// PostgreSQL later), one contract suite (tests/contract) run against each.
//
// Contracts that hold for every method unless it says otherwise:
// - Thread safety: a Store is safe for concurrent use from many threads.
// - Time: `now` always comes from the caller (the engine's Clock). Drivers never
//   read the database's clock, so tests are deterministic and skew lives in one place.
// - Durability: a write method returns only after its change is durable to the
//   store's durability mode, or with a non-OK Status and no change.
// - Atomicity: each call is one transaction, all or nothing, except the *Many
//   methods that answer per item, where each item is atomic on its own.
// - Guards: every lease-changing write is a compare-and-set on (id, state,
//   lease_token), plus lease_expires_at <= JobChange::lease_expired_by when
//   that is set. A guard that no longer matches changes nothing and reports
//   kConflict or kLeaseLost for that item. This is what makes two reapers, a
//   reaper and a late worker, or two servers safe together.
// - Errors: kNotFound (no such job), kConflict (state does not allow it),
//   kLeaseLost (token is not current), kUnavailable (database busy or gone;
//   the driver already retried), kInternal (bug or corrupt data).
//
// Drivers do not decide transitions: the engine plans them with
// core/lifecycle.h and the driver persists the plan (JobApplyMany). The few
// transitions a driver performs in bulk for speed (fetch, complete, promotion
// of due scheduled jobs) are fixed by the table and need no decision.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/batch.h"
#include "core/failure_groups.h"
#include "core/flow_control.h"
#include "core/job.h"
#include "core/lifecycle.h"
#include "core/queue_info.h"
#include "core/resource_info.h"
#include "core/schedule.h"
#include "core/status.h"
#include "core/time.h"
#include "core/worker_protocol.h"

namespace jobwarden {

// How much a committed write survives (docs/storage.md).
enum class Durability {
  kProcess,  // survives a crash of any process (SQLite: WAL + synchronous=NORMAL). Default.
  kPower,    // survives power loss (SQLite: synchronous=FULL).
};
std::string_view ToString(Durability d);
std::optional<Durability> ParseDurability(std::string_view s);

// A job to insert. The engine has validated it and applied every default.
struct NewJob {
  std::string kind;
  std::string queue;
  int priority = 0;
  JobState state = JobState::kAvailable;  // available or scheduled (from the table)
  std::string args = "{}";
  int max_attempts = 5;
  Duration timeout{};
  std::optional<Duration> stall_timeout;
  std::optional<Timestamp> deadline_at;
  Timestamp run_at{};
  std::optional<std::string> unique_key;
  std::optional<std::string> resource_key;
  std::optional<std::string> batch_id;
  std::vector<std::string> tags;
  int cost = 1;  // tokens spent from the resource's bucket at fetch
};

struct JobInsertParams {
  std::vector<NewJob> jobs;  // at most kMaxBulkJobs
  Timestamp now{};
};

struct InsertedJob {
  JobId id = 0;
  // True when a non-terminal job with the same unique_key existed (or came
  // earlier in the same call): `id` is that job's and nothing was inserted.
  bool deduplicated = false;
};

// Lease up to `max` jobs from `queues` (paused queues are skipped): highest
// priority first, then run_at, then id; due scheduled jobs are taken directly;
// jobs past their deadline are not leased. Each fetched job is `running` with
// attempt + 1, a new lease token (greater than every earlier token of that
// job), lease_expires_at = now + lease_ttl, and its stall clock started.
// A worker_id whose registered row is stopped (it deregistered, or its death
// was seen) is leased nothing: the check is part of the fetch's atomic write,
// so no lease reaches a worker after it was marked stopped.
//
// Flow control (DESIGN.md "Flow control"), in the same transaction: a queue
// with `concurrency` leases at most that many running jobs (the slots left,
// in fetch order: sequential mode); a job with a resource_key is leased only
// if its resource's concurrency, token bucket (the job's cost), breaker and
// retry_after hold allow it, and the lease updates the bucket and the
// half-open probe. Jobs passed over stay available and spend nothing; the
// fetch does not read past them (docs/storage.md says how).
struct FetchHolds {
  std::int64_t held = 0;  // available jobs passed over because of a limit
  // The earliest time a time-based hold seen by this fetch lifts (a token
  // refill, a breaker's cooldown, a retry_after): when to fetch again.
  std::optional<Timestamp> retry_at;
};

struct JobFetchParams {
  std::vector<std::string> queues;
  int max = 1;
  Timestamp now{};
  Duration lease_ttl{};
  Duration grace{};
  std::string worker_id;
  FetchHolds* holds = nullptr;  // optional out: what limits held back
};

// Extend each listed lease to now + its TTL and record progress and
// checkpoint; the stall clock restarts when progress.done grows, or the
// message or the checkpoint changes (core::ResetsStallClock).
struct LeaseExtendParams {
  std::vector<HeartbeatItem> items;
  Timestamp now{};
};

struct CompleteItem {
  JobId id = 0;
  std::int64_t token = 0;
  std::optional<std::string> result;  // JSON text; absent = null
  std::optional<std::string> checkpoint;
  std::optional<Progress> progress;
};

// running -> succeeded for each item whose token is current. The same complete
// again with the same token is OK and changes nothing (idempotent retry).
struct JobCompleteParams {
  std::vector<CompleteItem> items;
  Timestamp now{};
};

struct JobApplyParams {
  std::vector<JobChange> changes;
  Timestamp now{};
};

struct JobListParams {
  std::optional<JobState> state;
  std::optional<std::string> queue;
  std::optional<std::string> kind;
  std::optional<std::string> worker_id;
  std::optional<std::string> tag;       // jobs carrying this tag
  std::optional<std::string> batch_id;  // a batch's members
  // A field of `args` equal to a JSON scalar: `args_path` is dotted names
  // ("customer_id", "order.id"; letters, digits, '_' and '-'), `args_value`
  // JSON text ("42", "\"bob\"", "true"). A number matches only a number,
  // a string only a string.
  std::optional<std::string> args_path;
  std::optional<std::string> args_value;
  JobId after_id = 0;  // keyset cursor: ids greater than this, ascending
  int limit = 100;
  bool with_errors = false;  // load the error history too
};

// Delete non-running jobs in one chunk. Running jobs are never touched.
struct JobDeleteParams {
  std::vector<JobState> states;  // empty = every state but running
  std::optional<std::string> queue;
  // Only jobs whose finished_at (or created_at, for unfinished ones) is before this.
  std::optional<Timestamp> before;
  int limit = 1000;
  Timestamp now{};  // when a batch that a deleted member held open finishes
};

struct ReaperTickParams {
  Timestamp now{};
  // Grace every running lease, whatever the gap (a server's first tick after
  // its start); otherwise only leases whose TTL is shorter than the gap.
  bool grace_all = false;
};

struct ReaperTickResult {
  std::optional<Timestamp> previous_tick;  // the last tick of any reaper on this store
  // Running leases that got one TTL of grace: because no reaper ticked for
  // longer than their TTL (a restart, a suspended machine, a clock step), or
  // all of them with grace_all.
  std::int64_t graced = 0;
};

// ResourceInfo, ResourceStats and kResourceStatsWindow: core/resource_info.h.

inline constexpr int kMaxBulkJobs = 10'000;

// The Store is split by the users of each part: jobs (the engine's job
// operations), queues, workers (the registry) and maintenance (the reaper's
// passes). A driver implements all of them as one Store; each part has its
// own section of the contract suite (tests/contract).

class JobStore {
 public:
  virtual ~JobStore() = default;

  // --- writes ---
  // All or nothing. Answers in input order.
  virtual Result<std::vector<InsertedJob>> JobInsertMany(const JobInsertParams& p) = 0;
  virtual Result<std::vector<Job>> JobFetch(const JobFetchParams& p) = 0;
  // Per item: the new expiry and answer; a stale token or a job that is not running answers kLost.
  virtual Result<std::vector<HeartbeatResult>> LeaseExtendMany(const LeaseExtendParams& p) = 0;
  // Per item: OK, kLeaseLost, or kNotFound.
  virtual Result<std::vector<Status>> JobCompleteMany(const JobCompleteParams& p) = 0;
  // JobCompleteMany, then JobFetch, in one write transaction where the driver
  // can (a worker's slots settle a batch and take the next). A refused
  // complete (stale token) does not stop the others or the fetch. This
  // default runs them as two.
  virtual Result<CompleteAndFetchResult> JobCompleteManyAndFetch(const JobCompleteParams& complete,
                                                                 const JobFetchParams& fetch);
  // Applies planned changes, each under its guard. Per change: OK, or
  // kConflict/kLeaseLost when the guard no longer matches (nothing written).
  virtual Result<std::vector<Status>> JobApplyMany(const JobApplyParams& p) = 0;
  // Deletes one job unless it is running (kConflict) or missing (kNotFound).
  // `now`: when a batch that the job held open finishes.
  virtual Status JobDelete(JobId id, Timestamp now) = 0;
  // Deletes at most p.limit jobs; returns how many. Callers loop for more.
  virtual Result<std::int64_t> JobDeleteMany(const JobDeleteParams& p) = 0;

  // --- reads ---
  virtual Result<Job> JobGet(JobId id) = 0;  // with its error history
  // Unsuccessful runs recorded at or after `since`, newest first, at most
  // `limit` (failure groups: core/failure_groups.h).
  virtual Result<std::vector<FailedAttempt>> JobErrorsSince(Timestamp since, int limit) = 0;
  virtual Result<std::vector<Job>> JobList(const JobListParams& p) = 0;
};

class QueueStore {
 public:
  virtual ~QueueStore() = default;
  virtual Status QueueSetPaused(const std::string& name, bool paused, Timestamp now) = 0;
  // Replaces the queue's limits (creating its row). Lowering a concurrency
  // below the number running is allowed: the running go on, fetch waits.
  virtual Status QueueSetLimits(const std::string& name, const QueueLimits& limits, Timestamp now) = 0;
  // Every queue that has jobs or settings, by name, with its limits.
  virtual Result<std::vector<QueueInfo>> QueueList() = 0;
  // The resource keys of `queue`'s available jobs and how many each has, at
  // most `limit` keys, by key (doctor's "held by" explanation).
  virtual Result<std::vector<std::pair<std::string, std::int64_t>>> QueueResourceKeys(const std::string& queue,
                                                                                      int limit) = 0;
};

// Resources (flow control). Their state (bucket, breaker, retry_after hold)
// changes inside the job writes: fetch (JobFetch, JobCompleteManyAndFetch)
// takes tokens and leases probes; a complete is a breaker success; a
// JobChange with `resource` records a failure or a hold (JobApplyMany).
class ResourceStore {
 public:
  virtual ~ResourceStore() = default;
  // Replaces the resource's limits (creating its row). A new or changed rate
  // starts from a full bucket; the breaker's state is kept.
  virtual Status ResourceSetLimits(const std::string& key, const ResourceLimits& limits, Timestamp now) = 0;
  // Every resource with settings or state, and every key of a waiting or
  // running job, by key, as of `now` (stats over kResourceStatsWindow).
  virtual Result<std::vector<ResourceInfo>> ResourceList(Timestamp now) = 0;
  // One resource; kNotFound when it has no settings, no state and no jobs.
  virtual Result<ResourceInfo> ResourceGet(const std::string& key, Timestamp now) = 0;
};

// Schedules (core/schedule.h). A schedule's spec and its next fire.
struct ScheduleUpsertItem {
  ScheduleSpec spec;
  Timestamp next_fire_at{};  // taken by a new schedule, or one whose cron or time zone changed
};

// One fire, guarded on the next fire the caller read (expected_next_fire_at).
struct ScheduleFireParams {
  std::string name;
  Timestamp expected_next_fire_at{};
  Timestamp next_fire_at{};       // what the row moves to
  std::optional<Timestamp> fire;  // the fire enqueued; none: skipped (catch_up = none)
  std::optional<NewJob> job;      // its job, unique_key ScheduleFireKey(name, fire)
  Timestamp now{};
};

struct ScheduleFireResult {
  bool won = false;                // false: another process moved the row first; nothing written
  std::optional<InsertedJob> job;  // when won and a job was given
};

class ScheduleStore {
 public:
  virtual ~ScheduleStore() = default;
  // Inserts or updates each schedule, all or nothing. Schedules not named stay.
  virtual Status ScheduleUpsert(const std::vector<ScheduleUpsertItem>& items, Timestamp now) = 0;
  // Every schedule, by name.
  virtual Result<std::vector<ScheduleInfo>> ScheduleList() = 0;
  // Moves the row and enqueues the job in one transaction, or, when the row's
  // next fire is no longer the expected one (or the schedule is gone), nothing.
  virtual Result<ScheduleFireResult> ScheduleFire(const ScheduleFireParams& p) = 0;
};

// Batches (core/batch.h, DESIGN.md "Batches").
struct NewBatch {
  std::optional<std::string> name;
  std::optional<Timestamp> deadline_at;
  int min_succeeded = 1;
  std::optional<JobId> parent_id;
  // The callback job, every default applied; its args (a JSON object) gain
  // `batch` when it is enqueued.
  std::optional<NewJob> callback;
  // The members, at most kMaxBulkJobs, each with its deadline already
  // propagated (MemberDeadline); the store sets their batch_id.
  std::vector<NewJob> members;
};

struct InsertedBatch {
  std::string id;
  std::vector<JobId> member_ids;  // in input order
};

struct BatchListParams {
  std::optional<BatchState> state;
  std::string before_id;  // keyset cursor: batches older than this one ("" = from the newest)
  int limit = 100;
};

// Called after the commit that finished a batch (its members, counts and
// callback_job_id as the callback received them), on the committing thread.
using BatchFinishedListener = std::function<void(const BatchInfo&)>;

class BatchStore {
 public:
  virtual ~BatchStore() = default;
  // The batch and its members in one transaction. A member whose unique_key
  // is held by a non-terminal job refuses the whole batch (kConflict naming
  // "jobs[i]"): a member must be a new job. Nothing is written on error.
  //
  // Every write that ends a member (complete, failure, cancel, deadline,
  // delete) finishes its batch in the same transaction when it was the last
  // open one: the batch's state (DecideBatch), finished_at, and its callback
  // job, enqueued exactly once with args.batch = the batch JSON. A member
  // retried while its batch runs counts as open again.
  virtual Result<InsertedBatch> BatchInsert(const NewBatch& b, Timestamp now) = 0;
  // kNotFound when no such batch. Members (in id order) only when asked for.
  virtual Result<BatchInfo> BatchGet(const std::string& id, bool with_members) = 0;
  // Newest first, without members.
  virtual Result<std::vector<BatchInfo>> BatchList(const BatchListParams& p) = 0;
  // Batches per state (metrics).
  virtual Result<std::array<std::int64_t, 3>> BatchStateCounts() = 0;
  // At most one listener; set it before the store is shared between threads.
  virtual void SetBatchFinishedListener(BatchFinishedListener listener) = 0;
};

// The worker registry.
class WorkerStore {
 public:
  virtual ~WorkerStore() = default;
  // Inserts or replaces the worker's row (registration).
  virtual Status WorkerUpsert(const WorkerRecord& w) = 0;
  // Records that the worker was seen at `now` with `busy` slots in use.
  virtual Status WorkerTouch(const std::string& id, int busy, Timestamp now) = 0;
  // Marks the worker stopped (a clean exit, or its death was seen).
  virtual Status WorkerSetStopped(const std::string& id, Timestamp now) = 0;
  // Workers not stopped (or all, with include_stopped), newest first.
  virtual Result<std::vector<WorkerRecord>> WorkerList(bool include_stopped) = 0;
  // Deletes the workers stopped before `before`; returns how many.
  virtual Result<std::int64_t> WorkerPurgeStopped(Timestamp before) = 0;
  // One worker, stopped or not; kNotFound when it never registered. The
  // default scans WorkerList(true); drivers override it with a keyed read.
  virtual Result<WorkerRecord> WorkerGet(const std::string& id);
};

// What the reaper's passes need beyond JobStore.
class MaintenanceStore {
 public:
  virtual ~MaintenanceStore() = default;
  // scheduled -> available for up to `limit` due jobs whose deadline has not passed.
  virtual Result<std::int64_t> JobPromoteScheduled(Timestamp now, int limit) = 0;
  // available/scheduled jobs whose deadline is at or before `now`.
  virtual Result<std::vector<Job>> JobListDeadlinePassed(Timestamp now, int limit) = 0;
  // Deletes at most `limit` finished batches whose finished_at is before `before`; returns how many.
  virtual Result<std::int64_t> BatchPurgeFinished(Timestamp before, int limit) = 0;
  // Records a reaper tick and grants the restart grace (see ReaperTickResult).
  virtual Result<ReaperTickResult> ReaperTick(const ReaperTickParams& p) = 0;
};

class Store : public JobStore,
              public QueueStore,
              public ResourceStore,
              public ScheduleStore,
              public BatchStore,
              public WorkerStore,
              public MaintenanceStore {
 public:
  ~Store() override = default;

  // Capabilities.
  virtual bool SupportsNotify() const = 0;
  virtual std::string Describe() const = 0;  // "sqlite:/path/to.db (durability=process)"
};

}  // namespace jobwarden
