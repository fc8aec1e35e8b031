// The engine: every job operation of DESIGN.md, over any Store.
//
// The engine validates input, applies defaults (job > kind > global), plans
// each transition with core/lifecycle.h and has the Store persist it under a
// guard. It is the only writer of the Store. It is safe for concurrent use.
//
// Time comes from the injected Clock; randomness (backoff jitter) from a
// seeded generator, so tests are deterministic.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/enqueue.h"
#include "core/flow_config.h"
#include "core/job.h"
#include "core/kind.h"
#include "core/lifecycle.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "os/process_identity.h"
#include "store/store.h"

namespace jobwarden {

struct EngineOptions {
  Duration default_timeout = std::chrono::minutes(30);    // Default: 30 min (every job has one)
  int default_max_attempts = 5;                           // Default: 5
  Duration default_lease_ttl = std::chrono::seconds(10);  // Default: 10 s
  Duration min_lease_ttl = std::chrono::seconds(1);       // fetch clamps to [min, max]
  Duration max_lease_ttl = std::chrono::minutes(10);
  Duration default_grace = std::chrono::seconds(5);  // Default: 5 s, must be <= TTL/2
  BackoffPolicy backoff;                             // Default: base 5 s, cap 10 min
  std::map<std::string, KindDefaults> kinds;         // per-kind defaults
  Duration retention = std::chrono::hours(24 * 7);   // Default: 7 days for terminal jobs
  std::size_t max_checkpoint_bytes = 256 * 1024;     // Default: 256 KiB
  std::size_t max_args_bytes = 1024 * 1024;          // Default: 1 MiB
  int max_fetch = 1000;                              // upper bound of one fetch
  std::uint64_t rng_seed = 0;                        // 0 = seeded from std::random_device
  // Decides whether a registered worker is gone, for take-back at the next
  // reaper tick instead of at lease end. Default: SeenGoneOnThisHost against
  // this process's identity. Tests may replace it.
  std::function<bool(const WorkerRecord&)> worker_gone;
};

struct DeleteFilter {
  std::optional<JobState> state;  // running is refused
  std::optional<std::string> queue;
  std::optional<Duration> older_than;
};

// A bulk action on every job a filter matches (POST /v1/jobs/cancel, /retry,
// /delete with filters beyond state and queue).
enum class BulkAction { kCancel, kRetry, kDelete };
struct BulkActionResult {
  std::int64_t matched = 0;  // jobs the filter matched
  std::int64_t changed = 0;  // cancelled (or, running, asked to stop), retried, or deleted
  std::int64_t skipped = 0;  // in a state the action does not apply to, or changed meanwhile
};

struct ResetStuckResult {
  std::int64_t reset_count = 0;
  std::vector<JobId> job_ids;
};

// Health of one running job, for `jobwarden doctor`.
struct JobDiagnosis {
  enum class Verdict { kHealthy, kAtRisk, kStuck };
  Job job;
  std::optional<Duration> lease_left;     // negative when expired
  std::optional<Duration> heartbeat_age;  // since the last heartbeat (or the lease start)
  Duration attempt_used{};                // since the attempt started
  std::optional<Duration> progress_age;   // since the stall clock last reset
  Verdict verdict = Verdict::kHealthy;
  std::string reason;
};
std::string_view ToString(JobDiagnosis::Verdict v);

// The rules of `jobwarden doctor` for one running job at `now`. Pure, so the
// engine's Doctor() and a client that has only the job JSON give the same
// verdicts; a client derives `lease_ttl` and `stall_since`, which the JSON
// does not carry, before calling it.
JobDiagnosis DiagnoseRunningJob(Job job, Timestamp now);

struct ReapStats {
  std::int64_t promoted = 0;          // scheduled -> available
  std::int64_t cancel_requested = 0;  // limits reached (phase one)
  std::int64_t taken_back = 0;        // expired leases and overdue stops (phase two)
  std::int64_t deadline_failed = 0;   // waiting jobs past their deadline
  std::int64_t purged = 0;            // terminal jobs past retention
  std::int64_t workers_purged = 0;    // workers stopped before the retention
  std::int64_t batches_purged = 0;    // batches finished before the retention
  std::int64_t graced = 0;            // leases given restart grace
  std::int64_t workers_lost = 0;      // registered workers seen dead
  std::int64_t schedules_fired = 0;   // schedule fires this process enqueued
};

// A state change, for logs, metrics and (later) the event stream. G6.
struct JobEventRecord {
  JobEventRecord() = default;
  JobEventRecord(JobId job_id, std::string job_kind, std::string job_queue, std::optional<JobState> from_state,
                 std::optional<JobState> to_state, std::optional<ErrorClass> error, std::string text, Timestamp when)
      : id(job_id),
        kind(std::move(job_kind)),
        queue(std::move(job_queue)),
        from(from_state),
        to(to_state),
        error_class(error),
        message(std::move(text)),
        at(when) {}

