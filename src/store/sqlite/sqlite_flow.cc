// The SQLite store's flow control (DESIGN.md "Flow control"; docs/storage.md
// "Flow control"): fetch under queue and resource limits, the breaker
// outcomes of settles, and the limits' own reads and writes.
//
// Fetch leases, in one transaction, only jobs that break no limit. The
// limits' settings are cached per store and reloaded when the
// `limits_version` meta row changes (any process on the database bumps it
// when it writes settings), so a fetch with no limits anywhere costs one
// keyed read more than before. A resource's state (bucket, breaker, hold) is
// read only for the keys a fetch meets, once per fetch, and written back
// once if it changed.
//
// Held jobs cost nothing: jobs without a resource_key and jobs with one are
// in separate fetch indexes. Fetch walks the keyed index in fetch order and
// passes over held jobs from the index alone, up to a bound; past it (most of
// the queue's head is held) it visits the queue's keys instead, one seek
// each, and reads the heads of only the keys that may lease.
#include <algorithm>
#include <cmath>

#include "store/sqlite/sqlite_rows.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace jobwarden::sqlite {

// A job fetch may lease, before it is leased: from the index (keyed jobs) or
// the whole row (jobs without a key, read in one go as before).
struct FetchCandidate {
  JobId id = 0;
  int priority = 0;
  Timestamp run_at{};
  std::optional<std::string> key;
  int cost = 1;
  std::optional<Job> row;
};

namespace {

using Candidate = FetchCandidate;

// Fetch order: priority, then run_at, then id.
bool Before(const Candidate& a, const Candidate& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.run_at != b.run_at) return a.run_at < b.run_at;
  return a.id < b.id;
}

Candidate FromRow(Job job) {
  Candidate c;
  c.id = job.id;
  c.priority = job.priority;
  c.run_at = job.run_at;
  c.key = job.resource_key;
  c.cost = job.cost;
  c.row = std::move(job);
  return c;
}

// Reads (id, priority, run_at, resource_key, cost): JobFetchKeyedScan, JobFetchKeyHead.
Candidate FromIndex(const Query& q) {
  Candidate c;
  c.id = q.Int(0);
  c.priority = static_cast<int>(q.Int(1));
  c.run_at = q.Time(2);
  c.key = q.OptText(3);
  c.cost = static_cast<int>(q.Int(4));
  return c;
}

void NoteRetryAt(FetchHolds* holds, Timestamp at) {
  if (holds == nullptr) return;
  if (!holds->retry_at || at < *holds->retry_at) holds->retry_at = at;
}

}  // namespace

// One resource's limits and state during one transaction.
struct ResourceGate {
  struct State {
    std::optional<TokenBucket> bucket;
    Breaker breaker;
    std::int64_t running = 0;
    bool probe_running = false;  // the half-open probe still runs (or was leased by this fetch)
    friend bool operator==(const State&, const State&) = default;
  };
  ResourceLimits limits;
  State stored;   // as read (after the breaker's cooldown check): written back only if `now` differs
  State initial;  // at the start of this fetch's choice (Reset returns here)
  State now;
  std::optional<Timestamp> held_until;
  bool dirty_held = false;
};

Status SqliteStore::LoadFlow(Connection& conn) {
  std::int64_t version = 0;
  {
    Query q(conn, "LimitsVersion");
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) version = q.Int(0);
  }
  if (version == flow_.version) return Status::Ok();
  flow_.resources.clear();
  flow_.holds.clear();
  flow_.any_breaker = false;
  Query q(conn, "ResourceAllLimits");
  while (true) {
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    ResourceLimits l;
    if (auto c = q.OptInt(1)) l.concurrency = static_cast<int>(*c);
    if (auto text = q.OptText(2)) l.rate = Rate{q.Real(3), *text};
    if (!q.IsNull(4)) l.burst = q.Real(4);
    l.breaker.failures = static_cast<int>(q.Int(5));
    l.breaker.cooldown = Duration(q.Int(6));
    flow_.any_breaker = flow_.any_breaker || l.breaker.failures > 0;
    flow_.resources.emplace(q.Text(0), std::move(l));
  }
  flow_.version = version;
  return Status::Ok();
}

