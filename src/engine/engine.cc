// The engine: producers (enqueue), worker operations (register, fetch,
// heartbeat, complete, fail), take-back of dead workers' jobs, guarded
// change application and the reaper's pass. Admin operations are in
// engine_admin.cc.
#include "engine/engine.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "core/log_fields.h"
#include "engine/engine_internal.h"

namespace jobwarden {

using engine_internal::kChunk;

namespace {

constexpr int kMaxPlanRetries = 3;  // re-plans after losing a guard race

std::string Ref(JobId id) { return "job " + FormatJobId(id); }

// Validates JSON text and returns its compact form.
Result<std::string> CompactJson(std::string_view text, std::string_view field) {
  try {
    return nlohmann::json::parse(text).dump();
  } catch (const nlohmann::json::parse_error& e) {
    return Status::InvalidArgument(std::string(field) + ": not valid JSON: " + e.what());
  }
}

Status CheckCheckpoint(const std::optional<std::string>& cp, std::size_t limit, JobId id) {
  if (!cp) return Status::Ok();
  if (cp->size() > limit) {
    return Status::CheckpointTooLarge(Ref(id) + ": checkpoint of " + std::to_string(cp->size()) +
                                      " bytes is over the limit of " + std::to_string(limit) + " bytes");
  }
  return Status::Ok();
}

Result<std::optional<std::string>> NormalizeOptionalJson(const std::optional<std::string>& text,
                                                         std::string_view field) {
  if (!text) return std::optional<std::string>();
  JW_ASSIGN_OR_RETURN(std::string compact, CompactJson(*text, field));
  return std::optional<std::string>(std::move(compact));
}

// For TakeBackJobsOf: the same failure for every job taken back.
std::function<Failure(const Job&)> SameFailure(ErrorClass error_class, std::string message) {
  return [error_class, message = std::move(message)](const Job&) {
    Failure f;
    f.error_class = error_class;
    f.message = message;
    return f;
  };
}

// Whether the worker never showed that it held the job since it was leased:
// no heartbeat listed it and no progress came. The lease time is also
// heartbeat_at and the stall clock's start; a heartbeat listing the job or a
// progress report moves them.
bool NeverNamedSinceLease(const Job& j) {
  return j.started_at && j.heartbeat_at == j.started_at &&
         !(j.progress.updated_at && *j.progress.updated_at >= *j.started_at);
}

}  // namespace

std::string_view ToString(JobDiagnosis::Verdict v) {
  switch (v) {
    case JobDiagnosis::Verdict::kHealthy: return "healthy";
    case JobDiagnosis::Verdict::kAtRisk: return "at-risk";
    case JobDiagnosis::Verdict::kStuck: return "stuck";
  }
  return "stuck";
}

Engine::Engine(Store& store, const Clock& clock, EngineOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {
  rng_.seed(options_.rng_seed != 0 ? options_.rng_seed : std::random_device{}());
  if (!options_.worker_gone) {
    options_.worker_gone = [self = SelfIdentity()](const WorkerRecord& w) {
      ProcessIdentity who{w.host, w.pid, w.pid_start_time, w.boot_id, w.pid_namespace};
      return SeenGoneOnThisHost(self, who);
    };
  }
  store_.SetBatchFinishedListener([this](const BatchInfo& b) { BatchFinished(b); });
}

Engine::~Engine() { store_.SetBatchFinishedListener(nullptr); }

// ---------------------------------------------------------------------------
// Workers registry

Result<std::string> Engine::RegisterWorker(WorkerRecord worker) {
  if (worker.slots < 1) return Status::InvalidArgument("slots: must be at least 1");
  for (const std::string& q : worker.queues) {
    if (!IsValidName(q, kMaxQueueNameLength))
      return Status::InvalidArgument("queues: '" + q + "' is not a valid queue name");
  }
  const Timestamp now = clock_.Now();
  if (worker.id.empty()) {
    std::uint64_t suffix;
    {
      MutexLock lock(rng_mu_);
      suffix = Rng()() & 0xffffff;
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "%06llx", static_cast<unsigned long long>(suffix));
    worker.id =
        (worker.host.empty() ? std::string("worker") : worker.host) + "-" + std::to_string(worker.pid) + "-" + buf;
  } else if (!IsValidName(worker.id, 200)) {
    return Status::InvalidArgument("worker_id: must be 1-200 characters of letters, digits and _ - . : /");
  }
  worker.started_at = now;
  worker.last_seen_at = now;
  JW_RETURN_IF_ERROR(store_.WorkerUpsert(worker));
  spdlog::info("worker {} registered (host {}, pid {}, {} slots)", worker.id, worker.host, worker.pid, worker.slots);
  return worker.id;
}

Status Engine::DeregisterWorker(const std::string& worker_id) {
  if (worker_id.empty()) return Status::InvalidArgument("worker_id: must not be empty");
  const Timestamp now = clock_.Now();
  auto taken = TakeBackJobsOf(worker_id, now, [&](const Job& j) {
    Failure f;
    const bool never_seen = NeverNamedSinceLease(j);
    f.error_class = never_seen ? ErrorClass::kInterrupted : ErrorClass::kWorkerLost;
    f.message = never_seen ? "worker " + worker_id +
                                 " stopped before its fetch answer reached it (leased, never run); handed back"
                           : "worker " + worker_id + " stopped without settling it";
    return f;
  });
  if (!taken.ok()) return taken.status().WithContext("deregister worker " + worker_id);
  if (!taken->empty()) {
    spdlog::warn("worker {}: stopped with {} job(s) still leased to it; taken back", worker_id, taken->size());
  }
  return store_.WorkerSetStopped(worker_id, now);
}

Result<std::vector<WorkerRecord>> Engine::Workers(bool include_stopped) { return store_.WorkerList(include_stopped); }

Result<std::int64_t> Engine::TakeBackFromDeadWorkers(Timestamp now) {
  JW_ASSIGN_OR_RETURN(std::vector<WorkerRecord> workers, store_.WorkerList(false));
  std::int64_t lost = 0;
  for (const WorkerRecord& w : workers) {
    if (!options_.worker_gone(w)) continue;
    ++lost;
    JW_RETURN_IF_ERROR(TakeBackDeadWorker(w, now));
  }
  return lost;
}

Result<bool> Engine::TakeBackIfSeenGone(const std::string& worker_id) {
  auto w = store_.WorkerGet(worker_id);
  if (!w.ok()) return w.status().code() == StatusCode::kNotFound ? Result<bool>(false) : Result<bool>(w.status());
  if (w->stopped_at || !options_.worker_gone(*w)) return false;
  JW_RETURN_IF_ERROR(TakeBackDeadWorker(*w, clock_.Now()));
  return true;
}

Status Engine::TakeBackDeadWorker(const WorkerRecord& w, Timestamp now) {
  const std::string who = "worker " + w.id + " (pid " + std::to_string(w.pid) + " on " + w.host + ")";
  // Leased before the verdict: it may have started, so the attempt is spent
  // (attempts bound a job that kills its workers).
  JW_ASSIGN_OR_RETURN(
      std::vector<JobId> taken,
      TakeBackJobsOf(w.id, now,
                     SameFailure(ErrorClass::kWorkerLost, who + " is gone; its death was seen by the reaper")));
  // Mark it stopped only once its jobs are back; a failure above retries
  // next tick. From the stop on, a fetch for it leases nothing (the store
  // checks in the fetch's own transaction).
  JW_RETURN_IF_ERROR(store_.WorkerSetStopped(w.id, now));
  // A fetch that slipped in between the take-back and the stop leased to a
  // worker already known dead: never started.
  auto late = TakeBackJobsOf(w.id, now, [&](const Job&) {
    Failure f;
    f.error_class = ErrorClass::kWorkerLost;
    f.message = who + " was already gone when it was leased (its death was seen by the reaper); never started";
    f.never_started = true;
    return f;
  });
  if (!late.ok()) spdlog::warn("{}: {}", who, late.status().ToString());
  const std::size_t n = taken.size() + (late.ok() ? late->size() : 0);
  spdlog::warn("worker {} (pid {}) is gone: took back {} running job(s)", w.id, w.pid, n);
  for (const auto& l : worker_gone_listeners_) l(w.id);
  return Status::Ok();
}

Result<std::vector<JobId>> Engine::TakeBackWorker(const std::string& worker_id, ErrorClass error_class,
                                                  const std::string& message, std::optional<Timestamp> dead_since) {
  if (worker_id.empty()) return Status::InvalidArgument("worker_id: must not be empty");
  JW_ASSIGN_OR_RETURN(std::vector<JobId> taken, TakeBackJobsOf(worker_id, clock_.Now(), [&](const Job& j) {
                        Failure f;
                        f.error_class = error_class;
                        f.message = message;
                        if (dead_since && j.started_at && *j.started_at >= *dead_since) {
                          f.error_class = ErrorClass::kWorkerLost;
                          f.never_started = true;
                          f.message += " (leased after the worker was known dead: never started)";
                        }
                        return f;
                      }));
  if (!taken.empty()) spdlog::warn("worker {}: took back {} running job(s): {}", worker_id, taken.size(), message);
  return taken;
}

Result<std::vector<JobId>> Engine::HandBackUndelivered(const std::string& worker_id, const std::vector<Job>& leased,
                                                       const std::string& why) {
  std::vector<JobId> handed;
  for (const Job& l : leased) {
    auto done = PlanAndApply(l.id, [&](const Job& j, Timestamp now) -> Result<JobChange> {
      if (j.state != JobState::kRunning || j.lease_token != l.lease_token) {
        return Status::LeaseLost(Ref(j.id) + ": no longer leased with token " + std::to_string(l.lease_token));
      }
      Failure f;
      f.error_class = ErrorClass::kWorkerLost;
      f.message = "the fetch answer leasing it to worker " + worker_id + " could not be delivered (" + why +
                  "); never started, handed back";
      f.never_started = true;
      MutexLock lock(rng_mu_);
      return PlanFailure(j, f, now, BackoffFor(j.kind), Rng());
    });
    if (done.ok()) {
      handed.push_back(l.id);
    } else if (done.status().code() != StatusCode::kLeaseLost && done.status().code() != StatusCode::kNotFound) {
      return done.status().WithContext("hand back " + Ref(l.id));
    }
  }
  if (!handed.empty()) {
    spdlog::warn("worker {}: handed back {} job(s) whose fetch answer could not be delivered ({})", worker_id,
                 handed.size(), why);
  }
  return handed;
}

void Engine::AddWorkerGoneListener(std::function<void(const std::string& worker_id)> listener) {
  worker_gone_listeners_.push_back(std::move(listener));
}

Result<std::vector<JobId>> Engine::TakeBackJobsOf(const std::string& worker_id, Timestamp now,
                                                  const std::function<Failure(const Job&)>& why) {
  std::vector<JobId> taken;
  JobListParams lp;
  lp.state = JobState::kRunning;
  lp.worker_id = worker_id;
  lp.limit = kChunk;
  while (true) {
    JW_ASSIGN_OR_RETURN(std::vector<Job> page, store_.JobList(lp));
    std::vector<JobChange> changes;
    std::vector<Job> before;
    for (const Job& j : page) {
      const Failure f = why(j);
      MutexLock lock(rng_mu_);
      auto planned = PlanFailure(j, f, now, BackoffFor(j.kind), Rng());
      if (!planned.ok()) continue;
      changes.push_back(std::move(planned).value());
      before.push_back(j);
    }
    std::vector<Status> per;
    std::vector<JobId> ids;
    for (const JobChange& c : changes) ids.push_back(c.id);
    JW_RETURN_IF_ERROR(ApplyAndEmit(std::move(changes), before, now, &per).status());
    for (std::size_t i = 0; i < per.size(); ++i) {
      if (per[i].ok()) taken.push_back(ids[i]);
    }
    if (page.size() < static_cast<std::size_t>(lp.limit)) break;
    lp.after_id = page.back().id;
  }
  return taken;
}

void Engine::AddListener(EventListener listener) { listeners_.push_back(std::move(listener)); }

void Engine::Emit(const JobEventRecord& e) const {
  const auto from = e.from ? ToString(*e.from) : std::string_view("-");
  const auto to = e.to ? ToString(*e.to) : std::string_view("deleted");
  // Inside a worker's scope for this job, its attempt and worker id are kept.
  const ScopedLogFields log_fields({.job_id = e.id, .kind = e.kind, .attempt = std::nullopt, .worker_id = {}});
  if (e.error_class) {
    const bool final = e.to && IsTerminal(*e.to);
    spdlog::log(final ? spdlog::level::warn : spdlog::level::info, "job {} {} -> {} [{}] {}", e.id, from, to,
                ToString(*e.error_class), e.message);
  } else {
    spdlog::debug("job {} {} -> {}{}{}", e.id, from, to, e.message.empty() ? "" : ": ", e.message);
  }
  for (const auto& l : listeners_) l(e);
}

std::mt19937_64& Engine::Rng() { return rng_; }

const BackoffPolicy& Engine::BackoffFor(const std::string& kind) const {
  auto it = options_.kinds.find(kind);
  if (it != options_.kinds.end() && it->second.backoff) return *it->second.backoff;
  return options_.backoff;
}

// ---------------------------------------------------------------------------
// Producers

Result<NewJob> Engine::Prepare(const EnqueueRequest& r, Timestamp now) const {
  if (!IsValidName(r.kind, 200)) {
    return Status::InvalidArgument("kind: must be 1-200 characters of letters, digits and _ - . : /");
  }
  const KindDefaults* kd = nullptr;
  if (auto it = options_.kinds.find(r.kind); it != options_.kinds.end()) kd = &it->second;

  NewJob j;
  j.kind = r.kind;
  j.queue = r.queue.value_or(kd && kd->queue ? *kd->queue : "default");
  if (!IsValidName(j.queue, kMaxQueueNameLength)) {
    return Status::InvalidArgument("queue: must be 1-128 characters of letters, digits and _ - . : /");
  }
  j.priority = r.priority.value_or(0);
  if (r.args) {
    if (r.args->size() > options_.max_args_bytes) {
      return Status::InvalidArgument("args: " + std::to_string(r.args->size()) + " bytes is over the limit of " +
                                     std::to_string(options_.max_args_bytes));
    }
    JW_ASSIGN_OR_RETURN(j.args, CompactJson(*r.args, "args"));
  }
  j.max_attempts = r.max_attempts.value_or(kd && kd->max_attempts ? *kd->max_attempts : options_.default_max_attempts);
  if (j.max_attempts < 1 || j.max_attempts > 1000) return Status::InvalidArgument("max_attempts: must be 1-1000");
  j.timeout = r.timeout.value_or(kd && kd->timeout ? *kd->timeout : options_.default_timeout);
  if (j.timeout <= Duration(0)) return Status::InvalidArgument("timeout_s: must be greater than 0");
  j.stall_timeout = r.stall_timeout ? r.stall_timeout : (kd ? kd->stall_timeout : std::nullopt);
  if (j.stall_timeout && *j.stall_timeout <= Duration(0)) {
    return Status::InvalidArgument("stall_timeout_s: must be greater than 0");
  }
  if (r.delay && r.run_at) return Status::InvalidArgument("run_at: give delay_s or run_at, not both");
  if (r.delay && *r.delay < Duration(0)) return Status::InvalidArgument("delay_s: must not be negative");
  j.run_at = r.run_at ? *r.run_at : now + r.delay.value_or(Duration(0));
  if (r.deadline_in && r.deadline_at) {
    return Status::InvalidArgument("deadline_at: give deadline_s or deadline_at, not both");
  }
  if (r.deadline_in) {
    if (*r.deadline_in <= Duration(0)) return Status::InvalidArgument("deadline_s: must be greater than 0");
    j.deadline_at = now + *r.deadline_in;
  } else {
    j.deadline_at = r.deadline_at;
  }
  if (j.deadline_at && *j.deadline_at <= std::max(j.run_at, now)) {
    return Status::InvalidArgument("deadline: must be later than the job's run_at (" + FormatRfc3339(j.run_at) + ")");
  }
  j.state = j.run_at > now ? JobState::kScheduled : JobState::kAvailable;
  if (r.unique_key && (r.unique_key->empty() || r.unique_key->size() > 255)) {
    return Status::InvalidArgument("unique_key: must be 1-255 characters");
  }
  j.unique_key = r.unique_key;
  j.resource_key = r.resource_key ? r.resource_key : (kd ? kd->resource_key : std::nullopt);
  if (j.resource_key && !IsValidName(*j.resource_key, 255)) {
    return Status::InvalidArgument("resource_key: must be 1-255 characters of letters, digits and _ - . : /");
  }
  j.cost = r.cost.value_or(1);
  if (j.cost < 1 || j.cost > kMaxJobCost) {
    return Status::InvalidArgument("cost: must be 1-" + std::to_string(kMaxJobCost) + " (got " +
                                   std::to_string(j.cost) + ")");
  }
  if (r.batch_id) {
    return Status::InvalidArgument(
               "batch_id: set by the server for a batch's members (POST /v1/batches), not by "
               "the job")
        .WithField("batch_id");
  }
  for (const std::string& t : r.tags) {
    if (t.empty() || t.size() > 100) return Status::InvalidArgument("tags: each tag must be 1-100 characters");
  }
  j.tags = r.tags;
  return j;
}

Result<EnqueueResult> Engine::Enqueue(const EnqueueRequest& request) {
  JW_ASSIGN_OR_RETURN(std::vector<EnqueueResult> results, EnqueueMany({request}));
  return std::move(results.front());
}

Result<std::vector<EnqueueResult>> Engine::EnqueueMany(const std::vector<EnqueueRequest>& requests) {
  if (requests.empty()) return std::vector<EnqueueResult>{};
  if (requests.size() > static_cast<std::size_t>(kMaxBulkJobs)) {
    return Status::InvalidArgument("jobs: at most " + std::to_string(kMaxBulkJobs) + " jobs per call, got " +
                                   std::to_string(requests.size()));
  }
  const Timestamp now = clock_.Now();
  JobInsertParams params;
  params.now = now;
  params.jobs.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto prepared = Prepare(requests[i], now);
    if (!prepared.ok()) {
      return requests.size() == 1 ? prepared.status()
                                  : prepared.status().WithContext("jobs[" + std::to_string(i) + "]");
    }
    params.jobs.push_back(std::move(prepared).value());
  }
  JW_ASSIGN_OR_RETURN(std::vector<InsertedJob> inserted, store_.JobInsertMany(params));

  std::vector<EnqueueResult> out;
  out.reserve(inserted.size());
  for (std::size_t i = 0; i < inserted.size(); ++i) {
    EnqueueResult r;
    r.deduplicated = inserted[i].deduplicated;
    if (r.deduplicated) {
      // Answer with the existing job as it is now.
      auto existing = store_.JobGet(inserted[i].id);
      if (!existing.ok()) return existing.status().WithContext("read deduplicated job");
      r.job = std::move(existing).value();
    } else {
      const NewJob& n = params.jobs[i];
      Job& j = r.job;
      j.id = inserted[i].id;
      j.kind = n.kind;
      j.queue = n.queue;
      j.priority = n.priority;
      j.state = n.state;
      j.args = n.args;
      j.max_attempts = n.max_attempts;
      j.timeout = n.timeout;
      j.stall_timeout = n.stall_timeout;
      j.deadline_at = n.deadline_at;
      j.run_at = n.run_at;
      j.created_at = now;
      j.unique_key = n.unique_key;
      j.resource_key = n.resource_key;
      j.batch_id = n.batch_id;
      j.tags = n.tags;
      j.cost = n.cost;
      Emit({j.id, j.kind, j.queue, std::nullopt, j.state, std::nullopt, "enqueued", now});
    }
    out.push_back(std::move(r));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Workers

Result<JobFetchParams> Engine::FetchParams(const FetchRequest& request) const {
  if (request.max < 1 || request.max > options_.max_fetch) {
    return Status::InvalidArgument("max: must be 1-" + std::to_string(options_.max_fetch));
  }
  JobFetchParams p;
  p.queues = request.queues.empty() ? std::vector<std::string>{"default"} : request.queues;
  for (const std::string& q : p.queues) {
    if (!IsValidName(q, kMaxQueueNameLength))
      return Status::InvalidArgument("queues: '" + q + "' is not a valid queue name");
  }
  p.max = request.max;
  p.lease_ttl = std::clamp(request.lease_ttl.value_or(options_.default_lease_ttl), options_.min_lease_ttl,
                           options_.max_lease_ttl);
  if (request.grace) {
    if (*request.grace < Duration(0) || *request.grace > p.lease_ttl / 2) {
      return Status::InvalidArgument("grace: must be between 0 and half the lease TTL (" +
                                     FormatDurationShort(p.lease_ttl / 2) + ")");
    }
    p.grace = *request.grace;
  } else {
    p.grace = std::min(options_.default_grace, p.lease_ttl / 2);
  }
  p.worker_id = request.worker_id.empty() ? "local" : request.worker_id;
  p.now = clock_.Now();
  return p;
}

void Engine::EmitFetched(const JobFetchParams& p, const std::vector<Job>& jobs) const {
  for (const Job& j : jobs) {
    JobEventRecord e(j.id, j.kind, j.queue, JobState::kAvailable, JobState::kRunning, std::nullopt,
                     "attempt " + std::to_string(j.attempt) + " by " + p.worker_id, p.now);
    e.due_at = j.run_at;
    e.created_at = j.created_at;
    Emit(e);
  }
}

Result<std::vector<Job>> Engine::Fetch(const FetchRequest& request) { return Fetch(request, nullptr); }

Result<std::vector<Job>> Engine::Fetch(const FetchRequest& request, FetchHolds* holds) {
  JW_ASSIGN_OR_RETURN(JobFetchParams p, FetchParams(request));
  p.holds = holds;
  JW_ASSIGN_OR_RETURN(std::vector<Job> jobs, store_.JobFetch(p));
  EmitFetched(p, jobs);
  return jobs;
}

Result<std::vector<HeartbeatResult>> Engine::Heartbeat(const HeartbeatRequest& request) {
  LeaseExtendParams p;
  p.items = request.jobs;
  for (HeartbeatItem& item : p.items) {
    JW_RETURN_IF_ERROR(CheckCheckpoint(item.checkpoint, options_.max_checkpoint_bytes, item.id));
    JW_ASSIGN_OR_RETURN(item.checkpoint, NormalizeOptionalJson(item.checkpoint, "checkpoint"));
  }
  p.now = clock_.Now();
  // When this worker's previous heartbeat was seen (before this one touches it).
  std::optional<Timestamp> previous_seen;
  Timestamp registered_at{};
  if (!request.worker_id.empty()) {
    auto worker = store_.WorkerGet(request.worker_id);
    if (worker.ok()) {
      previous_seen = worker->last_seen_at;
      registered_at = worker->started_at;
    }
    Status touched = store_.WorkerTouch(request.worker_id, static_cast<int>(request.jobs.size()), p.now);
    if (!touched.ok()) spdlog::warn("heartbeat: {}", touched.ToString());
  }
  JW_ASSIGN_OR_RETURN(std::vector<HeartbeatResult> results, store_.LeaseExtendMany(p));
  if (previous_seen) {
    // Best effort: what is not taken back here still expires with its lease.
    auto taken = TakeBackOmitted(request, *previous_seen, registered_at, p.now);
    if (!taken.ok()) spdlog::warn("heartbeat of worker {}: {}", request.worker_id, taken.status().ToString());
  }
  return results;
}

// A job is taken back only when it was left out of two heartbeats in a row:
// this one, and the worker's previous one (its lease was last renewed before
// that heartbeat was seen). One heartbeat of tolerance covers the two races a
// single omission cannot tell from a loss: a fetch answer still on its way
// when the worker built the list, and a job the worker has finished whose
// complete or fail is still in flight (a worker stops listing a job once it
// settles it). Guarded like every take-back: a job settled meanwhile is left alone.
Result<std::int64_t> Engine::TakeBackOmitted(const HeartbeatRequest& request, Timestamp previous_seen,
                                             Timestamp registered_at, Timestamp now) {
  std::unordered_set<JobId> listed;
  for (const HeartbeatItem& item : request.jobs) listed.insert(item.id);
  JobListParams lp;
  lp.state = JobState::kRunning;
  lp.worker_id = request.worker_id;
  lp.limit = kChunk;
  std::int64_t taken = 0;
  while (true) {
    JW_ASSIGN_OR_RETURN(std::vector<Job> page, store_.JobList(lp));
    std::vector<JobChange> changes;
    std::vector<Job> before;
    for (const Job& j : page) {
      if (listed.count(j.id) != 0) continue;
      const Timestamp renewed = j.heartbeat_at.value_or(j.started_at.value_or(now));
      if (renewed >= previous_seen) continue;  // leased or renewed since the previous heartbeat
      Failure f;
      f.error_class = ErrorClass::kWorkerLost;
      if (NeverNamedSinceLease(j) && j.started_at && *j.started_at >= registered_at) {
        // A live worker lists every job it holds: one leased in its current
        // life (not before it registered again: a previous life that died,
        // maybe killed by that job) that it never named never reached it (a
        // lost fetch answer). Nothing ran, nothing is spent.
        f.never_started = true;
        f.message = "worker " + request.worker_id + " never held it: its heartbeats at " +
                    FormatRfc3339(previous_seen) + " and " + FormatRfc3339(now) +
                    " did not list it and none ever had (the fetch answer was lost); never started, handed back";
      } else {
        f.message = "worker " + request.worker_id + " no longer holds it: its heartbeats at " +
                    FormatRfc3339(previous_seen) + " and " + FormatRfc3339(now) +
                    " did not list it (the worker lost track of the job)";
      }
      MutexLock lock(rng_mu_);
      auto planned = PlanFailure(j, f, now, BackoffFor(j.kind), Rng());
      if (!planned.ok()) continue;
      changes.push_back(std::move(planned).value());
      before.push_back(j);
    }
    JW_ASSIGN_OR_RETURN(std::int64_t applied, ApplyAndEmit(std::move(changes), before, now, nullptr));
    taken += applied;
    if (page.size() < static_cast<std::size_t>(lp.limit)) break;
    lp.after_id = page.back().id;
  }
  if (taken > 0) {
    spdlog::warn("worker {}: took back {} job(s) its heartbeats no longer list", request.worker_id, taken);
  }
  return taken;
}

Status Engine::Complete(const CompleteRequest& request) {
  JW_ASSIGN_OR_RETURN(std::vector<Status> results, CompleteMany({request}));
  return results.front();
}

Result<JobCompleteParams> Engine::CompleteParams(const std::vector<CompleteRequest>& requests) const {
  JobCompleteParams p;
  p.now = clock_.Now();
  p.items.reserve(requests.size());
  for (const CompleteRequest& r : requests) {
    JW_RETURN_IF_ERROR(CheckCheckpoint(r.checkpoint, options_.max_checkpoint_bytes, r.id));
    CompleteItem item{r.id, r.token, std::nullopt, std::nullopt, r.progress};
    JW_ASSIGN_OR_RETURN(item.result, NormalizeOptionalJson(r.result, "result"));
    JW_ASSIGN_OR_RETURN(item.checkpoint, NormalizeOptionalJson(r.checkpoint, "checkpoint"));
    p.items.push_back(std::move(item));
  }
  return p;
}

void Engine::EmitCompleted(const JobCompleteParams& p, const std::vector<Status>& results) const {
  for (std::size_t i = 0; i < results.size() && i < p.items.size(); ++i) {
    if (results[i].ok())
      Emit({p.items[i].id, "", "", JobState::kRunning, JobState::kSucceeded, std::nullopt, "", p.now});
  }
}

Result<std::vector<Status>> Engine::CompleteMany(const std::vector<CompleteRequest>& requests) {
  JW_ASSIGN_OR_RETURN(const JobCompleteParams p, CompleteParams(requests));
  JW_ASSIGN_OR_RETURN(std::vector<Status> results, store_.JobCompleteMany(p));
  EmitCompleted(p, results);
  return results;
}

Result<CompleteAndFetchResult> Engine::CompleteManyAndFetch(const std::vector<CompleteRequest>& completions,
                                                            const FetchRequest& fetch) {
  JW_ASSIGN_OR_RETURN(const JobCompleteParams c, CompleteParams(completions));
  JW_ASSIGN_OR_RETURN(JobFetchParams f, FetchParams(fetch));
  f.now = c.now;
  JW_ASSIGN_OR_RETURN(CompleteAndFetchResult out, store_.JobCompleteManyAndFetch(c, f));
  EmitCompleted(c, out.completed);
  EmitFetched(f, out.fetched);
  return out;
}

Status Engine::Fail(const FailRequest& request) {
  if (!ReportableByWorker(request.failure.error_class)) {
    return Status::InvalidArgument("error.class: '" + std::string(ToString(request.failure.error_class)) +
                                   "' is decided by the server, not reported by a worker");
  }
  if (request.failure.message.empty()) return Status::InvalidArgument("error.message: must not be empty");
  if (request.failure.retry_after && *request.failure.retry_after < Duration(0)) {
    return Status::InvalidArgument("error.retry_after: must not be negative");
  }
  JW_RETURN_IF_ERROR(CheckCheckpoint(request.checkpoint, options_.max_checkpoint_bytes, request.id));
  JW_ASSIGN_OR_RETURN(std::optional<std::string> checkpoint, NormalizeOptionalJson(request.checkpoint, "checkpoint"));

  for (int round = 0; round < kMaxPlanRetries; ++round) {
    JW_ASSIGN_OR_RETURN(Job job, store_.JobGet(request.id));
    if (job.lease_token != request.token) {
      return Status::LeaseLost(Ref(job.id) + ": lease token " + std::to_string(request.token) + " is stale (current " +
                               std::to_string(job.lease_token) + ")");
    }
    if (job.state != JobState::kRunning) {
      // The same fail again with the same token: the first one was recorded.
      if (!job.errors.empty() && job.errors.back().error_class == request.failure.error_class &&
          job.errors.back().message.rfind(request.failure.message, 0) == 0) {
        return Status::Ok();
      }
      return Status::LeaseLost(Ref(job.id) + " is " + std::string(ToString(job.state)) +
                               ": the lease is no longer held");
    }
    const Timestamp now = clock_.Now();
    Result<JobChange> planned = [&] {
      MutexLock lock(rng_mu_);
      return PlanFailure(job, request.failure, now, BackoffFor(job.kind), Rng());
    }();
    if (!planned.ok()) return planned.status();
    JobChange change = std::move(planned).value();
    change.checkpoint = checkpoint;
    change.progress = request.progress;
    std::vector<Status> per;
    JW_ASSIGN_OR_RETURN(std::int64_t applied, ApplyAndEmit({change}, {job}, now, &per));
    if (applied == 1) return Status::Ok();
    if (per.front().code() != StatusCode::kConflict) return per.front();
  }
  return Status::Unavailable(Ref(request.id) + ": changed concurrently too often; try again");
}

// ---------------------------------------------------------------------------
// Planning helpers

Result<std::int64_t> Engine::ApplyAndEmit(std::vector<JobChange> changes, const std::vector<Job>& before, Timestamp now,
                                          std::vector<Status>* per_change) {
  if (changes.empty()) return 0;
  LabelBatchDeadlines(changes, before);
  JobApplyParams p;
  p.now = now;
  p.changes = std::move(changes);
  JW_ASSIGN_OR_RETURN(std::vector<Status> results, store_.JobApplyMany(p));
  std::int64_t applied = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) continue;
    ++applied;
    const JobChange& c = p.changes[i];
    const Job& j = before[i];
    JobEventRecord e{c.id, j.kind, j.queue, c.from, c.to, std::nullopt, "", now};
    if (c.error) {
      e.error_class = c.error->error_class;
      e.message = c.error->message;
    } else if (c.request_cancel) {
      e.message = "stop requested (" + std::string(LimitName(c.cancel_reason)) + ")";
    }
    Emit(e);
  }
  if (per_change) *per_change = std::move(results);
  return applied;
}

Result<Job> Engine::PlanAndApply(JobId id, const std::function<Result<JobChange>(const Job&, Timestamp)>& plan) {
  for (int round = 0; round < kMaxPlanRetries; ++round) {
    JW_ASSIGN_OR_RETURN(Job job, store_.JobGet(id));
    const Timestamp now = clock_.Now();
    JW_ASSIGN_OR_RETURN(JobChange change, plan(job, now));
    std::vector<Status> per;
    JW_ASSIGN_OR_RETURN(std::int64_t applied, ApplyAndEmit({change}, {job}, now, &per));
    if (applied == 1) return store_.JobGet(id);
    if (per.front().code() == StatusCode::kNotFound) return per.front();
    // Lost a race (the job moved between read and write): plan again from a fresh snapshot.
  }
  return Status::Unavailable(Ref(id) + ": changed concurrently too often; try again");
}

// ---------------------------------------------------------------------------
// Maintenance

Result<ReapStats> Engine::ReapOnce(ReapPass pass) {
  ReapStats stats;
  const Timestamp now = clock_.Now();

  // 1. Restart grace first, so a long gap never expires live leases at once.
  const bool after_start = pass == ReapPass::kAfterServerStart;
  JW_ASSIGN_OR_RETURN(ReaperTickResult tick, store_.ReaperTick({.now = now, .grace_all = after_start}));
  stats.graced = tick.graced;
  if (tick.graced > 0) {
    const std::string why =
        after_start ? std::string("server start")
                    : "no tick for " +
                          (tick.previous_tick ? FormatDurationShort(now - *tick.previous_tick) : std::string("ever")) +
                          " (restart or suspend)";
    spdlog::info("reaper: {}: gave {} live leases one TTL of grace", why, tick.graced);
  }

  // 2a. Workers whose death can be seen: their jobs come back now, not at lease end.
  JW_ASSIGN_OR_RETURN(stats.workers_lost, TakeBackFromDeadWorkers(now));

  // 2. Running jobs: expired leases and overdue stops are taken back; reached limits get a stop request.
  JobListParams lp;
  lp.state = JobState::kRunning;
  lp.limit = kChunk;
  while (true) {
    JW_ASSIGN_OR_RETURN(std::vector<Job> page, store_.JobList(lp));
    std::vector<JobChange> changes;
    std::vector<Job> before;
    for (const Job& j : page) {
      const ReapVerdict v = DecideReap(j, now);
      Result<JobChange> planned = Status::Internal("unplanned");
      if (v.action == ReapVerdict::Action::kTakeBack) {
        MutexLock lock(rng_mu_);
        planned = PlanFailure(j, *v.failure, now, BackoffFor(j.kind), Rng());
        // Taken back for its lease alone (no stop request due): a heartbeat
        // that renews it before this write lands keeps the job.
        const bool stop_due = j.cancel_requested && j.takeback_at && *j.takeback_at <= now;
        if (planned.ok() && !stop_due) planned->lease_expired_by = now;
      } else if (v.action == ReapVerdict::Action::kRequestCancel) {
        planned = PlanLimitReached(j, *v.limit, now);
      } else {
        continue;
      }
      if (!planned.ok()) {
        const ScopedLogFields log_fields(JobLogFields(j));
        spdlog::error("reaper: cannot plan {}: {}", Ref(j.id), planned.status().ToString());
        continue;
      }
      changes.push_back(std::move(planned).value());
      before.push_back(j);
    }
    std::vector<Status> per;
    std::vector<bool> is_takeback;
    for (const JobChange& c : changes) is_takeback.push_back(c.leaves_running);
    JW_RETURN_IF_ERROR(ApplyAndEmit(std::move(changes), before, now, &per).status());
    for (std::size_t i = 0; i < per.size(); ++i) {
      if (per[i].ok()) (is_takeback[i] ? stats.taken_back : stats.cancel_requested)++;
    }
    if (page.size() < static_cast<std::size_t>(lp.limit)) break;
    lp.after_id = page.back().id;
  }

  // 3. Waiting jobs past their deadline fail (no attempt starts after it).
  {
    JW_ASSIGN_OR_RETURN(std::vector<Job> late, store_.JobListDeadlinePassed(now, kChunk));
    std::vector<JobChange> changes;
    std::vector<Job> before;
    for (const Job& j : late) {
      auto planned = PlanDeadlinePassed(j, now);
      if (!planned.ok()) continue;
      changes.push_back(std::move(planned).value());
      before.push_back(j);
    }
    JW_ASSIGN_OR_RETURN(stats.deadline_failed, ApplyAndEmit(std::move(changes), before, now, nullptr));
  }

  // 4. Due scheduled jobs become available (fetch also takes them directly).
  JW_ASSIGN_OR_RETURN(stats.promoted, store_.JobPromoteScheduled(now, kChunk));

  // 4b. Schedules that are due fire (guarded: once, whichever process gets there first).
  // A failure here must not stop the retention below: logged, retried next pass.
  if (auto fired = FireDueSchedules(now); fired.ok()) {
    stats.schedules_fired = *fired;
  } else {
    spdlog::warn("reaper: schedules: {}", fired.status().ToString());
  }

  // 5. Retention: one small chunk of old terminal jobs per tick.
  {
    JobDeleteParams dp;
    dp.states = {JobState::kSucceeded, JobState::kFailed, JobState::kCancelled};
    dp.before = now - options_.retention;
    dp.limit = kChunk;
    dp.now = now;
    JW_ASSIGN_OR_RETURN(stats.purged, store_.JobDeleteMany(dp));
    // And the registry: a worker stopped that long ago (restarts leave one row each) goes too.
    JW_ASSIGN_OR_RETURN(stats.workers_purged, store_.WorkerPurgeStopped(now - options_.retention));
    // And finished batches (their members go with the jobs above).
    JW_ASSIGN_OR_RETURN(stats.batches_purged, store_.BatchPurgeFinished(now - options_.retention, kChunk));
  }
  return stats;
}

}  // namespace jobwarden
