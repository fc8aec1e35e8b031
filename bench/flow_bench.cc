// jobwarden_bench_flow: the flow-control figures of issue 13. Every figure is
// an in-process WorkerPool over the embedded engine (LocalBackend, a Reaper as
// embedded, SQLite, process durability), no-op handlers, as the `pool` figure
// of jobwarden_bench_worker.
//
//   flowheld  the pool's rate over 1,000,000 available jobs of which 90% belong
//             to 99 resources whose breakers are open and 10% to one free
//             resource: time until --flowheld-jobs (of the free) succeeded,
//             against the same jobs with no limits (no resource settings),
//             alternated run by run, each on a fresh copy of the cached fixture
//             (bench_common.h), in each layout of --flowheld-layouts
//   handoff   a sequential queue (queue concurrency 1) and a pool of 4 slots:
//             from one handler's return to the next handler's start (steady
//             clock, in the handlers), p50 and p99 over --handoff-jobs jobs,
//             for handlers that return at once and that work (sleep) for each
//             of --handoff-work-ms (--handoff-work-jobs jobs)
//   rate      a resource with rate 10/s (burst 10) and 8 slots for --rate-seconds:
//             the starts in the window that begins at the first start, raw and
//             less the burst
//
// The pool fetches through the engine; its store is wrapped to count fetch
// calls, what they leased, how long they took and what the store says held
// them back (FetchHolds), which the engine does not pass on.
//
// Usage: jobwarden_bench_flow [--scenarios flowheld,handoff,rate] [--runs 5]
//          [--concurrency 8] [--flowheld-jobs 100000] [--flowheld-layouts mixed,tail]
//          [--handoff-jobs 500] [--handoff-slots 4] [--handoff-work-ms 0,5]
//          [--handoff-work-jobs 100] [--rate-seconds 30]
//          [--local-poll-ms 500] [--bench-dir DIR] [--fixture-tag TAG]
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "app/local_backend.h"
#include "bench_common.h"
#include "engine/reaper.h"
#include "store/store_wrapper.h"
#include "worker/worker_pool.h"

using namespace std::chrono_literals;
using namespace jobwarden;
using namespace jobwarden::bench;
namespace fs = std::filesystem;

namespace {

struct Settings {
  int runs = 5;
  int concurrency = 8;
  int flowheld_jobs = kFlowFreeJobs;
  int handoff_jobs = 500;
  int handoff_slots = 4;
  std::vector<int> handoff_work_ms = {0, 5};  // how long each handler works (sleeps)
  // Jobs of the working handlers: while the poll governs their hand-off (~0.5 s each), 500 take 4 min a run.
  int handoff_work_jobs = 100;
  int rate_seconds = 30;
  // LocalBackend's poll while a fetch finds nothing; 500 ms is its default
  // and what an embedded `jobwarden worker --db` uses.
  int local_poll_ms = 500;
  fs::path bench_dir;
  std::string fixture_tag = "v1";
};
const Settings* g = nullptr;

// What the pool's fetches did, counted at the store.
struct FetchCounts {
  std::int64_t calls = 0;  // JobFetch + JobCompleteManyAndFetch
  std::int64_t empty = 0;  // leased nothing
  std::int64_t leased = 0;
  std::int64_t held = 0;           // FetchHolds::held, summed
  std::int64_t with_retry_at = 0;  // calls whose FetchHolds had a retry_at
  double seconds = 0;              // wall time inside the calls
};

class CountingStore final : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  Result<std::vector<Job>> JobFetch(const JobFetchParams& p) override {
    JobFetchParams q = p;
    FetchHolds holds;
    q.holds = &holds;
    const auto t0 = SteadyClock::now();
    auto r = StoreWrapper::JobFetch(q);
    Note(t0, r.ok() ? r->size() : 0, holds);
    return r;
  }
  Result<CompleteAndFetchResult> JobCompleteManyAndFetch(const JobCompleteParams& c, const JobFetchParams& p) override {
    JobFetchParams q = p;
    FetchHolds holds;
    q.holds = &holds;
    const auto t0 = SteadyClock::now();
    auto r = StoreWrapper::JobCompleteManyAndFetch(c, q);
    Note(t0, r.ok() ? r->fetched.size() : 0, holds);
    return r;
  }
  FetchCounts counts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }

 private:
  void Note(SteadyClock::time_point t0, std::size_t leased, const FetchHolds& holds) {
    const double s = SecondsSince(t0);
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.calls;
    counts_.empty += leased == 0 ? 1 : 0;
    counts_.leased += static_cast<std::int64_t>(leased);
    counts_.held += holds.held;
    counts_.with_retry_at += holds.retry_at ? 1 : 0;
    counts_.seconds += s;
  }
  mutable std::mutex mu_;
  FetchCounts counts_;  // GUARDED_BY(mu_)
};

