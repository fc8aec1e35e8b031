// jobwarden_bench_worker: the worker-runtime figures of issue 3.
//
//   pool      no-op in-process jobs through a WorkerPool (embedded SQLite, process
//             durability): --pool-jobs jobs enqueued first, time until all succeeded
//   command   no-op command handler (/bin/true) jobs through the pool, the per-job
//             overhead against the in-process no-op, and the spawn round trip of
//             one /bin/true through the subprocess supervisor
//   failover  time from the loss of a worker process to its job running again on
//             another worker (real `jobwarden worker` processes): kill -9 (default
//             settings), SIGSTOP with the default lease TTL, SIGSTOP with TTL 1 s
//
// Usage: jobwarden_bench_worker [--scenarios pool,command,failover] [--runs 5]
//          [--concurrency 8] [--pool-jobs 50000] [--cmd-jobs 2000] [--spawns 300]
//          [--failover kill,stop,stop-ttl1] [--stop-runs 3] [--jobwarden PATH]
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "app/local_backend.h"
#include "bench_common.h"
#include "engine/reaper.h"
#include "worker/worker_pool.h"
#ifdef JOBWARDEN_BENCH_HAVE_SUBPROCESS
#include "worker/command_runner.h"
#include "worker/subprocess.h"
#endif

using namespace std::chrono_literals;
using namespace jobwarden;
using namespace jobwarden::bench;
namespace fs = std::filesystem;

namespace {

struct Settings {
  int runs = 5;
  int stop_runs = 3;  // SIGSTOP with the default TTL takes ~10 s a run
  int concurrency = 8;
  int pool_jobs = 50'000;
  int cmd_jobs = 2'000;
  int spawns = 300;
  std::string jobwarden;
};
const Settings* g = nullptr;

// ---------------------------------------------------------------------------
// pool / command: an embedded pool on a fresh file, jobs enqueued before it starts.

using Setup = std::function<void(WorkerPool&)>;

struct Sample {
  double rate = 0;            // jobs/s
  double cpu_us_per_job = 0;  // process CPU time (every thread) per job
};

// jobs/s from pool start until `jobs` jobs of `kind` succeeded.
Sample PoolRun(int jobs, const std::string& kind, const Setup& setup) {
  TempDir dir("pool");
  auto db = OpenDb(dir.path() / "bench.db", Durability::kProcess);
  LocalBackend backend(*db->engine);  // before the engine is shared
  Reaper reaper(*db->engine, DefaultReaperTick(10s));
  EnqueueBulk(*db->engine, jobs, kind);
  reaper.Start();
  WorkerOptions o;
  o.queues = {kBenchQueue};
  o.concurrency = g->concurrency;
  WorkerPool pool(backend, o);
  setup(pool);
  const double c0 = ProcessCpuSeconds();
  const auto t0 = SteadyClock::now();
  Check(pool.Start(), "start pool");
  while (true) {
    const WorkerStats st = pool.stats();
    if (st.succeeded >= jobs) break;
    if (st.failed > 0 || st.lost > 0) {
      std::fprintf(stderr, "bench: pool: %lld failed, %lld lost\n", static_cast<long long>(st.failed),
                   static_cast<long long>(st.lost));
      std::_Exit(1);
    }
    std::this_thread::sleep_for(1ms);
  }
  const double secs = SecondsSince(t0);
  const double cpu = ProcessCpuSeconds() - c0;
  pool.Drain();
  pool.Wait();
  reaper.Stop();
  return {jobs / secs, cpu / jobs * 1e6};
}

Sample NoopPoolRun(int jobs) {
  return PoolRun(jobs, "noop", [](WorkerPool& pool) { pool.Handle("noop", [](JobContext&) {}); });
}

#ifdef JOBWARDEN_BENCH_HAVE_SUBPROCESS
Sample TruePoolRun(SubprocessSupervisor& sup, int jobs) {
  CommandKind kind;
  kind.command = {"/bin/true"};
  auto runner = std::make_shared<CommandRunner>(sup, kind);
  return PoolRun(jobs, "true", [&](WorkerPool& pool) { pool.HandleWith("true", runner); });
}

// ms from Start to the end of Wait of one /bin/true, sequentially.
std::vector<double> SpawnLatencies(SubprocessSupervisor& sup, int n) {
  CommandSpec spec;
  spec.argv = {"/bin/true"};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.stdin_data = "{}";
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    const auto t0 = SteadyClock::now();
    auto p = Check(sup.Start(spec, [](const ControlMessage&) {}), "spawn");
    const ExitInfo e = p->Wait();
    ms.push_back(SecondsSince(t0) * 1e3);
    if (e.signaled || e.exit_code != 0) {
      std::fprintf(stderr, "bench: /bin/true failed\n");
      std::_Exit(1);
    }
  }
  return ms;
}
#endif

