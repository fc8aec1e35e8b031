// jobwarden_bench_engine: the engine-on-SQLite figures of issue 2.
//
//   bulk      bulk enqueue rate: EnqueueMany batches of 10,000 jobs, one thread
//   enqueue8  single enqueue rate: 8 threads calling Enqueue (group commit)
//   fetch     fetch+complete rate: 8 threads, Fetch of 16 then CompleteMany of those 16
//   fetchlat  latency of one Fetch of 16 (p50/p99), empty table vs million-row table
//   fsync     the disk's fdatasync latency (4 KiB writes) where the databases go: the
//             floor of every commit in `power` durability (8 callers -> <= 8 jobs per fsync)
//
// each in the durabilities of --durability and on the tables of --tables:
// `empty` (a fresh file) and `million` (a copy of the cached million-row
// fixture: 1M available jobs in other queues + 1M succeeded jobs in the bench
// queue; see bench_common.h). Every run starts from a fresh copy.
//
// Usage: jobwarden_bench_engine [--scenarios fsync,bulk,enqueue8,fetch,fetchlat]
//          [--durability process,power] [--tables empty,million] [--runs 5]
//          [--bench-dir DIR] [--fixture-tag TAG] [--seconds 2] [--bulk-jobs 200000]
//          [--fetch-jobs 64000] [--fetches 1000] [--threads 8]
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cstdio>
#include <thread>

#include "bench_common.h"

using namespace jobwarden;
using namespace jobwarden::bench;
namespace fs = std::filesystem;

namespace {

struct Settings {
  int runs = 5;
  int threads = 8;
  double seconds = 2.0;
  int bulk_jobs = 200'000;
  int fetch_jobs = 64'000;
  int fetches = 1000;
  fs::path bench_dir;
  std::string fixture_tag = "v1";
};

const Settings* g_settings = nullptr;

// One run of a throughput figure: the wall rate, and the process CPU time per job.
struct Sample {
  double rate = 0;
  double cpu_us_per_job = 0;
};

Sample Rate(double jobs, double wall_s, double cpu_s) { return {jobs / wall_s, cpu_s / jobs * 1e6}; }

// A database for one run: a fresh file, or a synced copy of the million-row fixture.
class RunDb {
 public:
  RunDb(const std::string& table, Durability durability) : dir_("engine") {
    const fs::path file = dir_.path() / "bench.db";
    if (table == "million") {
      CopySynced(MillionFixture(g_settings->bench_dir, g_settings->fixture_tag), file);
    } else if (table != "empty") {
      std::fprintf(stderr, "bench: unknown table '%s' (empty or million)\n", table.c_str());
      std::_Exit(2);
    }
    db_ = OpenDb(file, durability);
  }
  Engine& engine() { return *db_->engine; }

 private:
  TempDir dir_;
  std::unique_ptr<Db> db_;
};

// jobs/s of EnqueueMany batches of 10,000.
Sample BulkRun(const std::string& table, Durability d) {
  RunDb db(table, d);
  const double c0 = ProcessCpuSeconds();
  const auto t0 = SteadyClock::now();
  EnqueueBulk(db.engine(), g_settings->bulk_jobs);
  return Rate(g_settings->bulk_jobs, SecondsSince(t0), ProcessCpuSeconds() - c0);
}

// jobs/s of single Enqueue calls from N threads for a fixed time.
Sample Enqueue8Run(const std::string& table, Durability d) {
  RunDb db(table, d);
  const int n = g_settings->threads;
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> total{0};
  std::barrier start(n + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&] {
      EnqueueRequest r;
      r.kind = "noop";
      r.queue = kBenchQueue;
      start.arrive_and_wait();
      std::int64_t mine = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        Check(db.engine().Enqueue(r).status(), "enqueue");
        ++mine;
      }
      total += mine;
    });
  }
  const double c0 = ProcessCpuSeconds();
  start.arrive_and_wait();
  const auto t0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(g_settings->seconds));
  stop = true;
  for (auto& th : threads) th.join();
  return Rate(static_cast<double>(total.load()), SecondsSince(t0), ProcessCpuSeconds() - c0);
}