// A database file with the counting store, the engine, the embedded backend and the reaper.
struct PoolDb {
  explicit PoolDb(const fs::path& file) {
    SqliteStoreOptions o;
    o.path = file.string();
    o.durability = Durability::kProcess;
    store = Check(OpenSqliteStore(o), "open store");
    counting = std::make_unique<CountingStore>(*store);
    engine = std::make_unique<Engine>(*counting, clock);
    backend = std::make_unique<LocalBackend>(*engine, std::chrono::milliseconds(g->local_poll_ms));
    reaper = std::make_unique<Reaper>(*engine, DefaultReaperTick(10s));
  }
  std::unique_ptr<Store> store;
  std::unique_ptr<CountingStore> counting;
  SystemClock clock;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<LocalBackend> backend;  // before the engine is shared
  std::unique_ptr<Reaper> reaper;
};

// Starts the reaper and a pool of `slots` on kBenchQueue running `handler` for kind noop.
std::unique_ptr<WorkerPool> StartPool(PoolDb& db, int slots, InProcessHandler handler) {
  db.reaper->Start();
  WorkerOptions o;
  o.queues = {kBenchQueue};
  o.concurrency = slots;
  auto pool = std::make_unique<WorkerPool>(*db.backend, o);
  pool->Handle("noop", std::move(handler));
  Check(pool->Start(), "start pool");
  return pool;
}

void StopPool(PoolDb& db, WorkerPool& pool) {
  pool.Drain();
  pool.Wait();
  db.reaper->Stop();
}

// Waits until `jobs` succeeded; Fatal on a failure or a lost lease.
void AwaitSucceeded(const WorkerPool& pool, std::int64_t jobs) {
  while (true) {
    const WorkerStats st = pool.stats();
    if (st.succeeded >= jobs) return;
    if (st.failed > 0 || st.lost > 0) {
      Fatal("pool: " + std::to_string(st.failed) + " failed, " + std::to_string(st.lost) + " lost");
    }
    std::this_thread::sleep_for(1ms);
  }
}

std::string Describe(const FetchCounts& c) {
  char buf[192];
  std::snprintf(buf, sizeof buf, "%lld fetches (%lld empty), %.1f jobs and %.1f held per fetch, %.3f ms per fetch",
                static_cast<long long>(c.calls), static_cast<long long>(c.empty),
                c.calls ? static_cast<double>(c.leased) / static_cast<double>(c.calls) : 0.0,
                c.calls ? static_cast<double>(c.held) / static_cast<double>(c.calls) : 0.0,
                c.calls ? c.seconds / static_cast<double>(c.calls) * 1e3 : 0.0);
  return buf;
}

// ---------------------------------------------------------------------------
// flowheld

struct HeldSample {
  double rate = 0;            // jobs/s
  double cpu_us_per_job = 0;  // process CPU (every thread) per job
  FetchCounts fetches;
};

// jobs/s of the pool over a fresh copy of the fixture, the held keys' breakers
// open (`held`) or no resource settings at all.
HeldSample FlowHeldRun(const std::string& layout, bool held) {
  TempDir dir("flowheld");
  const fs::path file = dir.path() / "bench.db";
  CopySynced(FlowHeldFixture(g->bench_dir, g->fixture_tag, layout), file);
  PoolDb db(file);
  if (held) OpenHeldBreakers(*db.engine);
  const FetchCounts before = db.counting->counts();
  std::atomic<std::int64_t> ran_held{0};
  const double c0 = ProcessCpuSeconds();
  const auto t0 = SteadyClock::now();
  auto pool = StartPool(db, g->concurrency, [&](JobContext& ctx) {
    if (ctx.job().resource_key.value_or("") != kFreeKey) ran_held.fetch_add(1, std::memory_order_relaxed);
  });
  AwaitSucceeded(*pool, g->flowheld_jobs);
  const double secs = SecondsSince(t0);
  const double cpu = ProcessCpuSeconds() - c0;
  StopPool(db, *pool);
  if (held && ran_held.load() > 0) Fatal(std::to_string(ran_held.load()) + " jobs of open breakers ran");
  FetchCounts f = db.counting->counts();
  f.calls -= before.calls, f.empty -= before.empty, f.leased -= before.leased, f.held -= before.held;
  f.with_retry_at -= before.with_retry_at, f.seconds -= before.seconds;
  return {g->flowheld_jobs / secs, cpu / g->flowheld_jobs * 1e6, f};
}