  JobId id = 0;
  std::string kind;
  std::string queue;
  std::optional<JobState> from;  // absent for enqueue
  std::optional<JobState> to;    // absent for delete
  std::optional<ErrorClass> error_class;
  std::string message;
  Timestamp at{};
  // On a start (available -> running): when the job was due and created,
  // for the wait and enqueue -> finish latencies.
  std::optional<Timestamp> due_at;
  std::optional<Timestamp> created_at;
};
using EventListener = std::function<void(const JobEventRecord&)>;

// Why a queue's available jobs are not leased (doctor): each reason names
// the limit ("paused", "queue concurrency 1 reached (1 running)",
// "resource host:imx breaker open until 2026-...").
struct QueueHold {
  std::string queue;
  std::int64_t available = 0;
  std::vector<std::string> reasons;
};

// Why the jobs of resource `r` are not leased at `now` (retry_after hold,
// breaker, concurrency, rate), each reason naming the limit; empty when
// nothing holds them. HeldQueues' reasons per resource, and the held-jobs
// gauge of the server's metrics.
std::vector<std::string> ResourceHoldReasons(const ResourceInfo& r, Timestamp now);

// A flow-control change (DESIGN.md: a `queue_warning` event and one log line
// per warning crossing and clearing; a `breaker` event and one log line per
// breaker change). Found by Engine::WatchFlow, which compares with its last call.
struct FlowEvent {
  enum class Kind { kQueueWarning, kQueueWarningCleared, kBreaker };
  Kind kind = Kind::kQueueWarning;
  std::string name;    // the queue, or the resource key
  std::string reason;  // warnings: "depth" or "age"
  std::string message;
  std::optional<BreakerState> from;  // kBreaker
  BreakerState to = BreakerState::kClosed;
  Timestamp at{};
};
using FlowListener = std::function<void(const FlowEvent&)>;

class Engine {
 public:
  Engine(Store& store, const Clock& clock, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }

  // Listeners are called after the change is durable, on the caller's thread.
  // Add them before the engine is shared between threads.
  void AddListener(EventListener listener);

  // --- producers ---
  Result<EnqueueResult> Enqueue(const EnqueueRequest& request);
  // All or nothing; at most kMaxBulkJobs. Answers in input order.
  Result<std::vector<EnqueueResult>> EnqueueMany(const std::vector<EnqueueRequest>& requests);

  // --- workers ---
  Result<std::vector<Job>> Fetch(const FetchRequest& request);
  // The same; when limits held jobs back, `holds` (optional) says how many
  // and when the earliest time-based hold lifts (FetchHolds::retry_at), so a
  // long-poll can fetch again then rather than at its timeout.
  Result<std::vector<Job>> Fetch(const FetchRequest& request, FetchHolds* holds);
  Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& request);
  Status Complete(const CompleteRequest& request);
  Result<std::vector<Status>> CompleteMany(const std::vector<CompleteRequest>& requests);
  // CompleteMany, then Fetch, in one store transaction: a worker settles its
  // finished jobs and leases the next ones in one write. Invalid input in
  // either part refuses the whole call, and nothing is written.
  Result<CompleteAndFetchResult> CompleteManyAndFetch(const std::vector<CompleteRequest>& completions,
                                                      const FetchRequest& fetch);
  Status Fail(const FailRequest& request);