// jobs/s of N threads each looping Fetch(16) + CompleteMany(16) until the queue is empty.
Sample FetchRun(const std::string& table, Durability d) {
  RunDb db(table, d);
  EnqueueBulk(db.engine(), g_settings->fetch_jobs);
  const int n = g_settings->threads;
  std::atomic<std::int64_t> total{0};
  std::barrier start(n + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&] {
      FetchRequest f;
      f.queues = {kBenchQueue};
      f.max = 16;
      std::vector<CompleteRequest> done;
      start.arrive_and_wait();
      while (true) {
        std::vector<Job> jobs = Check(db.engine().Fetch(f), "fetch");
        if (jobs.empty()) break;
        done = CompletionsFor(jobs);
        for (const Status& s : Check(db.engine().CompleteMany(done), "complete")) Check(s, "complete item");
        total += static_cast<std::int64_t>(jobs.size());
      }
    });
  }
  const double c0 = ProcessCpuSeconds();
  start.arrive_and_wait();
  const auto t0 = SteadyClock::now();
  for (auto& th : threads) th.join();
  const double secs = SecondsSince(t0);
  const double cpu = ProcessCpuSeconds() - c0;
  if (total.load() != g_settings->fetch_jobs) {
    std::fprintf(stderr, "bench: fetch: completed %lld of %d jobs\n", static_cast<long long>(total.load()),
                 g_settings->fetch_jobs);
    std::_Exit(1);
  }
  return Rate(static_cast<double>(total.load()), secs, cpu);
}

struct Latency {
  double p50_ms = 0;
  double p99_ms = 0;
};

// Latency of one Fetch of 16 from one thread; each batch is completed off the clock.
Latency FetchLatRun(const std::string& table, Durability d) {
  RunDb db(table, d);
  const int fetches = g_settings->fetches;
  constexpr int kWarmup = 20;
  EnqueueBulk(db.engine(), 16 * (fetches + kWarmup + 4));
  FetchRequest f;
  f.queues = {kBenchQueue};
  f.max = 16;
  std::vector<double> ms;
  std::vector<CompleteRequest> done;
  for (int i = 0; i < fetches + kWarmup; ++i) {
    const auto t0 = SteadyClock::now();
    std::vector<Job> jobs = Check(db.engine().Fetch(f), "fetch");
    const double took = SecondsSince(t0) * 1e3;
    if (jobs.size() != 16) {
      std::fprintf(stderr, "bench: fetchlat: got %zu jobs\n", jobs.size());
      std::_Exit(1);
    }
    if (i >= kWarmup) ms.push_back(took);
    done = CompletionsFor(jobs);
    Check(db.engine().CompleteMany(done).status(), "complete");
  }
  return {Percentile(ms, 50), Percentile(ms, 99)};
}

// p50/p99 of fdatasync after a 4 KiB write, in ms, in a temp dir beside the databases.
std::vector<double> FsyncLatencies(int n) {
  TempDir dir("fsync");
  const fs::path file = dir.path() / "probe";
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    std::perror("bench: fsync probe");
    std::_Exit(1);
  }
  std::vector<char> page(4096, 'x');
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    if (pwrite(fd, page.data(), page.size(), static_cast<off_t>(i % 16) * 4096) != 4096) {
      std::perror("bench: fsync probe write");
      std::_Exit(1);
    }
    const auto t0 = SteadyClock::now();
    fdatasync(fd);
    ms.push_back(SecondsSince(t0) * 1e3);
  }
  close(fd);
  return ms;
}

std::string Key(const std::string& what, Durability d, const std::string& table) {
  return what + "." + std::string(ToString(d)) + (table.empty() ? "" : "." + table);
}