void FlowHeld(const std::string& layout) {
  const std::string c = "c" + std::to_string(g->concurrency);
  std::vector<double> held, free, ratio, held_cpu, free_cpu;
  FetchCounts last_held, last_free;
  for (int i = 0; i < g->runs; ++i) {
    // Alternated, so a change of the host's speed between runs hits both.
    const HeldSample h = FlowHeldRun(layout, true);
    const HeldSample n = FlowHeldRun(layout, false);
    held.push_back(h.rate), held_cpu.push_back(h.cpu_us_per_job), last_held = h.fetches;
    free.push_back(n.rate), free_cpu.push_back(n.cpu_us_per_job), last_free = n.fetches;
    ratio.push_back(h.rate / n.rate);
    std::fprintf(stderr,
                 "  flowheld %s run %d/%d: held %.0f jobs/s (cpu %.1f us/job; %s), no limits %.0f jobs/s "
                 "(cpu %.1f us/job; %s), ratio %.3f\n",
                 layout.c_str(), i + 1, g->runs, h.rate, h.cpu_us_per_job, Describe(h.fetches).c_str(), n.rate,
                 n.cpu_us_per_job, Describe(n.fetches).c_str(), ratio.back());
  }
  char note[320];
  std::snprintf(note, sizeof note, "%d free of 1M jobs, 99 keys open; cpu %.1f us/job; last run: %s", g->flowheld_jobs,
                Median(held_cpu), Describe(last_held).c_str());
  Report("flowheld_" + layout + "_" + c, held, "jobs/s", Goal::None(), note);
  std::snprintf(note, sizeof note, "%d of the same 1M jobs, no limits; cpu %.1f us/job; last run: %s", g->flowheld_jobs,
                Median(free_cpu), Describe(last_free).c_str());
  Report("flowheld_" + layout + "_nolimits_" + c, free, "jobs/s", Goal::None(), note);
  Report("flowheld_" + layout + "_ratio", ratio, "x", Goal::AtLeast(0.8), "held / no limits, per alternated pair");
}

// ---------------------------------------------------------------------------
// handoff

struct HandoffSample {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  FetchCounts fetches;
};

HandoffSample HandoffRun(int work_ms, int jobs) {
  TempDir dir("handoff");
  PoolDb db(dir.path() / "bench.db");
  QueueLimitsPatch seq;
  seq.concurrency = std::optional<int>(1);
  Check(db.engine->SetQueueLimits(kBenchQueue, seq).status(), "set queue concurrency 1");
  const int warmup = 20;
  const int total = warmup + jobs;
  EnqueueBulk(*db.engine, total);
  std::mutex mu;
  std::vector<SteadyClock::time_point> starts, ends;  // GUARDED_BY(mu), in start order
  int running = 0;                                    // GUARDED_BY(mu)
  bool overlapped = false;                            // GUARDED_BY(mu)
  starts.reserve(static_cast<std::size_t>(total));
  ends.reserve(static_cast<std::size_t>(total));
  auto pool = StartPool(db, g->handoff_slots, [&](JobContext&) {
    std::size_t i;
    {
      const auto now = SteadyClock::now();
      std::lock_guard<std::mutex> lock(mu);
      overlapped = overlapped || running > 0;
      ++running;
      i = starts.size();
      starts.push_back(now);
      ends.emplace_back();
    }
    if (work_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(work_ms));
    const auto now = SteadyClock::now();
    std::lock_guard<std::mutex> lock(mu);
    --running;
    ends[i] = now;
  });
  AwaitSucceeded(*pool, total);
  StopPool(db, *pool);
  if (overlapped) Fatal("handoff: two jobs of the sequential queue ran at once");
  std::vector<double> ms;
  for (std::size_t i = warmup; i < starts.size(); ++i) {
    ms.push_back(std::chrono::duration<double, std::milli>(starts[i] - ends[i - 1]).count());
  }
  HandoffSample out;
  out.p50_ms = Percentile(ms, 50);
  out.p99_ms = Percentile(ms, 99);
  out.max_ms = Percentile(ms, 100);
  out.fetches = db.counting->counts();
  return out;
}

