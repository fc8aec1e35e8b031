#include "bench_common.h"

#include <fcntl.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>

extern char** environ;

namespace jobwarden::bench {

namespace fs = std::filesystem;

namespace {

bool KeepTempDirs() {
  const char* keep = std::getenv("JOBWARDEN_BENCH_KEEP");
  return keep != nullptr && std::string(keep) == "1";
}

// Live TempDirs, for Fatal (which skips destructors).
std::mutex temp_dirs_mu;
std::vector<fs::path> temp_dirs;  // GUARDED_BY(temp_dirs_mu)

// Live children. Fixed slots of atomics: the signal handler reads them.
std::array<std::atomic<pid_t>, 64> children{};

void KillChildren() {
  for (auto& slot : children) {
    const pid_t pid = slot.exchange(0);
    if (pid <= 0) continue;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
}

extern "C" void OnStopSignal(int sig) {
  KillChildren();  // kill, waitpid: async-signal-safe
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void Fatal(const std::string& message) {
  std::fprintf(stderr, "bench: %s\n", message.c_str());
  std::fflush(stderr);
  KillChildren();
  if (!KeepTempDirs()) {
    std::lock_guard<std::mutex> lock(temp_dirs_mu);
    std::error_code ec;
    for (const fs::path& p : temp_dirs) fs::remove_all(p, ec);
  }
  std::_Exit(1);
}

void Check(const Status& s, const char* what) {
  if (s.ok()) return;
  Fatal(std::string(what) + ": " + s.ToString());
}

TempDir::TempDir(const std::string& tag) {
  const char* base = std::getenv("JOBWARDEN_BENCH_TMP");
  fs::path root = base != nullptr && *base != '\0' ? fs::path(base) : fs::temp_directory_path();
  std::string templ = (root / ("jobwarden-bench-" + tag + "-XXXXXX")).string();
  if (mkdtemp(templ.data()) == nullptr) {
    std::perror("bench: mkdtemp");
    std::_Exit(1);
  }
  path_ = templ;
  std::lock_guard<std::mutex> lock(temp_dirs_mu);
  temp_dirs.push_back(path_);
}

TempDir::~TempDir() {
  {
    std::lock_guard<std::mutex> lock(temp_dirs_mu);
    temp_dirs.erase(std::remove(temp_dirs.begin(), temp_dirs.end(), path_), temp_dirs.end());
  }
  if (KeepTempDirs()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::unique_ptr<Db> OpenDb(const fs::path& file, Durability durability) {
  auto db = std::make_unique<Db>();
  SqliteStoreOptions o;
  o.path = file.string();
  o.durability = durability;
  db->store = Check(OpenSqliteStore(o), "open store");
  db->engine = std::make_unique<Engine>(*db->store, db->clock);
  return db;
}

void EnqueueBulk(Engine& engine, int n, const std::string& kind, const std::string& queue) {
  std::vector<EnqueueRequest> batch;
  for (int done = 0; done < n;) {
    const int k = std::min(kMaxBulkJobs, n - done);
    batch.assign(static_cast<std::size_t>(k), EnqueueRequest{});
    for (auto& r : batch) {
      r.kind = kind;
      r.queue = queue;
    }
    Check(engine.EnqueueMany(batch).status(), "bulk enqueue");
    done += k;
  }
}

std::vector<CompleteRequest> CompletionsFor(const std::vector<Job>& jobs) {
  std::vector<CompleteRequest> out(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    out[i].id = jobs[i].id;
    out[i].token = jobs[i].lease_token;
  }
  return out;
}

fs::path DefaultBenchDir() {
  if (const char* d = std::getenv("BENCH_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') return fs::path(x) / "jobwarden-bench";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0')
    return fs::path(h) / ".cache" / "jobwarden-bench";
  return fs::temp_directory_path() / "jobwarden-bench";
}

namespace {

void SqliteExec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::fprintf(stderr, "bench: fixture: %s: %s\n", sql, err != nullptr ? err : "?");
    sqlite3_free(err);
    std::_Exit(1);
  }
}

constexpr int kMillion = 1'000'000;

// A fixture database cached in `bench_dir` as `name`: built once by `fill`
// (which opens the store on the path it is given), then `finish_sql` (may be
// null) run on it directly and the WAL folded into the file, so that a copy of
// the file alone is the whole database.
fs::path CachedFixture(const fs::path& bench_dir, const std::string& name, const char* what,
                       const std::function<void(const fs::path&)>& fill, const char* finish_sql) {
  fs::create_directories(bench_dir);
  const fs::path file = bench_dir / name;
  if (fs::exists(file)) return file;

  std::fprintf(stderr, "bench: building the %s fixture %s (once)...\n", what, file.c_str());
  const auto t0 = SteadyClock::now();
  const fs::path building = file.string() + ".building";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(building.string() + suffix);
  fill(building);
  {
    sqlite3* db = nullptr;
    if (sqlite3_open(building.c_str(), &db) != SQLITE_OK) Fatal("fixture: cannot open " + building.string());
    SqliteExec(db, "PRAGMA journal_mode = WAL");
    if (finish_sql != nullptr) SqliteExec(db, finish_sql);
    SqliteExec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
  }
  for (const char* suffix : {"-wal", "-shm"}) fs::remove(building.string() + suffix);
  fs::rename(building, file);
  std::fprintf(stderr, "bench: fixture built in %.1f s (%.0f MB)\n", SecondsSince(t0),
               static_cast<double>(fs::file_size(file)) / 1e6);
  return file;
}

}  // namespace

fs::path MillionFixture(const fs::path& bench_dir, const std::string& tag) {
  return CachedFixture(
      bench_dir, "million-" + tag + ".db", "million-row",
      [](const fs::path& building) {
        auto db = OpenDb(building, Durability::kProcess);
        // 1,000,000 available jobs in 4 other queues.
        for (int q = 0; q < 4; ++q) EnqueueBulk(*db->engine, kMillion / 4, "filler", "other-" + std::to_string(q));
        // 1,000,000 jobs in the bench queue, marked finished below.
        EnqueueBulk(*db->engine, kMillion, "history", kBenchQueue);
      },
      // The store has no API to insert finished jobs (by design): flip the
      // history rows to succeeded directly, as fetch + complete would have left them.
      "UPDATE jobs SET state = 'succeeded', attempt = 1, lease_token = 1, started_at = created_at, "
      "heartbeat_at = created_at, finished_at = created_at + 5, result = 'null', worker_id = 'fixture' "
      "WHERE kind = 'history' AND state = 'available'");
}

std::string HeldKey(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "held-%02d", i);
  return buf;
}

fs::path FlowHeldFixture(const fs::path& bench_dir, const std::string& tag, const std::string& layout) {
  if (layout != "mixed" && layout != "tail") Fatal("flowheld layout '" + layout + "': mixed or tail");
  return CachedFixture(
      bench_dir, "flowheld-" + layout + "-" + tag + ".db", "flow-control",
      [&](const fs::path& building) {
        auto db = OpenDb(building, Durability::kProcess);
        std::vector<EnqueueRequest> batch;
        int held = 0;  // held jobs so far: the next one's key is HeldKey(held % 99)
        for (int done = 0; done < kFlowHeldJobs;) {
          const int k = std::min(kMaxBulkJobs, kFlowHeldJobs - done);
          batch.assign(static_cast<std::size_t>(k), EnqueueRequest{});
          for (int j = 0; j < k; ++j) {
            const int i = done + j;
            const bool free = layout == "mixed" ? i % 10 == 9 : i >= kFlowHeldJobs - kFlowFreeJobs;
            EnqueueRequest& r = batch[static_cast<std::size_t>(j)];
            r.kind = "noop";
            r.queue = kBenchQueue;
            r.resource_key = free ? std::string(kFreeKey) : HeldKey(held++ % kFlowHeldKeys);
          }
          Check(db->engine->EnqueueMany(batch).status(), "fixture bulk enqueue");
          done += k;
        }
      },
      nullptr);
}

void OpenHeldBreakers(Engine& engine) {
  const std::string queue = "flowheld-open";
  ResourceLimitsPatch patch;
  patch.breaker_failures = std::optional<int>(1);
  patch.breaker_cooldown = std::optional<Duration>(std::chrono::hours(1));
  std::vector<EnqueueRequest> openers(kFlowHeldKeys);
  for (int i = 0; i < kFlowHeldKeys; ++i) {
    Check(engine.SetResourceLimits(HeldKey(i), patch).status(), "set breaker limits");
    openers[static_cast<std::size_t>(i)].kind = "opener";
    openers[static_cast<std::size_t>(i)].queue = queue;
    openers[static_cast<std::size_t>(i)].resource_key = HeldKey(i);
    openers[static_cast<std::size_t>(i)].max_attempts = 1;
  }
  Check(engine.EnqueueMany(openers).status(), "enqueue the breaker openers");
  FetchRequest f;
  f.queues = {queue};
  f.max = kFlowHeldKeys;
  f.worker_id = "flowheld-opener";
  const std::vector<Job> leased = Check(engine.Fetch(f), "fetch the breaker openers");
  if (static_cast<int>(leased.size()) != kFlowHeldKeys) {
    Fatal("fetched " + std::to_string(leased.size()) + " breaker openers, not " + std::to_string(kFlowHeldKeys));
  }
  // The engine logs each failure at warn; 99 expected lines per run would bury the figures.
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::err);
  for (const Job& job : leased) {
    FailRequest r;
    r.id = job.id;
    r.token = job.lease_token;
    r.failure.error_class = ErrorClass::kTransient;
    r.failure.message = "bench: the service is down";
    Check(engine.Fail(r), "fail a breaker opener");
  }
  spdlog::set_level(level);
  for (int i = 0; i < kFlowHeldKeys; ++i) {
    const ResourceInfo info = Check(engine.Resource(HeldKey(i)), "read a held resource");
    if (info.breaker.state != BreakerState::kOpen) {
      Fatal("the breaker of " + HeldKey(i) + " is " + std::string(ToString(info.breaker.state)) + ", not open");
    }
  }
}

void CopySynced(const fs::path& from, const fs::path& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  const int fd = open(to.c_str(), O_RDONLY);
  if (fd < 0 || fsync(fd) != 0) {
    std::perror("bench: fsync copy");
    std::_Exit(1);
  }
  close(fd);
}

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 50); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  // Nearest rank.
  const double rank = std::ceil(p / 100.0 * static_cast<double>(v.size()));
  const std::size_t i = rank < 1 ? 0 : static_cast<std::size_t>(rank) - 1;
  return v[std::min(i, v.size() - 1)];
}

void Report(const std::string& key, const std::vector<double>& samples, const std::string& unit, Goal goal,
            const std::string& note) {
  const double med = Median(samples);
  const double lo = samples.empty() ? std::nan("") : *std::min_element(samples.begin(), samples.end());
  const double hi = samples.empty() ? std::nan("") : *std::max_element(samples.begin(), samples.end());
  std::string goal_text = "-";
  std::string verdict = "-";
  char buf[64];
  switch (goal.kind) {
    case Goal::Kind::kNone: break;
    case Goal::Kind::kAtLeast:
      std::snprintf(buf, sizeof buf, ">=%g", goal.value);
      goal_text = buf;
      verdict = med >= goal.value ? "met" : "MISSED";
      break;
    case Goal::Kind::kAtMost:
      std::snprintf(buf, sizeof buf, "<=%g", goal.value);
      goal_text = buf;
      verdict = med <= goal.value ? "met" : "MISSED";
      break;
    case Goal::Kind::kBetween:
      std::snprintf(buf, sizeof buf, "%g..%g", goal.value, goal.high);
      goal_text = buf;
      verdict = med >= goal.value && med <= goal.high ? "met" : "MISSED";
      break;
  }
  std::printf("RESULT\t%s\t%.6g\t%.6g\t%.6g\t%s\t%zu\t%s\t%s\t%s\n", key.c_str(), med, lo, hi, unit.c_str(),
              samples.size(), goal_text.c_str(), verdict.c_str(), note.empty() ? "-" : note.c_str());
  std::fflush(stdout);
}

Flags::Flags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      positional_.push_back(a);
      continue;
    }
    a = a.substr(2);
    if (auto eq = a.find('='); eq != std::string::npos) {
      flags_.emplace_back(a.substr(0, eq), a.substr(eq + 1));
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      flags_.emplace_back(a, argv[++i]);
    } else {
      flags_.emplace_back(a, "1");
    }
  }
}

