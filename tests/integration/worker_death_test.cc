// A worker process dies, freezes, is cut off or is told to stop: its jobs are
// never stuck in "running" and never finish twice (G1, G4, G5, G7), through
// real `jobwarden worker` processes and real signals.
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "integration/worker_test_support.h"

namespace jobwarden::testing {
namespace {

// Attempt 1 hangs (`exec`, so the handler process is `sleep` itself); any
// later attempt succeeds and says which attempt it was.
constexpr const char* kHangOnFirstAttempt = R"(#!/bin/sh
echo $$ > "$MARKS/pid-$JOBWARDEN_ATTEMPT"
if [ "$JOBWARDEN_ATTEMPT" = "1" ]; then exec sleep 600; fi
printf '{"result": {"attempt": %s}}\n' "$JOBWARDEN_ATTEMPT" >&3
)";

using WorkerDeathTest = WorkerProcessTest;

// kill -9 of a worker mid-job: on the same host its death is seen, so a second
// worker's reaper takes the job back at its next tick (worker_lost), long
// before the 30 s lease could end, and the job completes there. The killed
// worker's handler does not outlive it (parent-death signal).
TEST_F(WorkerDeathTest, KillNineJobTakenBackBySecondWorkerAndHandlerGone) {
  const std::string script = WriteScript("work.sh", kHangOnFirstAttempt);
  const std::string config =
      WriteConfig("lease_ttl = \"30s\"\ngrace = \"1s\"\nconcurrency = 1", "work", {"sh", script});
  const JobId id = Enqueue(Request("work", 5min, 3));

  ChildProcess& a = StartWorker(config);
  const pid_t handler = WaitForPid("pid-1");
  ASSERT_GT(handler, 0) << "the first attempt never started";
  ASSERT_EQ(Get(id).state, JobState::kRunning);
  const std::string a_id = Get(id).worker_id.value_or("");

  StartWorker(config);
  ASSERT_TRUE(WaitUntil([&] { return LiveWorkers() >= 2; }, 20s)) << "the second worker never registered";

  a.Signal(SIGKILL);
  ASSERT_NE(a.WaitFor(10s), -1);

  // Well within the 30 s lease: only a seen death can explain it.
  ASSERT_TRUE(WaitForState(id, JobState::kSucceeded, 20s)) << "state " << ToString(Get(id).state);
  const Job job = Get(id);
  ASSERT_EQ(job.errors.size(), 1u);
  EXPECT_EQ(job.errors[0].error_class, ErrorClass::kWorkerLost) << job.errors[0].message;
  EXPECT_EQ(job.errors[0].attempt, 1);
  EXPECT_EQ(Json(job.result)["attempt"], 2);
  EXPECT_NE(job.worker_id.value_or(""), a_id);

  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(handler); }, 10s))
      << "the killed worker's handler (pid " << handler << ") outlived it";
}

// A worker frozen with SIGSTOP cannot heartbeat: its death cannot be seen
// (the pid still exists), so the job is taken back at lease end (TTL 1 s) and
// completed by a second worker. Resumed with SIGCONT, the first worker finds
// its handler finished with a result, and that late answer is fenced off.
TEST_F(WorkerDeathTest, FrozenWorkerLosesJobAtLeaseEndAndCannotOverwriteResult) {
  const std::string script = WriteScript("work.sh", R"(#!/bin/sh
echo $$ > "$MARKS/pid-$JOBWARDEN_ATTEMPT"
if [ "$JOBWARDEN_ATTEMPT" = "1" ]; then sleep 2; fi
printf '{"result": {"attempt": %s}}\n' "$JOBWARDEN_ATTEMPT" >&3
)");
  const std::string config =
      WriteConfig("lease_ttl = \"1s\"\ngrace = \"300ms\"\nconcurrency = 1", "work", {"sh", script});
  const JobId id = Enqueue(Request("work", 5min, 3));

  ChildProcess& a = StartWorker(config);
  const pid_t first = WaitForPid("pid-1");
  ASSERT_GT(first, 0) << "the first attempt never started";
  StartWorker(config);
  ASSERT_TRUE(WaitUntil([&] { return LiveWorkers() >= 2; }, 20s)) << "the second worker never registered";

  a.Signal(SIGSTOP);
  ASSERT_TRUE(WaitForState(id, JobState::kSucceeded, 30s)) << "state " << ToString(Get(id).state);
  Job job = Get(id);
  ASSERT_EQ(Json(job.result)["attempt"], 2);
  ASSERT_FALSE(job.errors.empty());
  EXPECT_EQ(job.errors[0].error_class, ErrorClass::kLeaseExpired) << job.errors[0].message;

  // The frozen worker's handler has finished too (a zombie until its worker
  // runs again): the worker now holds a result for a lease that is gone.
  ASSERT_TRUE(WaitUntil([&] { return !ProcessAlive(first); }, 20s));
  a.Signal(SIGCONT);
  // Let it do whatever it would do with that result, then stop it cleanly:
  // once it has exited, anything it could report has been reported.
  a.Signal(SIGTERM);
  const int status = a.WaitFor(30s);
  EXPECT_TRUE(ExitedWith(status, 0)) << "wait status " << status;

  job = Get(id);
  EXPECT_EQ(job.state, JobState::kSucceeded);
  EXPECT_EQ(Json(job.result)["attempt"], 2) << "a zombie worker overwrote the outcome";
}