// A handler that returns at once has usually finished before the fetcher
// looks again, so its success rides on the fetch that leases the next job (one
// transaction); a handler that works for a while finds the fetcher waiting in
// a fetch that came back empty (the queue's one slot was taken). Both are
// measured: `work_ms` 0 and more.
void Handoff(int work_ms) {
  const std::string key =
      work_ms == 0 ? "handoff_sequential" : "handoff_sequential_work" + std::to_string(work_ms) + "ms";
  const int jobs = work_ms == 0 ? g->handoff_jobs : g->handoff_work_jobs;
  std::vector<double> p50, p99, worst;
  FetchCounts last;
  for (int i = 0; i < g->runs; ++i) {
    const HandoffSample s = HandoffRun(work_ms, jobs);
    p50.push_back(s.p50_ms), p99.push_back(s.p99_ms), worst.push_back(s.max_ms), last = s.fetches;
    std::fprintf(stderr, "  %s run %d/%d: p50 %.3f ms, p99 %.3f ms, max %.3f ms (%s)\n", key.c_str(), i + 1, g->runs,
                 s.p50_ms, s.p99_ms, s.max_ms, Describe(s.fetches).c_str());
  }
  char note[320];
  std::snprintf(note, sizeof note,
                "%d jobs of %d ms, queue concurrency 1, %d slots, local poll %d ms; max %.1f ms; last run: %s", jobs,
                work_ms, g->handoff_slots, g->local_poll_ms, Median(worst), Describe(last).c_str());
  Report(key + "_p50", p50, "ms", Goal::AtMost(5), note);
  Report(key + "_p99", p99, "ms", Goal::AtMost(20), note);
}

// ---------------------------------------------------------------------------
// rate

struct RateSample {
  double starts = 0;        // in [first start, first start + window)
  double after_burst = 0;   // starts - burst
  double steady_per_s = 0;  // starts in [window/3, window) / (2/3 window): the refill alone
  double max_gap_ms = 0;    // the longest pause between two starts after the burst
  int clumps = 0;           // runs of starts less than 20 ms apart
  FetchCounts fetches;
};

RateSample RateRun() {
  TempDir dir("rate");
  PoolDb db(dir.path() / "bench.db");
  const std::string key = "rate-10";
  ResourceLimitsPatch patch;
  patch.rate = std::optional<Rate>(Check(ParseRate("10/s"), "parse rate"));
  const ResourceInfo info = Check(db.engine->SetResourceLimits(key, patch), "set rate 10/s");
  const double burst = info.limits.EffectiveBurst();
  const int jobs = 2 * (10 * g->rate_seconds + static_cast<int>(burst));  // never runs dry
  std::vector<EnqueueRequest> batch(static_cast<std::size_t>(jobs));
  for (auto& r : batch) {
    r.kind = "noop";
    r.queue = kBenchQueue;
    r.resource_key = key;
  }
  Check(db.engine->EnqueueMany(batch).status(), "enqueue");
  std::mutex mu;
  std::vector<SteadyClock::time_point> starts;  // GUARDED_BY(mu)
  starts.reserve(static_cast<std::size_t>(jobs));
  auto pool = StartPool(db, g->concurrency, [&](JobContext&) {
    const auto now = SteadyClock::now();
    std::lock_guard<std::mutex> lock(mu);
    starts.push_back(now);
  });
  const auto window = std::chrono::seconds(g->rate_seconds);
  if (!WaitUntil(
          [&] {
            std::lock_guard<std::mutex> lock(mu);
            return !starts.empty();
          },
          30s, 1ms)) {
    Fatal("rate: no job started within 30 s");
  }
  SteadyClock::time_point first;
  {
    std::lock_guard<std::mutex> lock(mu);
    first = starts.front();
  }
  std::this_thread::sleep_until(first + window + 1s);
  StopPool(db, *pool);
  RateSample out;
  std::lock_guard<std::mutex> lock(mu);
  std::int64_t steady = 0;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const auto t = starts[i];
    if (t - first >= window) continue;
    out.starts += 1;
    if (t - first >= window / 3) ++steady;
    const double gap_ms = i == 0 ? 1e9 : std::chrono::duration<double, std::milli>(t - starts[i - 1]).count();
    if (gap_ms >= 20) ++out.clumps;
    if (i >= static_cast<std::size_t>(burst) && gap_ms < 1e9) out.max_gap_ms = std::max(out.max_gap_ms, gap_ms);
  }
  out.after_burst = out.starts - burst;
  out.steady_per_s = static_cast<double>(steady) / (std::chrono::duration<double>(window).count() * 2 / 3);
  out.fetches = db.counting->counts();
  return out;
}