Result<ResourceGate*> SqliteStore::GateFor(Connection& conn, const std::string& key, Timestamp now, GateMap& gates) {
  if (auto it = gates.find(key); it != gates.end()) return &it->second;
  auto limits = flow_.resources.find(key);
  if (limits == flow_.resources.end()) return nullptr;  // no settings, no state: nothing holds it
  ResourceGate g;
  g.limits = limits->second;
  {
    Query q(conn, "ResourceState");
    q.Bind(1, key);
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) {
      if (g.limits.rate && !q.IsNull(0)) g.stored.bucket = TokenBucket{q.Real(0), q.Time(1)};
      g.stored.breaker.state = ParseBreakerState(q.Text(2)).value_or(BreakerState::kClosed);
      g.stored.breaker.failures = static_cast<int>(q.Int(3));
      g.stored.breaker.open_until = q.OptTime(4);
      g.stored.breaker.probe_job = q.OptInt(5);
      g.held_until = q.OptTime(6);
    }
  }
  if (g.limits.concurrency) {
    Query q(conn, "ResourceCountInState");
    q.Bind(1, key).Bind(2, "running");
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) g.stored.running = q.Int(0);
  }
  g.now = g.stored;
  if (g.limits.rate) {
    if (!g.now.bucket) g.now.bucket = FullBucket(g.limits.EffectiveBurst(), now);
    Refill(*g.now.bucket, g.limits.rate->per_second, g.limits.EffectiveBurst(), now);
  }
  AdvanceBreaker(g.now.breaker, now);
  if (g.now.breaker.state == BreakerState::kHalfOpen && g.now.breaker.probe_job) {
    Query q(conn, "JobStateOf");
    q.Bind(1, *g.now.breaker.probe_job);
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    g.now.probe_running = row && q.Text(0) == "running";
  }
  g.initial = g.now;
  // Holds that only time (or a settings change, which reloads) can end, for the next fetches.
  if (g.held_until && *g.held_until > now) {
    flow_.holds[key] = *g.held_until;
  } else if (g.limits.breaker.failures > 0 && g.now.breaker.state == BreakerState::kOpen && g.now.breaker.open_until &&
             *g.now.breaker.open_until > now) {
    // (A breaker's state outlives its settings: with no breaker configured, "open" holds nothing.)
    flow_.holds[key] = *g.now.breaker.open_until;
  }
  return &gates.emplace(key, std::move(g)).first->second;
}

bool SqliteStore::KnownHeld(const std::string& key, Timestamp now, FetchHolds* holds) {
  auto it = flow_.holds.find(key);
  if (it == flow_.holds.end()) return false;
  if (it->second <= now) {
    flow_.holds.erase(it);
    return false;
  }
  NoteRetryAt(holds, it->second);
  if (holds != nullptr) ++holds->held;
  return true;
}

bool SqliteStore::GateAllows(const ResourceGate& g, int cost, Timestamp now, FetchHolds* holds) {
  if (g.held_until && *g.held_until > now) {
    NoteRetryAt(holds, *g.held_until);
    return false;
  }
  if (g.limits.breaker.failures > 0 && !BreakerAllowsLease(g.now.breaker, g.now.probe_running)) {
    if (g.now.breaker.open_until) NoteRetryAt(holds, *g.now.breaker.open_until);
    return false;
  }
  if (g.limits.concurrency && g.now.running >= *g.limits.concurrency) return false;  // woken by a settle
  if (g.limits.rate) {
    const Timestamp at = WhenAvailable(*g.now.bucket, g.limits.rate->per_second, g.limits.EffectiveBurst(), cost, now);
    if (at > now) {
      NoteRetryAt(holds, at);
      return false;
    }
  }
  return true;
}

void SqliteStore::GateTake(ResourceGate& g, JobId id, int cost, Timestamp now) {
  ++g.now.running;
  if (g.limits.rate) TryTake(*g.now.bucket, g.limits.rate->per_second, g.limits.EffectiveBurst(), cost, now);
  if (g.limits.breaker.failures > 0) {
    OnBreakerLease(g.now.breaker, id);
    if (g.now.breaker.state == BreakerState::kHalfOpen) g.now.probe_running = true;
  }
}