// SIGTERM during a job that checkpoints: the worker drains (drain_timeout
// 300 ms), stops the handler, which writes a final checkpoint, and hands the
// job back as `interrupted` without spending an attempt (max_attempts 1: a
// spent attempt would have failed the job). The next worker resumes from the
// checkpoint: every item is processed exactly once across both runs.
TEST_F(WorkerDeathTest, SigtermHandsBackInterruptedAndNextWorkerResumesFromCheckpoint) {
  const std::string script = WriteScript("count.py", R"(import json, os, signal, sys, time
ctl = os.fdopen(3, "w", buffering=1)
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
job = json.load(sys.stdin)
total = job["args"]["total"]
start = i = (job.get("checkpoint") or {}).get("next", 0)
with open(os.path.join(os.environ["MARKS"], "items"), "a") as items:
    while i < total:
        if stop:
            ctl.write(json.dumps({"checkpoint": {"next": i}}) + "\n")
            sys.exit(0)
        time.sleep(0.005)
        items.write(f"{i}\n")
        items.flush()
        i += 1
        if i % 10 == 0:
            ctl.write(json.dumps({"checkpoint": {"next": i}}) + "\n")
            ctl.write(json.dumps({"progress": {"done": i, "total": total}}) + "\n")
ctl.write(json.dumps({"result": {"resumed_from": start, "processed": total - start}}) + "\n")
)");
  const std::string config =
      WriteConfig("lease_ttl = \"10s\"\ngrace = \"3s\"\ndrain_timeout = \"300ms\"", "count", {"python3", script});
  constexpr int kTotal = 600;
  EnqueueRequest r = Request("count", 5min, 1);
  r.args = R"({"total": 600})";
  const JobId id = Enqueue(r);

  ChildProcess& a = StartWorker(config);
  ASSERT_TRUE(WaitUntil(
      [&] {
        const Job j = Get(id);
        return j.checkpoint && Json(j.checkpoint)["next"].get<int>() >= 50;
      },
      30s))
      << "no checkpoint came";
  a.Signal(SIGTERM);
  const int status = a.WaitFor(30s);
  ASSERT_TRUE(ExitedWith(status, 0)) << "wait status " << status;

  Job job = Get(id);
  ASSERT_EQ(job.state, JobState::kAvailable);
  EXPECT_EQ(job.attempt, 0) << "the interrupted run must give its attempt back";
  ASSERT_EQ(job.errors.size(), 1u);
  EXPECT_EQ(job.errors[0].error_class, ErrorClass::kInterrupted) << job.errors[0].message;
  EXPECT_FALSE(job.errors[0].counted);
  const int resume_at = Json(job.checkpoint)["next"].get<int>();
  ASSERT_GT(resume_at, 0);
  ASSERT_LT(resume_at, kTotal) << "the job finished before the drain ended; nothing to resume";

  StartWorker(config);
  ASSERT_TRUE(WaitForState(id, JobState::kSucceeded, 60s)) << "state " << ToString(Get(id).state);
  job = Get(id);
  EXPECT_EQ(job.attempt, 1);
  EXPECT_EQ(Json(job.result)["resumed_from"], resume_at);
  EXPECT_EQ(Json(job.result)["processed"], kTotal - resume_at);

  // Items, not time: across both runs each item was processed exactly once.
  std::ifstream in(dir_.File("items"));
  std::multiset<int> items;
  for (int i; in >> i;) items.insert(i);
  ASSERT_EQ(items.size(), static_cast<std::size_t>(kTotal));
  for (int i = 0; i < kTotal; ++i) ASSERT_EQ(items.count(i), 1u) << "item " << i;
}

// A worker cut off from its engine for a full lease TTL stops its job. In
// embedded mode the engine's store is the database file, so "cut off" is the
// database refusing writes: another process holds an exclusive lock, so no
// heartbeat can renew the lease (as when a server is unreachable). The worker
// stops its handler by lease end without being told (self-fencing), while the
// lock is still held; it reports nothing, and once the lock is gone the job is
// taken back by the engine, never completed by the cut-off run.
TEST_F(WorkerDeathTest, WorkerCutOffFromItsEngineStopsItsJob) {
  const std::string script = WriteScript("work.sh", R"(#!/bin/sh
echo $$ > "$MARKS/pid-$JOBWARDEN_ATTEMPT"
exec sleep 600
)");
  const std::string config =
      WriteConfig("lease_ttl = \"2s\"\ngrace = \"500ms\"\nconcurrency = 1", "work", {"sh", script});
  const JobId id = Enqueue(Request("work", 5min, 1));

  ChildProcess& a = StartWorker(config);
  const pid_t handler = WaitForPid("pid-1");
  ASSERT_GT(handler, 0) << "the attempt never started";

  ChildProcess lock({"python3", "-c", R"(import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(600)
)",
                     db_},
                    dir_.File("lock"));
  ASSERT_TRUE(WaitUntil([&] { return lock.Stdout().find("locked") != std::string::npos; }, 30s))
      << "could not lock the database: " << lock.Stderr();

  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(handler); }, 20s))
      << "the cut-off worker kept running its handler past the lease";
  EXPECT_TRUE(lock.running());
  EXPECT_TRUE(a.running()) << "the worker itself must survive being cut off";

  lock.Signal(SIGKILL);
  ASSERT_NE(lock.WaitFor(10s), -1);
  ASSERT_TRUE(WaitUntil([&] { return IsTerminal(Get(id).state); }, 60s)) << "state " << ToString(Get(id).state);
  const Job job = Get(id);
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_FALSE(job.result.has_value());
  ASSERT_FALSE(job.errors.empty());
  const ErrorClass c = job.errors[0].error_class;
  EXPECT_TRUE(c == ErrorClass::kLeaseExpired || c == ErrorClass::kWorkerLost)
      << "class " << ToString(c) << ": " << job.errors[0].message;
}

}  // namespace
}  // namespace jobwarden::testing