// ---------------------------------------------------------------------------
// failover: real worker processes.

bool WorkerCliAvailable(const std::string& jobwarden, std::string* why) {
  if (jobwarden.empty() || access(jobwarden.c_str(), X_OK) != 0) {
    *why = "no jobwarden binary at '" + jobwarden + "'";
    return false;
  }
  TempDir dir("probe");
  const pid_t pid = Spawn({jobwarden, "worker", "--help"}, dir.path() / "help.log");
  const int status = Reap(pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *why = "`jobwarden worker --help` fails (the worker command has not landed)";
    return false;
  }
  return true;
}

struct FailoverMode {
  std::string name;     // kill, stop, stop-ttl1
  bool freeze = false;  // SIGSTOP instead of SIGKILL
  std::string ttl;      // "" = default (10s)
  std::string grace;    // "" = default
  double goal_s = 0;
  double ttl_s = 10;  // the lease TTL in effect
};

// Seconds from the signal to the job's new attempt starting on the other worker.
double FailoverRun(const FailoverMode& m) {
  TempDir dir("failover");
  const fs::path dbfile = dir.path() / "jobwarden.db";
  const fs::path config = dir.path() / "worker.toml";
  {
    std::ofstream c(config);
    c << "[worker]\nconcurrency = 1\n";
    if (!m.ttl.empty()) c << "lease_ttl = \"" << m.ttl << "\"\n";
    if (!m.grace.empty()) c << "grace = \"" << m.grace << "\"\n";
    c << "[kinds.hold]\ncommand = [\"/bin/sleep\", \"600\"]\ntimeout = \"10m\"\nmax_attempts = 5\n";
  }
  auto db = OpenDb(dbfile, Durability::kProcess);  // no reaper here: the workers' reapers do the work
  EnqueueRequest r;
  r.kind = "hold";
  const JobId id = Check(db->engine->Enqueue(r), "enqueue").job.id;
  const std::vector<std::string> args = {g->jobwarden, "worker", "--db", dbfile.string(), "--config", config.string()};

  pid_t a = Spawn(args, dir.path() / "worker-a.log");
  Job job;
  auto fail = [&](const std::string& what) {
    Fatal("failover " + m.name + ": " + what + "\n--- worker-a.log\n" + Tail(dir.path() / "worker-a.log") +
          "\n--- worker-b.log\n" + Tail(dir.path() / "worker-b.log"));
  };
  if (!WaitUntil(
          [&] {
            job = Check(db->engine->Get(id), "get");
            return job.state == JobState::kRunning;
          },
          30s, 5ms)) {
    KillAndReap(a);
    fail("worker A never started the job");
  }
  const std::string a_id = job.worker_id.value_or("");
  pid_t b = Spawn(args, dir.path() / "worker-b.log");
  if (!WaitUntil([&] { return Check(db->engine->Workers(), "workers").size() >= 2; }, 30s, 5ms)) {
    KillAndReap(a), KillAndReap(b);
    fail("worker B never registered");
  }
  // B is in its fetch loop. Then a random delay, so the signal falls at a random
  // point of A's heartbeat cycle (TTL/3) and of B's reaper tick (<= 1 s): the
  // figure is the typical case, not one lucky or unlucky phase.
  std::this_thread::sleep_for(500ms);
  {
    static std::mt19937 rng{std::random_device{}()};
    const double cycle_s = std::max(1.0, m.ttl_s / 3.0);
    std::this_thread::sleep_for(std::chrono::duration<double>(std::uniform_real_distribution<>(0, cycle_s)(rng)));
  }

  const auto t0_wall = std::chrono::system_clock::now();
  const auto t0 = SteadyClock::now();
  if (m.freeze) {
    kill(a, SIGSTOP);
  } else {
    KillAndReap(a);  // reaped at once, as a supervisor would: no zombie left to look alive
    a = -1;
  }
  const bool moved = WaitUntil(
      [&] {
        job = Check(db->engine->Get(id), "get");
        return job.state == JobState::kRunning && job.worker_id.value_or("") != a_id;
      },
      60s, 2ms);
  const double observed = SecondsSince(t0);
  KillAndReap(a);
  KillAndReap(b);
  if (!moved) fail("the job did not move to worker B within 60 s");
  // started_at of the new attempt (ms, wall clock) is more precise than the poll.
  const double started = std::chrono::duration<double>(*job.started_at - t0_wall).count();
  return started > 0 && started <= observed ? started : observed;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  Flags flags(argc, argv);
  if (flags.Get("help")) {
    std::printf(
        "jobwarden_bench_worker [--scenarios pool,command,failover] [--runs 5] [--concurrency 8]\n"
        "  [--pool-jobs 50000] [--cmd-jobs 2000] [--spawns 300] [--failover kill,stop,stop-ttl1]\n"
        "  [--stop-runs 3] [--jobwarden PATH]\n");
    return 0;
  }
  Settings s;
  s.runs = flags.GetInt("runs", s.runs);
  s.stop_runs = flags.GetInt("stop-runs", s.stop_runs);
  s.concurrency = flags.GetInt("concurrency", s.concurrency);
  s.pool_jobs = flags.GetInt("pool-jobs", s.pool_jobs);
  s.cmd_jobs = flags.GetInt("cmd-jobs", s.cmd_jobs);
  s.spawns = flags.GetInt("spawns", s.spawns);
  s.jobwarden = flags.Get("jobwarden", DefaultJobwarden(argv[0]));
  g = &s;
  const std::string c = "c" + std::to_string(s.concurrency);

  for (const std::string& sc : SplitList(flags.Get("scenarios", "pool,command,failover"))) {
    if (sc == "pool") {
      const std::string key = "pool_noop_inprocess_" + c;
      std::vector<double> cpu;
      auto v = Runs(key, s.runs, [&] {
        const Sample r = NoopPoolRun(s.pool_jobs);
        cpu.push_back(r.cpu_us_per_job);
        return r.rate;
      });
      char note[96];
      std::snprintf(note, sizeof note, "%d jobs, cpu %.1f us/job", s.pool_jobs, Median(cpu));
      Report(key, v, "jobs/s", Goal::AtLeast(30'000), note);
    } else if (sc == "command") {
#ifdef JOBWARDEN_BENCH_HAVE_SUBPROCESS
      auto sup = Check(SubprocessSupervisor::Create(), "subprocess supervisor");
      std::vector<double> rate, overhead, cpu;
      for (int i = 0; i < s.runs; ++i) {
        const Sample cmd = TruePoolRun(*sup, s.cmd_jobs);
        const Sample noop = NoopPoolRun(s.cmd_jobs);
        rate.push_back(cmd.rate);
        cpu.push_back(cmd.cpu_us_per_job);
        overhead.push_back((1.0 / cmd.rate - 1.0 / noop.rate) * 1e3);
        std::fprintf(stderr, "  command run %d/%d: /bin/true %.0f jobs/s, no-op %.0f jobs/s, overhead %.3f ms/job\n",
                     i + 1, s.runs, cmd.rate, noop.rate, overhead.back());
      }
      char note[96];
      std::snprintf(note, sizeof note, "%d jobs, cpu %.1f us/job (worker only)", s.cmd_jobs, Median(cpu));
      Report("pool_command_true_" + c, rate, "jobs/s", Goal::None(), note);
      Report("command_overhead_per_job_" + c, overhead, "ms", Goal::AtMost(1.0), "1/rate(true) - 1/rate(no-op)");
      std::vector<double> p50, p99;
      for (int i = 0; i < s.runs; ++i) {
        auto ms = SpawnLatencies(*sup, s.spawns);
        p50.push_back(Percentile(ms, 50));
        p99.push_back(Percentile(ms, 99));
      }
      Report("spawn_roundtrip_true_p50", p50, "ms", Goal::None(), std::to_string(s.spawns) + " sequential");
      Report("spawn_roundtrip_true_p99", p99, "ms", Goal::None(), std::to_string(s.spawns) + " sequential");
#else
      Skip("pool_command_true_" + c, "src/worker/subprocess.cc has not landed: rebuild once it has");
#endif
    } else if (sc == "failover") {
      const std::vector<FailoverMode> modes = {
          {"kill", false, "", "", 1.0, 10},
          {"stop", true, "", "", 12.0, 10},
          {"stop-ttl1", true, "1s", "500ms", 2.0, 1},
      };
      std::string why;
      const bool ok = WorkerCliAvailable(s.jobwarden, &why);
      for (const std::string& want : SplitList(flags.Get("failover", "kill,stop,stop-ttl1"))) {
        const FailoverMode* m = nullptr;
        for (const auto& cand : modes) {
          if (cand.name == want) m = &cand;
        }
        if (m == nullptr) {
          std::fprintf(stderr, "bench: unknown failover mode '%s'\n", want.c_str());
          return 2;
        }
        const std::string key = "failover_" + m->name;
        if (!ok) {
          Skip(key, why);
          continue;
        }
        auto v = Runs(key, m->freeze && m->ttl.empty() ? s.stop_runs : s.runs, [&] { return FailoverRun(*m); });
        Report(key, v, "s", Goal::AtMost(m->goal_s),
               m->freeze ? "SIGSTOP, TTL " + (m->ttl.empty() ? "10s" : m->ttl) : "kill -9, same host, defaults");
      }
    } else {
      std::fprintf(stderr, "bench: unknown scenario '%s'\n", sc.c_str());
      return 2;
    }
  }
  return 0;
}