std::optional<std::string> Flags::Get(const std::string& name) const {
  std::optional<std::string> v;
  for (const auto& [k, val] : flags_) {
    if (k == name) v = val;
  }
  return v;
}

std::string Flags::Get(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

int Flags::GetInt(const std::string& name, int fallback) const {
  auto v = Get(name);
  return v ? std::stoi(*v) : fallback;
}

double Flags::GetDouble(const std::string& name, double fallback) const {
  auto v = Get(name);
  return v ? std::stod(*v) : fallback;
}

void Skip(const std::string& key, const std::string& why) {
  std::printf("SKIP\t%s\t%s\n", key.c_str(), why.c_str());
  std::fflush(stdout);
}

pid_t Spawn(const std::vector<std::string>& args, const fs::path& log) {
  static std::once_flag handlers;
  std::call_once(handlers, [] {
    std::signal(SIGINT, OnStopSignal);
    std::signal(SIGTERM, OnStopSignal);
  });
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Fatal("spawn " + args[0] + ": " + std::strerror(rc));
  for (auto& slot : children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return pid;
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  Fatal("more than 64 child processes at once");
}

namespace {
void Forget(pid_t pid) {
  for (auto& slot : children) {
    pid_t mine = pid;
    slot.compare_exchange_strong(mine, 0);
  }
}
}  // namespace

void KillAndReap(pid_t pid) {
  if (pid <= 0) return;
  Forget(pid);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

bool ChildExited(pid_t pid) {
  if (pid <= 0) return true;
  if (waitpid(pid, nullptr, WNOHANG) != pid) return false;
  Forget(pid);
  return true;
}

int Reap(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  Forget(pid);
  return status;
}

std::string Tail(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

std::string DefaultJobwarden(const char* argv0) {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) self = argv0;
  return (self.parent_path().parent_path() / "src" / "cli" / "jobwarden").string();
}

Flags FlagsOrUsage(int argc, char** argv, const char* usage) {
  Flags flags(argc, argv);
  if (flags.Get("help")) {
    std::fputs(usage, stdout);
    std::exit(0);
  }
  return flags;
}

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = list.find(',', start);
    const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<Durability> ParseDurabilities(const std::string& list) {
  std::vector<Durability> out;
  for (const std::string& s : SplitList(list)) {
    auto d = ParseDurability(s);
    if (!d) {
      std::fprintf(stderr, "bench: unknown durability '%s' (process or power)\n", s.c_str());
      std::_Exit(2);
    }
    out.push_back(*d);
  }
  return out;
}

}  // namespace jobwarden::bench
