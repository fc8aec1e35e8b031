// Shared helpers of the benchmark drivers (docs/benchmarks.md).
//
// Every figure is taken on a real SQLite file in a fresh temporary directory,
// through the public engine/store/worker APIs. A driver runs each scenario
// `--runs` times, each run on a fresh database, and prints one RESULT line per
// figure (tab-separated, parsed by scripts/bench.sh):
//
//   RESULT <key> <median> <min> <max> <unit> <runs> <goal> <verdict> <note>
//
// <goal> is e.g. ">=100000", "<=1.0" or "291..309" ("-" when the figure has none);
// <verdict> is met, MISSED or "-".
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "core/clock.h"
#include "engine/engine.h"
#include "store/sqlite/sqlite_store.h"

namespace jobwarden::bench {

using SteadyClock = std::chrono::steady_clock;

inline double SecondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// Prints "bench: <message>", kills and reaps every child started by Spawn,
// removes every live TempDir (unless JOBWARDEN_BENCH_KEEP=1) and exits 1.
[[noreturn]] void Fatal(const std::string& message);

// Fatal when `s` is not OK (a benchmark has no business going on after a
// failed operation).
void Check(const Status& s, const char* what);
template <typename T>
T Check(Result<T> r, const char* what) {
  Check(r.status(), what);
  return std::move(r).value();
}

// A fresh temporary directory, removed on destruction or by Fatal (unless JOBWARDEN_BENCH_KEEP=1).
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

// The flow-control fixture (issue 13): 1,000,000 available no-op jobs in
// kBenchQueue, 90% of them spread round-robin over the 99 keys HeldKey(0..98)
// and 10% with kFreeKey. `layout` is "mixed" (every 10th job is free, the
// rest held, in id order) or "tail" (the 900,000 held jobs first, then the
// 100,000 free: the whole head of the queue is held). No resource has
// settings in the file; OpenHeldBreakers gives the held keys theirs. Built
// once (EnqueueMany of kMaxBulkJobs) and cached as
// `<bench_dir>/flowheld-<layout>-<tag>.db`.
inline constexpr int kFlowHeldKeys = 99;
inline constexpr int kFlowHeldJobs = 1'000'000;
inline constexpr int kFlowFreeJobs = kFlowHeldJobs / 10;
inline constexpr const char* kFreeKey = "free";
std::string HeldKey(int i);  // "held-00" ... "held-98"
std::filesystem::path FlowHeldFixture(const std::filesystem::path& bench_dir, const std::string& tag,
                                      const std::string& layout);

// Opens the breaker of every HeldKey through the public API, as a failing
// service would: breaker_failures = 1 with a 1 h cooldown on each key, then
// one job of each key (queue `flowheld-open`, max_attempts 1) fetched and
// failed with class transient. Fatal unless every breaker then reads open.
void OpenHeldBreakers(Engine& engine);

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
  enum class Kind { kNone, kAtLeast, kAtMost, kBetween } kind = Kind::kNone;
  double value = 0;
  double high = 0;  // kBetween: [value, high]
  static Goal None() { return {}; }
  static Goal AtLeast(double v) { return {Kind::kAtLeast, v}; }
  static Goal AtMost(double v) { return {Kind::kAtMost, v}; }
  static Goal Between(double lo, double hi) { return {Kind::kBetween, lo, hi}; }
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

// Prints the SKIP line of a figure that could not be measured (scripts/bench.sh shows why).
void Skip(const std::string& key, const std::string& why);

// Calls `run` `runs` times, printing each value on stderr; the values, for Report.
template <typename F>
std::vector<double> Runs(const std::string& label, int runs, F&& run) {
  std::vector<double> out;
  for (int i = 0; i < runs; ++i) {
    out.push_back(run());
    std::fprintf(stderr, "  %s run %d/%d: %.6g\n", label.c_str(), i + 1, runs, out.back());
  }
  return out;
}

// Polls `pred` every `every` until it holds or `timeout` passed; its last answer.
template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds timeout,
               std::chrono::milliseconds every = std::chrono::milliseconds(2)) {
  const auto give_up = SteadyClock::now() + timeout;
  while (SteadyClock::now() < give_up) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

// Child processes (real `jobwarden` binaries). Spawn starts `args` (args[0] a
// path) with stdin /dev/null and stdout and stderr appended to `log`, and
// remembers the child until KillAndReap: Fatal, SIGINT and SIGTERM kill and
// reap every remembered child before the driver exits, so none outlives it.
pid_t Spawn(const std::vector<std::string>& args, const std::filesystem::path& log);
// SIGKILL and waitpid; a no-op for pid <= 0.
void KillAndReap(pid_t pid);
// Waits for a child of Spawn to exit by itself; its wait status.
int Reap(pid_t pid);
// Whether a child of Spawn has exited (it is then reaped); does not wait.
bool ChildExited(pid_t pid);
// The last 2,000 characters of a (log) file.
std::string Tail(const std::filesystem::path& file);
// The jobwarden binary of the build this driver belongs to:
// <build>/bench/<driver> -> <build>/src/cli/jobwarden.
std::string DefaultJobwarden(const char* argv0);

// The driver's flags; with --help, prints `usage` and exits 0.
Flags FlagsOrUsage(int argc, char** argv, const char* usage);

// "process,power" -> {kProcess, kPower}.
std::vector<Durability> ParseDurabilities(const std::string& list);
// "a,b" -> {"a","b"}.
std::vector<std::string> SplitList(const std::string& list);

}  // namespace jobwarden::bench