  // Registers a worker; assigns `id` when empty ("host-pid-xxxx"). Returns the id.
  Result<std::string> RegisterWorker(WorkerRecord worker);
  // A clean exit: the worker has settled every job it ran, and is marked
  // stopped. A job still leased to it is one whose fetch answer never reached
  // it (the drain cut the long-poll short after the lease was granted): if
  // the worker never showed that it held the job (no heartbeat, no progress
  // since the lease), it comes back `interrupted` (never run: no attempt
  // spent), else as `worker_lost`.
  Status DeregisterWorker(const std::string& worker_id);
  Result<std::vector<WorkerRecord>> Workers(bool include_stopped = false);
  // Takes back every job `worker_id` holds, as a failure of `error_class`
  // with `message` (the transition table's "death seen" row for worker_lost).
  // For callers that saw the worker die where the reaper cannot, e.g. a
  // server whose worker session dropped and was not reopened within the
  // take-back grace. Guarded like every write: a job settled meanwhile is
  // left alone. Returns the ids taken back; the worker's row is unchanged.
  //
  // `dead_since`: when the caller first knew the worker dead (e.g. its session
  // dropped). A job leased at or after it never reached a live handler: it is
  // handed back `never started` (worker_lost, counted: false, attempt given
  // back). A job leased before it may have started and spends its attempt, so
  // attempts still bound a job that kills its workers.
  Result<std::vector<JobId>> TakeBackWorker(const std::string& worker_id, ErrorClass error_class,
                                            const std::string& message,
                                            std::optional<Timestamp> dead_since = std::nullopt);
  // Hands back jobs whose fetch answer could not be delivered to `worker_id`
  // (the write failed, or its connection was closed before the answer was
  // written): the lease never reached a live handler, so each goes back to
  // `available` at once without spending an attempt (worker_lost, counted:
  // false). Guarded by each job's lease token: a job the worker did settle
  // (it got the answer after all) is left alone. Returns the ids handed back.
  Result<std::vector<JobId>> HandBackUndelivered(const std::string& worker_id, const std::vector<Job>& leased,
                                                 const std::string& why);
  // The reaper's same-host check for one worker, now rather than at the next
  // tick: when `worker_id` is registered, not stopped, and seen gone
  // (EngineOptions::worker_gone), its jobs are taken back as the reaper would
  // and it is marked stopped; true then. For a caller that has a reason to
  // ask early, e.g. a server whose session with that worker just dropped.
  Result<bool> TakeBackIfSeenGone(const std::string& worker_id);
  // Called (on the caller's thread) after the engine marked a worker stopped
  // because its death was seen (the reaper's same-host check). A server uses
  // it to end that worker's pending fetches at once. Add before sharing.
  void AddWorkerGoneListener(std::function<void(const std::string& worker_id)> listener);

  // --- admin ---
  Result<Job> Get(JobId id);
  Result<std::vector<Job>> List(const JobListParams& params);
  Result<Job> Cancel(JobId id);
  Result<Job> Retry(JobId id);
  Status Delete(JobId id);
  // Deletes matching non-running jobs in chunks; returns how many.
  Result<std::int64_t> DeleteMany(const DeleteFilter& filter);
  // `action` on every job `filter` matches (its after_id, limit and
  // with_errors are ignored), in chunks, through the same transitions and
  // events as one job's: cancel asks a running job's worker to stop; delete
  // never touches a running job; `finished_before` (delete only) keeps jobs
  // finished, or unfinished and created, at or after it.
  Result<BulkActionResult> ActOnMatching(BulkAction action, JobListParams filter,
                                         std::optional<Timestamp> finished_before = std::nullopt);
  // Running jobs whose last heartbeat (or start) is older than `older_than`
  // are taken back as if their lease expired, with a message saying so.
  Result<ResetStuckResult> ResetStuck(Duration older_than);
  Status PauseQueue(const std::string& name);
  Status ResumeQueue(const std::string& name);
  // Every queue, with its limits and the warnings in force.
  Result<std::vector<QueueInfo>> Queues();
  Result<std::vector<JobDiagnosis>> Doctor();
  // Failed attempts since `since`, grouped by class and pattern
  // (core/failure_groups.h), biggest first, at most `limit` groups. Reads at
  // most kFailureScan attempts, the newest: `truncated` says when there were more.
  struct Failures {
    std::vector<FailureGroup> groups;
    std::int64_t attempts = 0;  // attempts read
    bool truncated = false;
  };
  Result<Failures> FailureGroups(Timestamp since, int limit);
  static constexpr int kFailureScan = 100'000;