Status SqliteStore::WriteGates(Connection& conn, const GateMap& gates) {
  for (const auto& [key, g] : gates) {
    // The running count and the probe's liveness are not stored; they are read.
    ResourceGate::State now = g.now, stored = g.stored;
    now.running = stored.running = 0;
    now.probe_running = stored.probe_running = false;
    if (now == stored && !g.dirty_held) continue;
    Query q(conn, "ResourceStateSet");
    q.Bind(1, key);
    if (now.bucket) {
      q.Bind(2, now.bucket->tokens).Bind(3, now.bucket->updated_at);
    } else {
      q.BindNull(2).BindNull(3);
    }
    q.Bind(4, ToString(now.breaker.state)).Bind(5, now.breaker.failures).Bind(6, now.breaker.open_until);
    q.Bind(7, now.breaker.probe_job).Bind(8, g.held_until);
    JW_RETURN_IF_ERROR(q.Run());
  }
  return Status::Ok();
}

// The jobs of one queue that may be leased now, at most `max`, in fetch
// order, taking from the gates tentatively (the caller resets them).
Status SqliteStore::QueueCandidates(Connection& conn, const std::string& queue, int max, const JobFetchParams& p,
                                    GateMap& gates, std::vector<FetchCandidate>& out) {
  std::vector<Candidate> keyless;
  {
    Query q(conn, "JobFetchCandidates");
    q.Bind(1, queue).Bind(2, p.now).Bind(3, max);
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      JW_ASSIGN_OR_RETURN(Job job, ReadJob(q));
      keyless.push_back(FromRow(std::move(job)));
    }
  }
  std::vector<Candidate> keyed;
  if (flow_.resources.empty()) {
    // No resource has limits: nothing can hold a keyed job.
    Query q(conn, "JobFetchKeyedCandidates");
    q.Bind(1, queue).Bind(2, p.now).Bind(3, max);
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      JW_ASSIGN_OR_RETURN(Job job, ReadJob(q));
      keyed.push_back(FromRow(std::move(job)));
    }
  } else {
    JW_RETURN_IF_ERROR(KeyedCandidates(conn, queue, max, p, gates, keyed));
  }
  // Both runs are in fetch order: merge them and keep the first `max` (appended to `out`).
  std::size_t a = 0, b = 0;
  for (int taken = 0; taken < max && (a < keyless.size() || b < keyed.size()); ++taken) {
    const bool take_keyless = b == keyed.size() || (a < keyless.size() && Before(keyless[a], keyed[b]));
    out.push_back(std::move(take_keyless ? keyless[a++] : keyed[b++]));
  }
  return Status::Ok();
}

Status SqliteStore::KeyedCandidates(Connection& conn, const std::string& queue, int max, const JobFetchParams& p,
                                    GateMap& gates, std::vector<FetchCandidate>& out) {
  // Fast path: walk the keyed jobs in fetch order, passing over held ones.
  const int bound = 64 + 4 * max;
  int passed = 0;
  {
    Query q(conn, "JobFetchKeyedScan");
    q.Bind(1, queue).Bind(2, p.now);
    while (static_cast<int>(out.size()) < max) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) return Status::Ok();
      Candidate c = FromIndex(q);
      if (KnownHeld(*c.key, p.now, p.holds)) {
        if (++passed > bound) break;
        continue;
      }
      JW_ASSIGN_OR_RETURN(ResourceGate * g, GateFor(conn, *c.key, p.now, gates));
      if (g == nullptr) {
        out.push_back(std::move(c));
        continue;
      }
      if (!GateAllows(*g, c.cost, p.now, p.holds)) {
        if (p.holds != nullptr) ++p.holds->held;
        if (++passed > bound) break;
        continue;
      }
      GateTake(*g, c.id, c.cost, p.now);
      out.push_back(std::move(c));
    }
    if (static_cast<int>(out.size()) >= max) return Status::Ok();
  }
  // Most of the head is held: visit the keys instead (one seek each), and read
  // the heads of the keys that may lease. Undo what the walk took first.
  for (auto& [key, g] : gates) g.now = g.initial;
  out.clear();
  std::vector<Candidate> heads;
  std::string after;
  while (true) {
    std::string key;
    {
      Query q(conn, "JobFetchNextKey");
      q.Bind(1, queue).Bind(2, after);
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      key = q.Text(0);
    }
    after = key;
    if (KnownHeld(key, p.now, p.holds)) continue;
    JW_ASSIGN_OR_RETURN(ResourceGate * g, GateFor(conn, key, p.now, gates));
    if (g != nullptr && !GateAllows(*g, 1, p.now, p.holds)) {
      if (p.holds != nullptr) ++p.holds->held;
      continue;
    }
    Query q(conn, "JobFetchKeyHead");
    q.Bind(1, queue).Bind(2, p.now).Bind(3, key).Bind(4, max);
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      heads.push_back(FromIndex(q));
    }
  }
  std::sort(heads.begin(), heads.end(), Before);
  for (Candidate& c : heads) {
    if (static_cast<int>(out.size()) >= max) break;
    JW_ASSIGN_OR_RETURN(ResourceGate * g, GateFor(conn, *c.key, p.now, gates));
    if (g != nullptr) {
      if (!GateAllows(*g, c.cost, p.now, p.holds)) continue;
      GateTake(*g, c.id, c.cost, p.now);
    }
    out.push_back(std::move(c));
  }
  return Status::Ok();
}