void RateFigure() {
  std::vector<double> raw, adjusted, steady, gaps, clumps;
  FetchCounts last;
  for (int i = 0; i < g->runs; ++i) {
    const RateSample s = RateRun();
    raw.push_back(s.starts), adjusted.push_back(s.after_burst), steady.push_back(s.steady_per_s), last = s.fetches;
    gaps.push_back(s.max_gap_ms), clumps.push_back(s.clumps);
    std::fprintf(stderr,
                 "  rate run %d/%d: %.0f starts in %d s (%.0f after the burst), steady %.2f/s, %d clumps, "
                 "longest gap %.0f ms (%s)\n",
                 i + 1, g->runs, s.starts, g->rate_seconds, s.after_burst, s.steady_per_s, s.clumps, s.max_gap_ms,
                 Describe(s.fetches).c_str());
  }
  const double want = 10.0 * g->rate_seconds;
  char note[320];
  std::snprintf(note, sizeof note,
                "rate 10/s, burst 10, %d slots, %d s from the first start, local poll %d ms; "
                "%.0f clumps, longest gap %.0f ms; last run: %s",
                g->concurrency, g->rate_seconds, g->local_poll_ms, Median(clumps), Median(gaps),
                Describe(last).c_str());
  Report("rate_10s_starts", raw, "starts", Goal::None(), note);
  Report("rate_10s_starts_after_burst", adjusted, "starts", Goal::Between(want * 0.97, want * 1.03),
         "the starts less the initial burst of 10");
  Report("rate_10s_steady", steady, "starts/s", Goal::None(), "starts in the last 2/3 of the window, per second");
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const Flags flags = FlagsOrUsage(
      argc, argv,
      "jobwarden_bench_flow [--scenarios flowheld,handoff,rate] [--runs 5] [--concurrency 8]\n"
      "  [--flowheld-jobs 100000] [--flowheld-layouts mixed,tail] [--handoff-jobs 500] [--handoff-slots 4]\n"
      "  [--handoff-work-ms 0,5] [--handoff-work-jobs 100] [--rate-seconds 30] [--local-poll-ms 500] [--bench-dir DIR] "
      "[--fixture-tag TAG]\n");
  Settings s;
  s.runs = flags.GetInt("runs", s.runs);
  s.concurrency = flags.GetInt("concurrency", s.concurrency);
  s.flowheld_jobs = std::clamp(flags.GetInt("flowheld-jobs", s.flowheld_jobs), 1, kFlowFreeJobs);
  s.handoff_jobs = std::max(1, flags.GetInt("handoff-jobs", s.handoff_jobs));
  s.handoff_slots = flags.GetInt("handoff-slots", s.handoff_slots);
  s.handoff_work_jobs = std::max(1, flags.GetInt("handoff-work-jobs", s.handoff_work_jobs));
  s.rate_seconds = std::max(3, flags.GetInt("rate-seconds", s.rate_seconds));
  s.local_poll_ms = std::max(1, flags.GetInt("local-poll-ms", s.local_poll_ms));
  if (auto list = flags.Get("handoff-work-ms")) {
    s.handoff_work_ms.clear();
    for (const std::string& ms : SplitList(*list)) s.handoff_work_ms.push_back(std::max(0, std::stoi(ms)));
  }
  s.bench_dir = flags.Get("bench-dir", DefaultBenchDir().string());
  s.fixture_tag = flags.Get("fixture-tag", s.fixture_tag);
  g = &s;

  for (const std::string& sc : SplitList(flags.Get("scenarios", "flowheld,handoff,rate"))) {
    if (sc == "flowheld") {
      for (const std::string& layout : SplitList(flags.Get("flowheld-layouts", "mixed,tail"))) FlowHeld(layout);
    } else if (sc == "handoff") {
      for (int work_ms : s.handoff_work_ms) Handoff(work_ms);
    } else if (sc == "rate") {
      RateFigure();
    } else {
      std::fprintf(stderr, "bench: unknown scenario '%s'\n", sc.c_str());
      return 2;
    }
  }
  return 0;
}