  // --- flow control (DESIGN.md "Flow control") ---
  // One queue; kNotFound when it has no jobs and no settings.
  Result<QueueInfo> Queue(const std::string& name);
  // Validates the merged limits (the message names the field) and stores
  // them; answers the queue as it now is. Changes nothing on error.
  Result<QueueInfo> SetQueueLimits(const std::string& name, const QueueLimitsPatch& patch);
  Result<std::vector<ResourceInfo>> Resources();
  // One resource; kNotFound when it has no settings, no state and no jobs.
  Result<ResourceInfo> Resource(const std::string& key);
  Result<ResourceInfo> SetResourceLimits(const std::string& key, const ResourceLimitsPatch& patch);
  // A config file's limits, at start: every named queue and resource gets
  // exactly its table's limits. Validates all before writing any.
  Status ApplyLimits(const FlowLimits& limits);
  // For each queue with available jobs that are not being leased, the limits
  // that hold them (paused, queue concurrency, resource breaker, concurrency,
  // rate, retry_after hold).
  Result<std::vector<QueueHold>> HeldQueues();
  // Compares queue warnings and breaker states with the previous call and
  // tells the flow listeners (and the log) of each change. The reaper loop
  // calls it once per pass; cheap when no queue has warnings and no
  // resource has a breaker.
  Status WatchFlow();
  static constexpr Duration kWatchEvery = std::chrono::seconds(2);
  static constexpr Duration kWatchIdleEvery = std::chrono::seconds(30);
  void AddFlowListener(FlowListener listener);
  // Whether some queue or resource has a limit that a job leaving `running`
  // may free (a queue's or a resource's concurrency, a breaker's probe): a
  // server then wakes waiting fetches when a job stops running, so the freed
  // slot is taken at once. Cached, one atomic load: set by the calls above
  // that set limits, and refreshed by each WatchFlow that looks (limits set by
  // another process show within kWatchIdleEvery; until then a freed slot
  // waits for the next wake-up or poll, as before).
  bool HasFlowLimits() const { return has_flow_limits_.load(std::memory_order_relaxed); }

  // --- schedules (DESIGN.md "Schedules") ---
  // A config file's [schedules.*] tables, at start: each named schedule gets
  // its table (its next fire kept unless the timing changed); others stay.
  // Validates all (timing, and the job each fire enqueues) before writing any.
  Status ApplySchedules(const std::vector<ScheduleSpec>& specs);
  // Every schedule, with its next fire.
  Result<std::vector<ScheduleInfo>> Schedules();
  // Fires every schedule due at `now` (once each, however many processes
  // call it; see core/schedule.h). Each reaper pass calls it. Returns how
  // many fires this call enqueued.
  Result<std::int64_t> FireDueSchedules(Timestamp now);

  // --- batches (DESIGN.md "Batches") ---
  // Validates the batch and every member (errors name "jobs[i]." or the
  // field), propagates deadlines (MemberDeadline: the member's own, the
  // batch's, the parent job's), prepares the callback (priority above the
  // members' unless it sets one) and inserts it all in one transaction.
  // Nothing is written on error. Answers the batch with its members.
  Result<BatchInfo> SubmitBatch(const BatchRequest& request);
  // A fan-out from inside job `parent` (a handler's fd-3 {"batch": ...}):
  // the batch's parent_id is the job, whose lease `token` must be current
  // (kLeaseLost otherwise: a zombie does not fan out).
  Result<BatchInfo> SubmitChildBatch(JobId parent, std::int64_t token, BatchRequest request);
  // With its members; kNotFound when no such batch.
  Result<BatchInfo> Batch(const std::string& id);
  // Newest first, without members.
  Result<std::vector<BatchInfo>> Batches(const BatchListParams& params);
  // Called when a batch is submitted and when it finishes (after the commit,
  // on the committing thread). Add before the engine is shared.
  void AddBatchListener(std::function<void(const BatchInfo&)> listener);
  // Batches per state (BatchState order), for metrics.
  Result<std::array<std::int64_t, 3>> BatchStateCounts() { return store_.BatchStateCounts(); }