Status SqliteStore::FetchIn(Connection& conn, const JobFetchParams& p, std::vector<Job>& out) {
  out.clear();
  {
    // In the fetch's own transaction, so a worker marked stopped (its death
    // seen) is leased nothing, however the fetch and the stop interleave.
    Query stopped(conn, "WorkerIsStopped");
    stopped.Bind(1, p.worker_id);
    JW_ASSIGN_OR_RETURN(bool row, stopped.Step());
    if (row) return Status::Ok();
  }
  JW_RETURN_IF_ERROR(LoadFlow(conn));
  GateMap gates;
  std::vector<Candidate> candidates;
  for (const std::string& queue : p.queues) {
    int max = p.max;
    {
      Query settings(conn, "QueueFetchSettings");
      settings.Bind(1, queue);
      JW_ASSIGN_OR_RETURN(bool row, settings.Step());
      if (row && settings.Int(0) != 0) continue;  // paused
      if (row && !settings.IsNull(1)) {
        // Queue concurrency (sequential mode at 1): only the slots left.
        Query running(conn, "QueueRunning");
        running.Bind(1, queue);
        JW_ASSIGN_OR_RETURN(bool counted, running.Step());
        const std::int64_t left = settings.Int(1) - (counted ? running.Int(0) : 0);
        if (left <= 0) {
          if (p.holds != nullptr) ++p.holds->held;
          continue;
        }
        max = static_cast<int>(std::min<std::int64_t>(max, left));
      }
    }
    bool due = false;
    {
      Query probe(conn, "JobHasDueScheduledInQueue");
      probe.Bind(1, queue).Bind(2, p.now);
      JW_ASSIGN_OR_RETURN(due, probe.Step());
    }
    if (due) {
      Query promote(conn, "JobPromoteScheduledInQueue");
      promote.Bind(1, queue).Bind(2, p.now).Bind(3, std::max(p.max, 100));
      JW_RETURN_IF_ERROR(promote.Run());
    }
    JW_RETURN_IF_ERROR(QueueCandidates(conn, queue, max, p, gates, candidates));
  }
  if (p.queues.size() > 1) {
    // Merge the per-queue heads.
    std::stable_sort(candidates.begin(), candidates.end(), Before);
    if (candidates.size() > static_cast<std::size_t>(p.max)) candidates.resize(static_cast<std::size_t>(p.max));
  }
  // The gates were taken from tentatively while choosing; take again for the
  // chosen only, in fetch order (a chosen job a gate refuses now is not leased).
  for (auto& [key, g] : gates) g.now = g.initial;
  out.reserve(candidates.size());
  for (Candidate& c : candidates) {
    if (c.key) {
      JW_ASSIGN_OR_RETURN(ResourceGate * g, GateFor(conn, *c.key, p.now, gates));
      if (g != nullptr) {
        if (!GateAllows(*g, c.cost, p.now, nullptr)) continue;
        GateTake(*g, c.id, c.cost, p.now);
      }
    }
    if (!c.row) {
      Query q(conn, "JobGetForLease");
      q.Bind(1, c.id);
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) continue;  // not available after all (cannot happen in this transaction)
      JW_ASSIGN_OR_RETURN(Job job, ReadJob(q));
      c.row = std::move(job);
    }
    Query lease(conn, "JobLease");
    lease.Bind(1, c.id).Bind(2, p.now).Bind(3, p.lease_ttl).Bind(4, p.grace).Bind(5, p.worker_id);
    JW_RETURN_IF_ERROR(lease.Run());
    if (conn.Changes() != 1) continue;  // not available after all (cannot happen in this transaction)
    LeaseFields(*c.row, p);
    out.push_back(std::move(*c.row));
  }
  return WriteGates(conn, gates);
}