// Runs a throughput figure --runs times and reports it, with the median CPU cost per job as a note.
template <typename F>
void RateFigure(const std::string& key, Goal goal, const std::string& note, F&& run) {
  std::vector<double> rate, cpu;
  for (int i = 0; i < g_settings->runs; ++i) {
    const Sample s = run();
    rate.push_back(s.rate);
    cpu.push_back(s.cpu_us_per_job);
    std::fprintf(stderr, "  %s run %d/%d: %.0f jobs/s, %.1f us CPU/job\n", key.c_str(), i + 1, g_settings->runs, s.rate,
                 s.cpu_us_per_job);
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "cpu %.1f us/job", Median(cpu));
  Report(key, rate, "jobs/s", goal, (note.empty() ? "" : note + ", ") + buf);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  Flags flags(argc, argv);
  if (flags.Get("help")) {
    std::printf(
        "jobwarden_bench_engine [--scenarios fsync,bulk,enqueue8,fetch,fetchlat] [--durability process,power]\n"
        "  [--tables empty,million] [--runs 5] [--bench-dir DIR] [--fixture-tag TAG] [--seconds 2]\n"
        "  [--bulk-jobs 200000] [--fetch-jobs 64000] [--fetches 1000] [--threads 8]\n");
    return 0;
  }
  Settings s;
  s.runs = flags.GetInt("runs", s.runs);
  s.threads = flags.GetInt("threads", s.threads);
  s.seconds = flags.GetDouble("seconds", s.seconds);
  s.bulk_jobs = flags.GetInt("bulk-jobs", s.bulk_jobs);
  s.fetch_jobs = flags.GetInt("fetch-jobs", s.fetch_jobs);
  s.fetches = flags.GetInt("fetches", s.fetches);
  s.bench_dir = flags.Get("bench-dir", DefaultBenchDir().string());
  s.fixture_tag = flags.Get("fixture-tag", s.fixture_tag);
  g_settings = &s;
  const auto scenarios = SplitList(flags.Get("scenarios", "fsync,bulk,enqueue8,fetch,fetchlat"));
  const auto durabilities = ParseDurabilities(flags.Get("durability", "process,power"));
  const auto tables = SplitList(flags.Get("tables", "empty,million"));
  const std::string nt = std::to_string(s.threads) + "t";

  for (const std::string& sc : scenarios) {
    if (sc == "fsync") {
      std::vector<double> p50, p99;
      for (int i = 0; i < s.runs; ++i) {
        const auto ms = FsyncLatencies(200);
        p50.push_back(Percentile(ms, 50));
        p99.push_back(Percentile(ms, 99));
      }
      Report("disk_fdatasync_p50", p50, "ms", Goal::None(), "4 KiB write + fdatasync, 200 per run");
      Report("disk_fdatasync_p99", p99, "ms", Goal::None(), "4 KiB write + fdatasync, 200 per run");
      continue;
    }
    for (Durability d : durabilities) {
      const bool process = d == Durability::kProcess;
      if (sc == "bulk") {
        for (const auto& table : tables) {
          RateFigure(Key("bulk_enqueue_10k", d, table), process ? Goal::AtLeast(100'000) : Goal::None(),
                     std::to_string(s.bulk_jobs) + " jobs", [&] { return BulkRun(table, d); });
        }
      } else if (sc == "enqueue8") {
        for (const auto& table : tables) {
          RateFigure(Key("single_enqueue_" + nt, d, table), Goal::AtLeast(process ? 20'000 : 5'000), "",
                     [&] { return Enqueue8Run(table, d); });
        }
      } else if (sc == "fetch") {
        for (const auto& table : tables) {
          RateFigure(Key("fetch16_complete_" + nt, d, table), process ? Goal::AtLeast(30'000) : Goal::None(),
                     std::to_string(s.fetch_jobs) + " jobs", [&] { return FetchRun(table, d); });
        }
      } else if (sc == "fetchlat") {
        // Empty and million in the same run, so the growth ratio compares like with like.
        std::vector<double> p50[2], p99[2], g50, g99;
        for (int i = 0; i < s.runs; ++i) {
          const Latency e = FetchLatRun("empty", d);
          const Latency m = FetchLatRun("million", d);
          p50[0].push_back(e.p50_ms), p99[0].push_back(e.p99_ms);
          p50[1].push_back(m.p50_ms), p99[1].push_back(m.p99_ms);
          g50.push_back(m.p50_ms / e.p50_ms), g99.push_back(m.p99_ms / e.p99_ms);
          std::fprintf(stderr, "  fetchlat %s run %d/%d: empty p50 %.3f p99 %.3f ms, million p50 %.3f p99 %.3f ms\n",
                       std::string(ToString(d)).c_str(), i + 1, s.runs, e.p50_ms, e.p99_ms, m.p50_ms, m.p99_ms);
        }
        const std::string n = std::to_string(s.fetches) + " fetches";
        Report(Key("fetch16_latency_p50", d, "empty"), p50[0], "ms", Goal::None(), n);
        Report(Key("fetch16_latency_p50", d, "million"), p50[1], "ms", Goal::None(), n);
        Report(Key("fetch16_latency_p99", d, "empty"), p99[0], "ms", Goal::None(), n);
        Report(Key("fetch16_latency_p99", d, "million"), p99[1], "ms", Goal::None(), n);
        Report(Key("fetch16_latency_growth_p50", d, ""), g50, "x", process ? Goal::AtMost(2) : Goal::None(),
               "million/empty");
        Report(Key("fetch16_latency_growth_p99", d, ""), g99, "x", process ? Goal::AtMost(2) : Goal::None(),
               "million/empty");
      } else {
        std::fprintf(stderr, "bench: unknown scenario '%s'\n", sc.c_str());
        return 2;
      }
    }
  }
  return 0;
}
