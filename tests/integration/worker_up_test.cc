// `jobwarden up`: the server in one process and N supervised `jobwarden
// worker --server URL` processes. With the demo's own files
// (examples/demo.toml and examples/demo-jobs.toml), so the README's main
// command cannot silently rot, and with command kinds written by each test:
// jobs run through the server on every worker; a worker killed with -9 is
// restarted and its job taken back at once; SIGTERM stops everything cleanly.
#include <signal.h>

#include <filesystem>
#include <set>

#include "integration/worker_test_support.h"

namespace jobwarden::testing {
namespace {

class WorkerUpTest : public WorkerProcessTest {
 protected:
  void TearDown() override {
    WorkerProcessTest::TearDown();
    if (up_ && (HasFailure() || std::getenv("JOBWARDEN_TEST_WORKER_LOGS") != nullptr)) {
      std::cerr << "----- up stderr -----\n" << up_->Stderr() << "\n";
    }
  }

  // `jobwarden up --db <db> --config <config> --listen 127.0.0.1:0 <extra...>`.
  ChildProcess& StartUp(const std::string& config, const std::vector<std::string>& extra) {
    std::vector<std::string> argv{JOBWARDEN_CLI_BINARY, "up",   "--db",     db_,
                                  "--config",           config, "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    up_ = std::make_unique<ChildProcess>(argv, dir_.File("up-" + std::to_string(++ups_)));
    return *up_;
  }

  // The server's URL, from the discovery file it writes beside the database.
  std::string WaitForUrl() {
    std::string url;
    WaitUntil(
        [&] {
          std::ifstream in(dir_.File("server.json"));
          if (!in) return false;
          try {
            url = nlohmann::json::parse(in).at("url").get<std::string>();
          } catch (const std::exception&) {
            return false;
          }
          return !url.empty();
        },
        30s);
    return url;
  }

  // Registered, not stopped workers whose id `up` gave them.
  std::vector<WorkerRecord> UpWorkers() {
    std::vector<WorkerRecord> out;
    auto w = engine_->Workers(false);
    if (!w.ok()) return out;
    for (WorkerRecord& r : *w) {
      if (r.id.starts_with("up-")) out.push_back(std::move(r));
    }
    return out;
  }

  JobId EnqueueThrough(const std::string& url, const std::string& kind) {
    CommandResult r = RunCli({"--server", url, "enqueue", kind, "--timeout", "5m", "--max-attempts", "3"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? std::stoll(r.out) : 0;
  }

  std::unique_ptr<ChildProcess> up_;
  int ups_ = 0;
};

std::size_t CountJobs(Engine& engine) {
  JobListParams all;
  all.limit = 1000;
  auto jobs = engine.List(all);
  return jobs.ok() ? jobs->size() : 0;
}

// The demo starts: its six jobs are enqueued and the two hung ones fill both
// slots. SIGTERM twice stops it at once, handing them back as interrupted; a
// second start enqueues nothing again and runs what was handed back.
TEST_F(WorkerUpTest, DemoSeedsOnceAndHandsBackOnSigterm) {
  const std::string examples = std::string(JOBWARDEN_SOURCE_DIR) + "/examples";
  const std::vector<std::string> seed{"--seed", examples + "/demo-jobs.toml"};
  ChildProcess& first = StartUp(examples + "/demo.toml", seed);
  ASSERT_TRUE(WaitUntil([&] { return CountJobs(*engine_) == 6; }, 30s)) << first.Stderr();
  ASSERT_TRUE(WaitUntil([&] { return Get(1).state == JobState::kRunning && Get(2).state == JobState::kRunning; }, 30s))
      << first.Stderr();
  EXPECT_EQ(Get(1).kind, "hang");

  // Two signals sent at once would merge into one pending signal: the second
  // goes after the first was passed on (the worker began to drain).
  first.Signal(SIGTERM);
  ASSERT_TRUE(WaitUntil([&] { return first.Stderr().find("draining") != std::string::npos; }, 30s)) << first.Stderr();
  first.Signal(SIGTERM);
  const int status = first.WaitFor(60s);
  ASSERT_TRUE(ExitedWith(status, 0)) << "wait status " << status << "\n" << first.Stderr();
  for (JobId id : {1, 2}) {
    const Job j = Get(id);
    EXPECT_EQ(j.state, JobState::kAvailable);
    ASSERT_FALSE(j.errors.empty());
    EXPECT_EQ(j.errors.back().error_class, ErrorClass::kInterrupted) << j.errors.back().message;
  }

  ChildProcess& second = StartUp(examples + "/demo.toml", seed);
  ASSERT_TRUE(WaitUntil([&] { return Get(1).state != JobState::kAvailable; }, 30s)) << second.Stderr();
  EXPECT_NE(second.Stderr().find("not enqueueing"), std::string::npos) << second.Stderr();
  EXPECT_EQ(CountJobs(*engine_), 6u) << "a restart enqueued the seed jobs again";
}

// Port 0, two workers of one slot each: jobs enqueued through the server run
// on both, and SIGTERM ends `up` with exit 0.
TEST_F(WorkerUpTest, RunsJobsThroughTheServerOnEveryWorker) {
  const std::string config = WriteConfig("concurrency = 1", "nap", {"sh", "-c", "sleep 1"});
  ChildProcess& up = StartUp(config, {"--workers", "2"});
  const std::string url = WaitForUrl();
  ASSERT_FALSE(url.empty()) << up.Stderr();
  ASSERT_TRUE(WaitUntil([&] { return UpWorkers().size() == 2; }, 30s)) << up.Stderr();

  std::vector<JobId> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(EnqueueThrough(url, "nap"));
  std::set<std::string> ran_on;
  for (JobId id : ids) {
    ASSERT_TRUE(WaitForState(id, JobState::kSucceeded, 60s)) << "job " << id << "\n" << up.Stderr();
    if (const Job j = Get(id); j.worker_id) ran_on.insert(*j.worker_id);
  }
  EXPECT_EQ(ran_on.size(), 2u) << "six 1-second jobs on two 1-slot workers ran on one";

  up.Signal(SIGTERM);
  const int status = up.WaitFor(60s);
  EXPECT_TRUE(ExitedWith(status, 0)) << "wait status " << status << "\n" << up.Stderr();
  EXPECT_FALSE(std::filesystem::exists(dir_.File("server.json")));
}

// `kill -9` of a supervised worker: `up` sees it exit, takes its job back at
// once (the lease TTL is 60 s: no waiting for it), and starts a new worker in
// its slot; the job runs again and succeeds.
TEST_F(WorkerUpTest, KilledWorkerIsRestartedAndItsJobTakenBackAtOnce) {
  const std::string script = WriteScript("first-run-hangs.sh",
                                         "#!/bin/sh\n"
                                         "if [ \"$JOBWARDEN_ATTEMPT\" = 1 ]; then exec sleep 300; fi\n"
                                         "exit 0\n");
  const std::string config = WriteConfig("concurrency = 1\nlease_ttl = \"60s\"", "slow", {script});
  ChildProcess& up = StartUp(config, {"--workers", "2"});
  const std::string url = WaitForUrl();
  ASSERT_FALSE(url.empty()) << up.Stderr();
  ASSERT_TRUE(WaitUntil([&] { return UpWorkers().size() == 2; }, 30s)) << up.Stderr();

  const JobId id = EnqueueThrough(url, "slow");
  ASSERT_TRUE(WaitForState(id, JobState::kRunning, 30s)) << up.Stderr();
  const Job running = Get(id);
  ASSERT_TRUE(running.worker_id.has_value());
  pid_t victim = 0;
  for (const WorkerRecord& w : UpWorkers()) {
    if (w.id == *running.worker_id) victim = static_cast<pid_t>(w.pid);
  }
  ASSERT_GT(victim, 0) << "no worker " << *running.worker_id;
  ASSERT_EQ(kill(victim, SIGKILL), 0);

  // Far less than the 60 s lease: only a take-back at death can do it.
  ASSERT_TRUE(WaitForState(id, JobState::kSucceeded, 40s)) << up.Stderr();
  const Job done = Get(id);
  ASSERT_FALSE(done.errors.empty());
  EXPECT_EQ(done.errors.front().error_class, ErrorClass::kWorkerLost) << done.errors.front().message;
  EXPECT_EQ(done.attempt, 2);

  // Its slot runs a new worker: `<prefix>-<slot>-2`.
  const std::string old_id = *running.worker_id;
  const std::string new_id = old_id.substr(0, old_id.rfind('-')) + "-2";
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const WorkerRecord& w : UpWorkers()) {
          if (w.id == new_id) return true;
        }
        return false;
      },
      30s))
      << up.Stderr();
  EXPECT_NE(up.Stderr().find("killed by signal 9"), std::string::npos) << up.Stderr();