  // --- maintenance ---
  // One pass of the reaper at clock.Now(). Guarded and idempotent: safe to run
  // in every process at once. See engine/reaper.h for the loop.
  // kAfterServerStart is a server's first pass (DESIGN timing rules): every
  // running lease gets one TTL of grace, however short the downtime was, so
  // leases that lapsed while the server was down are not expired at once.
  enum class ReapPass { kRegular, kAfterServerStart };
  Result<ReapStats> ReapOnce(ReapPass pass = ReapPass::kRegular);

 private:
  Result<NewJob> Prepare(const EnqueueRequest& r, Timestamp now) const;
  // Validated store parameters of a fetch and of completes; the events they emit once written.
  Result<JobFetchParams> FetchParams(const FetchRequest& request) const;
  Result<JobCompleteParams> CompleteParams(const std::vector<CompleteRequest>& requests) const;
  void EmitFetched(const JobFetchParams& p, const std::vector<Job>& jobs) const;
  void EmitCompleted(const JobCompleteParams& p, const std::vector<Status>& results) const;
  const BackoffPolicy& BackoffFor(const std::string& kind) const;
  // Plans with `plan` from a fresh snapshot and applies under the guard;
  // re-reads and re-plans when the guard loses a race (bounded).
  Result<Job> PlanAndApply(JobId id, const std::function<Result<JobChange>(const Job&, Timestamp)>& plan);
  Result<std::int64_t> ApplyAndEmit(std::vector<JobChange> changes, const std::vector<Job>& before, Timestamp now,
                                    std::vector<Status>* per_change);
  void Emit(const JobEventRecord& e) const;
  Result<std::int64_t> TakeBackFromDeadWorkers(Timestamp now);
  // Takes back the jobs of `w`, seen gone, marks it stopped, tells the listeners.
  Status TakeBackDeadWorker(const WorkerRecord& w, Timestamp now);
  // Takes back every running job leased to `worker_id` at `now`, each with
  // the failure `why` gives it (guarded: a job settled meanwhile is left
  // alone). Returns the ids taken back.
  Result<std::vector<JobId>> TakeBackJobsOf(const std::string& worker_id, Timestamp now,
                                            const std::function<Failure(const Job&)>& why);
  // DESIGN timing rules: a job leased to the worker but absent from its
  // heartbeat is taken back as worker_lost (see the definition for the
  // one-heartbeat tolerance).
  // A job leased since `registered_at` (the worker's current life) that no
  // heartbeat ever named is handed back as never started.
  Result<std::int64_t> TakeBackOmitted(const HeartbeatRequest& request, Timestamp previous_seen,
                                       Timestamp registered_at, Timestamp now);
  std::mt19937_64& Rng() REQUIRES(rng_mu_);
  // New settings: the next WatchFlow looks at once rather than after kWatchIdleEvery.
  void WatchSoon();

  Store& store_;
  const Clock& clock_;
  EngineOptions options_;
  std::vector<EventListener> listeners_;
  std::vector<std::function<void(const std::string&)>> worker_gone_listeners_;
  std::vector<FlowListener> flow_listeners_;
  std::vector<std::function<void(const BatchInfo&)>> batch_listeners_;
  // A finished batch, from the store's listener: its callback's enqueue event, then the batch listeners.
  void BatchFinished(const BatchInfo& b) const;
  // A failure at a batch member's deadline that is its batch's: limit batch_deadline (DESIGN.md "Batches").
  void LabelBatchDeadlines(std::vector<JobChange>& changes, const std::vector<Job>& before);
  // WatchFlow's memory of the last pass: warnings in force ("queue/reason") and breaker states.
  Mutex watch_mu_;
  std::map<std::string, std::string> watched_warnings_ GUARDED_BY(watch_mu_);
  std::map<std::string, BreakerState> watched_breakers_ GUARDED_BY(watch_mu_);
  // The watch reads every queue's counts: with a million jobs that is ~0.2 s,
  // so it runs at most every kWatchEvery, and only every kWatchIdleEvery while
  // no queue has warnings set and no resource has a breaker.
  std::optional<Timestamp> watched_at_ GUARDED_BY(watch_mu_);
  bool watch_has_subjects_ GUARDED_BY(watch_mu_) = true;
  std::atomic<bool> has_flow_limits_{false};
  Mutex rng_mu_;
  std::mt19937_64 rng_ GUARDED_BY(rng_mu_);
};

}  // namespace jobwarden