Status SqliteStore::RecordOutcome(Connection& conn, const std::string& key, BreakerOutcome outcome, JobId job,
                                  std::optional<Timestamp> hold_until, Timestamp now) {
  if (hold_until) {
    Query ensure(conn, "ResourceEnsure");
    ensure.Bind(1, key).Bind(2, now);
    JW_RETURN_IF_ERROR(ensure.Run());
    if (conn.Changes() == 1) {
      // A new row is a new key for every process's settings cache.
      Query bump(conn, "LimitsVersionBump");
      JW_RETURN_IF_ERROR(bump.Run());
      flow_.version = -1;
      JW_RETURN_IF_ERROR(LoadFlow(conn));
    }
  }
  GateMap gates;
  JW_ASSIGN_OR_RETURN(ResourceGate * g, GateFor(conn, key, now, gates));
  if (g == nullptr) return Status::Ok();
  if (hold_until && (!g->held_until || *g->held_until < *hold_until)) {
    g->held_until = hold_until;
    g->dirty_held = true;
  }
  OnBreakerOutcome(g->now.breaker, g->limits.breaker, outcome, job, now);
  return WriteGates(conn, gates);
}

Status SqliteStore::RecordSuccesses(Connection& conn, const std::vector<JobId>& completed, Timestamp now) {
  if (completed.empty()) return Status::Ok();
  JW_RETURN_IF_ERROR(LoadFlow(conn));
  if (!flow_.any_breaker) return Status::Ok();
  for (JobId id : completed) {
    std::optional<std::string> key;
    {
      Query q(conn, "JobResourceKey");
      q.Bind(1, id);
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (row) key = q.OptText(0);
    }
    if (!key) continue;
    auto it = flow_.resources.find(*key);
    if (it == flow_.resources.end() || it->second.breaker.failures == 0) continue;
    JW_RETURN_IF_ERROR(RecordOutcome(conn, *key, BreakerOutcome::kSuccess, id, std::nullopt, now));
  }
  return Status::Ok();
}

// --- settings and reads ------------------------------------------------------

Status SqliteStore::QueueSetLimits(const std::string& name, const QueueLimits& limits, Timestamp now) {
  Status s = writer_.Submit([&](Connection& conn) -> Status {
    Query q(conn, "QueueSetLimits");
    q.Bind(1, name).Bind(2, limits.concurrency).Bind(3, limits.warn_depth).Bind(4, limits.warn_age).Bind(5, now);
    return q.Run();
  });
  return s.WithContext("set the limits of queue '" + name + "'");
}

Status SqliteStore::ResourceSetLimits(const std::string& key, const ResourceLimits& limits, Timestamp now) {
  Status s = writer_.Submit([&](Connection& conn) -> Status {
    Query q(conn, "ResourceSetLimits");
    q.Bind(1, key).Bind(2, limits.concurrency);
    if (limits.rate) {
      q.Bind(3, limits.rate->text).Bind(4, limits.rate->per_second);
    } else {
      q.BindNull(3).BindNull(4);
    }
    q.Bind(5, limits.burst).Bind(6, limits.breaker.failures).Bind(7, limits.breaker.cooldown).Bind(8, now);
    JW_RETURN_IF_ERROR(q.Run());
    Query bump(conn, "LimitsVersionBump");
    JW_RETURN_IF_ERROR(bump.Run());
    flow_.version = -1;
    return Status::Ok();
  });
  return s.WithContext("set the limits of resource '" + key + "'");
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqliteStore::QueueResourceKeys(const std::string& queue,
                                                                                         int limit) {
  auto conn = readers_.Acquire();
  std::vector<std::pair<std::string, std::int64_t>> out;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    Query q(c, "QueueResourceKeys");
    q.Bind(1, queue).Bind(2, limit);
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.emplace_back(q.Text(0), q.Int(1));
    }
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("list the resource keys of queue '" + queue + "'");
  return out;
}

