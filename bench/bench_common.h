// Shared helpers of the benchmark drivers (docs/benchmarks.md).
//
// Every figure is taken on a real SQLite file in a fresh temporary directory,
// through the public engine/store/worker APIs. A driver runs each scenario
// `--runs` times, each run on a fresh database, and prints one RESULT line per
// figure (tab-separated, parsed by scripts/bench.sh):
//
//   RESULT <key> <median> <min> <max> <unit> <runs> <goal> <verdict> <note>
//
// <goal> is e.g. ">=100000" or "<=1.0" ("-" when the figure has none);
// <verdict> is met, MISSED or "-".
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "engine/engine.h"
#include "store/sqlite/sqlite_store.h"

namespace jobwarden::bench {

using SteadyClock = std::chrono::steady_clock;

inline double SecondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// Exits the process with a message when `s` is not OK (a benchmark has no
// business going on after a failed operation).
void Check(const Status& s, const char* what);
template <typename T>
T Check(Result<T> r, const char* what) {
  Check(r.status(), what);
  return std::move(r).value();
}

// A fresh temporary directory, removed on destruction (unless JOBWARDEN_BENCH_KEEP=1).
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// An open store and engine over one database file.
struct Db {
  std::unique_ptr<Store> store;
  SystemClock clock;
  std::unique_ptr<Engine> engine;
};
std::unique_ptr<Db> OpenDb(const std::filesystem::path& file, Durability durability);

// The queue every measured job goes to. The million-row fixture keeps its
// available jobs in other queues and its finished jobs in this one.
inline constexpr const char* kBenchQueue = "bench";

// `n` no-op jobs of `kind` in kBenchQueue, by EnqueueMany batches of 10,000.
void EnqueueBulk(Engine& engine, int n, const std::string& kind = "noop", const std::string& queue = kBenchQueue);

// One CompleteRequest (no result) per leased job.
std::vector<CompleteRequest> CompletionsFor(const std::vector<Job>& jobs);

// Where the million-row fixture lives: $BENCH_DIR, else $XDG_CACHE_HOME/jobwarden-bench,
// else ~/.cache/jobwarden-bench.
std::filesystem::path DefaultBenchDir();

// The million-row table: 1,000,000 available jobs spread over 4 other queues
// and 1,000,000 succeeded jobs in kBenchQueue. Built once (bulk inserts through
// the engine, then one UPDATE marking the history finished) and cached as
// `<bench_dir>/million-<tag>.db`; `tag` should change with the schema
// (scripts/bench.sh passes a hash of the migrations).
std::filesystem::path MillionFixture(const std::filesystem::path& bench_dir, const std::string& tag);

// Copies `from` to `to` and syncs the copy, so no write-back of the copy
// disturbs the measurement that follows.
void CopySynced(const std::filesystem::path& from, const std::filesystem::path& to);

// CPU time (user + system, every thread) this process used so far, in seconds.
// Divided by the work done, it is a load-independent companion to the wall rates:
// on a busy machine the wall rate falls while the CPU cost per job does not.
double ProcessCpuSeconds();

// Statistics over the runs of one figure.
double Median(std::vector<double> v);
double Percentile(std::vector<double> v, double p);  // p in [0, 100]

struct Goal {
  enum class Kind { kNone, kAtLeast, kAtMost } kind = Kind::kNone;
  double value = 0;
  static Goal None() { return {}; }
  static Goal AtLeast(double v) { return {Kind::kAtLeast, v}; }
  static Goal AtMost(double v) { return {Kind::kAtMost, v}; }
};

// Prints the RESULT line of one figure over `samples` (one per run).
void Report(const std::string& key, const std::vector<double>& samples, const std::string& unit, Goal goal,
            const std::string& note = "");

// Minimal flag parsing: --name=value or --name value.
class Flags {
 public:
  Flags(int argc, char** argv);
  std::optional<std::string> Get(const std::string& name) const;
  std::string Get(const std::string& name, const std::string& fallback) const;
  int GetInt(const std::string& name, int fallback) const;
  double GetDouble(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::vector<std::pair<std::string, std::string>> flags_;
  std::vector<std::string> positional_;
};

// "process,power" -> {kProcess, kPower}.
std::vector<Durability> ParseDurabilities(const std::string& list);
// "a,b" -> {"a","b"}.
std::vector<std::string> SplitList(const std::string& list);

}  // namespace jobwarden::bench
