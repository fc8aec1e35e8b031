// The engine: every job operation of DESIGN.md, over any Store.
//
// The engine validates input, applies defaults (job > kind > global), plans
// each transition with core/lifecycle.h and has the Store persist it under a
// guard. It is the only writer of the Store. It is safe for concurrent use.
//
// Time comes from the injected Clock; randomness (backoff jitter) from a
// seeded generator, so tests are deterministic.
#pragma once

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
#include "core/job.h"
#include "core/kind.h"
#include "core/lifecycle.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "os/process_identity.h"
#include "store/store.h"

namespace jobwarden {

struct EngineOptions {
  Duration default_timeout = std::chrono::minutes(30);  // Default: 30 min (every job has one)
  int default_max_attempts = 5;                         // Default: 5
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
  std::int64_t promoted = 0;         // scheduled -> available
  std::int64_t cancel_requested = 0;  // limits reached (phase one)
  std::int64_t taken_back = 0;       // expired leases and overdue stops (phase two)
  std::int64_t deadline_failed = 0;  // waiting jobs past their deadline
  std::int64_t purged = 0;           // terminal jobs past retention
  std::int64_t workers_purged = 0;   // workers stopped before the retention
  std::int64_t graced = 0;           // leases given restart grace
  std::int64_t workers_lost = 0;     // registered workers seen dead
};

// A state change, for logs, metrics and (later) the event stream. G6.
struct JobEventRecord {
  JobId id = 0;
  std::string kind;
  std::string queue;
  std::optional<JobState> from;  // absent for enqueue
  std::optional<JobState> to;    // absent for delete
  std::optional<ErrorClass> error_class;
  std::string message;
  Timestamp at{};
};
using EventListener = std::function<void(const JobEventRecord&)>;

class Engine {
 public:
  Engine(Store& store, const Clock& clock, EngineOptions options = {});
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
  // Running jobs whose last heartbeat (or start) is older than `older_than`
  // are taken back as if their lease expired, with a message saying so.
  Result<ResetStuckResult> ResetStuck(Duration older_than);
  Status PauseQueue(const std::string& name);
  Status ResumeQueue(const std::string& name);
  Result<std::vector<QueueInfo>> Queues();
  Result<std::vector<JobDiagnosis>> Doctor();

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
  std::mt19937_64& Rng() REQUIRES(rng_mu_);  // REQUIRES: rng_mu_ held

  Store& store_;
  const Clock& clock_;
  EngineOptions options_;
  std::vector<EventListener> listeners_;
  std::vector<std::function<void(const std::string&)>> worker_gone_listeners_;
  Mutex rng_mu_;
  std::mt19937_64 rng_ GUARDED_BY(rng_mu_);
};

}  // namespace jobwarden