namespace {

// One resource's settings, state, counts and stats, in the reader's snapshot.
// found: whether it has a row, jobs waiting or running, or recent outcomes.
Status ReadResource(Connection& c, const std::string& key, Timestamp now, ResourceInfo& r, bool& found) {
  r = ResourceInfo{};
  r.key = key;
  found = false;
  {
    Query q(c, "ResourceRow");
    q.Bind(1, key);
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) {
      found = true;
      if (auto v = q.OptInt(1)) r.limits.concurrency = static_cast<int>(*v);
      if (auto text = q.OptText(2)) r.limits.rate = Rate{q.Real(3), *text};
      if (!q.IsNull(4)) r.limits.burst = q.Real(4);
      r.limits.breaker.failures = static_cast<int>(q.Int(5));
      r.limits.breaker.cooldown = Duration(q.Int(6));
      if (r.limits.rate) {
        TokenBucket b = q.IsNull(7) ? FullBucket(r.limits.EffectiveBurst(), now) : TokenBucket{q.Real(7), q.Time(8)};
        Refill(b, r.limits.rate->per_second, r.limits.EffectiveBurst(), now);
        r.bucket = b;
      }
      r.breaker.state = ParseBreakerState(q.Text(9)).value_or(BreakerState::kClosed);
      r.breaker.failures = static_cast<int>(q.Int(10));
      r.breaker.open_until = q.OptTime(11);
      r.breaker.probe_job = q.OptInt(12);
      AdvanceBreaker(r.breaker, now);
      if (auto held = q.OptTime(13); held && *held > now) r.held_until = held;
    }
  }
  for (auto [state, count] : {std::pair{"running", &r.running}, std::pair{"available", &r.available}}) {
    Query q(c, "ResourceCountInState");
    q.Bind(1, key).Bind(2, state);
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) *count = q.Int(0);
  }
  const Timestamp since = now - kResourceStatsWindow;
  std::vector<std::int64_t> took;
  {
    Query q(c, "ResourceRecentRunTimes");
    q.Bind(1, key).Bind(2, since);
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      took.push_back(q.Int(0));
    }
  }
  r.stats.succeeded = static_cast<std::int64_t>(took.size());
  if (!took.empty()) {
    // Nearest rank: the smallest value with at least p% of the runs at or below it.
    auto rank = [&](double pct) {
      const auto n = static_cast<double>(took.size());
      const auto i = static_cast<std::size_t>(std::max(1.0, std::ceil(pct / 100.0 * n))) - 1;
      return Duration(took[std::min(i, took.size() - 1)]);
    };
    r.stats.p50 = rank(50);
    r.stats.p95 = rank(95);
  }
  {
    Query q(c, "ResourceRecentFailures");
    q.Bind(1, key).Bind(2, since);
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) r.stats.failed = q.Int(0);
  }
  found = found || r.running > 0 || r.available > 0 || r.stats.succeeded > 0 || r.stats.failed > 0;
  return Status::Ok();
}

}  // namespace

Result<std::vector<ResourceInfo>> SqliteStore::ResourceList(Timestamp now) {
  auto conn = readers_.Acquire();
  std::vector<ResourceInfo> out;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    std::vector<std::string> keys;
    {
      Query q(c, "ResourceKeys");
      while (true) {
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        keys.push_back(q.Text(0));
      }
    }
    // The keys of jobs: one seek per distinct key.
    std::string after;
    while (true) {
      Query q(c, "ResourceNextJobKey");
      q.Bind(1, after);
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      after = q.Text(0);
      keys.push_back(after);
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const std::string& key : keys) {
      ResourceInfo r;
      bool found = false;
      JW_RETURN_IF_ERROR(ReadResource(c, key, now, r, found));
      if (found) out.push_back(std::move(r));
    }
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("list resources");
  return out;
}

Result<ResourceInfo> SqliteStore::ResourceGet(const std::string& key, Timestamp now) {
  auto conn = readers_.Acquire();
  ResourceInfo r;
  bool found = false;
  Status s = InReadTx(*conn, [&](Connection& c) { return ReadResource(c, key, now, r, found); });
  if (!s.ok()) return s.WithContext("read resource '" + key + "'");
  if (!found) return Status::NotFound("resource " + key + " has no settings and no jobs");
  return r;
}

}  // namespace jobwarden::sqlite