  up.Signal(SIGTERM);
  const int status = up.WaitFor(60s);
  EXPECT_TRUE(ExitedWith(status, 0)) << "wait status " << status << "\n" << up.Stderr();
}

// SIGTERM to `up`: every worker gets SIGTERM, drains (1 s here), hands its
// running job back as interrupted (the attempt not spent) and exits; then
// the server stops and `up` exits 0, leaving no worker behind.
TEST_F(WorkerUpTest, SigtermStopsEveryWorkerAndHandsBackTheRunningJob) {
  const std::string config = WriteConfig("concurrency = 1\nlease_ttl = \"60s\"\ndrain_timeout = \"1s\"\ngrace = \"1s\"",
                                         "long", {"sleep", "300"});
  ChildProcess& up = StartUp(config, {"--workers", "2"});
  const std::string url = WaitForUrl();
  ASSERT_FALSE(url.empty()) << up.Stderr();
  ASSERT_TRUE(WaitUntil([&] { return UpWorkers().size() == 2; }, 30s)) << up.Stderr();
  std::vector<pid_t> pids;
  for (const WorkerRecord& w : UpWorkers()) pids.push_back(static_cast<pid_t>(w.pid));

  const JobId id = EnqueueThrough(url, "long");
  ASSERT_TRUE(WaitForState(id, JobState::kRunning, 30s)) << up.Stderr();

  up.Signal(SIGTERM);
  const int status = up.WaitFor(60s);
  ASSERT_TRUE(ExitedWith(status, 0)) << "wait status " << status << "\n" << up.Stderr();
  for (pid_t pid : pids) EXPECT_FALSE(ProcessAlive(pid)) << "worker pid " << pid << " outlived up";
  const Job j = Get(id);
  EXPECT_EQ(j.state, JobState::kAvailable);
  ASSERT_FALSE(j.errors.empty());
  EXPECT_EQ(j.errors.back().error_class, ErrorClass::kInterrupted) << j.errors.back().message;
  EXPECT_EQ(j.attempt, 0) << "an interrupted run spends no attempt";
  EXPECT_TRUE(UpWorkers().empty()) << "a worker did not deregister";
}

}  // namespace
}  // namespace jobwarden::testing
