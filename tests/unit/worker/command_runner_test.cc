// Command handlers through the worker pool, with real processes: the
// command-handler contract of DESIGN.md end to end.
#include "worker/command_runner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testutil/process.h"
#include "unit/worker/worker_bundle.h"
#include "worker/process_tree.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::CutOffBackend;
using testing::kPatience;
using testing::ProcessAlive;
using testing::Req;
using testing::WaitUntil;
using testing::WorkerBundle;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t ReadPid(const std::string& path) {
  pid_t pid = 0;
  WaitUntil([&] { return (pid = static_cast<pid_t>(std::atoi(ReadFile(path).c_str()))) > 0; }, kPatience);
  return pid;
}

bool NoZombieChildren() {
  for (pid_t p : ProcessDescendants(::getpid())) {
    std::ifstream stat("/proc/" + std::to_string(p) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z') return false;
  }
  return true;
}

class CommandRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sup = SubprocessSupervisor::Create();
    ASSERT_TRUE(sup.ok()) << sup.status().ToString();
    supervisor_ = std::move(sup).value();
  }

  // Registers `kind` as `sh -c script` (or any argv).
  void Kind(const std::string& kind, std::vector<std::string> argv, std::map<int, ErrorClass> exit_codes = {},
            std::map<std::string, std::string> env = {}) {
    CommandKind k;
    k.command = std::move(argv);
    k.exit_codes = std::move(exit_codes);
    k.env = std::move(env);
    kinds_[kind] = std::move(k);
  }
  void Sh(const std::string& kind, const std::string& script, std::map<int, ErrorClass> exit_codes = {}) {
    Kind(kind, {"sh", "-c", script}, std::move(exit_codes));
  }
  std::string Script(const std::string& name, const std::string& text) {
    const std::string path = b_.dir.File(name);
    std::ofstream(path) << text;
    return path;
  }

  WorkerPool& StartPool(WorkerOptions o = WorkerBundle::Options(2), Backend* backend = nullptr) {
    pool_ = std::make_unique<WorkerPool>(backend != nullptr ? *backend : *b_.backend, o);
    for (const auto& [name, kind] : kinds_)
      pool_->HandleWith(name, std::make_shared<CommandRunner>(*supervisor_, kind));
    Status s = pool_->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return *pool_;
  }

  void TearDown() override {
    if (pool_) {
      pool_->StopNow();
      pool_->Wait();
    }
    pool_.reset();
    supervisor_.reset();
  }

  WorkerBundle b_;
  std::unique_ptr<SubprocessSupervisor> supervisor_;
  std::map<std::string, CommandKind> kinds_;
  std::unique_ptr<WorkerPool> pool_;
};

TEST_F(CommandRunnerTest, ControlLinesReachTheEngine) {
  Sh("fd3",
     "echo '{\"progress\": {\"done\": 2, \"total\": 4, \"message\": \"half\"}}' >&3;"
     "echo '{\"checkpoint\": {\"next\": 2}}' >&3;"
     "echo '{\"result\": {\"files\": [\"a\", \"b\"]}}' >&3");
  StartPool();
  const JobId id = b_.Enqueue(Req("fd3"));
  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(nlohmann::json::parse(j.result.value_or("null")), nlohmann::json::parse(R"({"files": ["a", "b"]})"));
  EXPECT_EQ(j.progress.done, 2);
  EXPECT_EQ(j.progress.total, 4);
  EXPECT_EQ(j.progress.message, "half");
  EXPECT_EQ(j.checkpoint.value_or(""), R"({"next":2})");
}

TEST_F(CommandRunnerTest, CheckpointsReachTheEngineWhileTheHandlerRuns) {
  Sh("cp", "echo '{\"checkpoint\": {\"step\": 1}}' >&3; sleep 30");
  StartPool();
  const JobId id = b_.Enqueue(Req("cp"));
  // Promptly (coalesced), not only at the next heartbeat or at the end.
  const Job j = b_.WaitFor(
      id, [](const Job& x) { return x.checkpoint.has_value(); }, "checkpointed");
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.checkpoint.value_or(""), R"({"step":1})");
}

TEST_F(CommandRunnerTest, MalformedControlLinesDoNotBreakTheJob) {
  Sh("messy",
     "echo 'hello' >&3; echo '{\"progress\": 5}' >&3; echo '{\"nope\": 1}' >&3;"
     "echo '{\"error\": {\"class\": \"crashed\", \"message\": \"x\"}}' >&3;"
     "printf '\\x80\\xff\\n' >&3; echo >&3;"
     "echo '{\"result\": \"fine\"}' >&3");
  StartPool();
  const JobId id = b_.Enqueue(Req("messy"));
  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.result.value_or(""), "\"fine\"");
}

TEST_F(CommandRunnerTest, ExitCodesMapToClasses) {
  Sh("ok", "exit 0");
  Sh("tempfail", "exit 75");
  Sh("mapped", "exit 3", {{3, ErrorClass::kPermanent}});
  Sh("other", "exit 4", {{3, ErrorClass::kPermanent}});
  Sh("declared", "echo '{\"error\": {\"class\": \"permanent\", \"message\": \"policy says no\"}}' >&3; exit 0");
  Sh("result_then_fail", "echo '{\"result\": 1}' >&3; exit 75");
  StartPool();
  const JobId ok = b_.Enqueue(Req("ok"));
  const JobId tempfail = b_.Enqueue(Req("tempfail", 1));
  const JobId mapped = b_.Enqueue(Req("mapped", 3));
  const JobId other = b_.Enqueue(Req("other", 1));
  const JobId declared = b_.Enqueue(Req("declared", 3));
  const JobId rtf = b_.Enqueue(Req("result_then_fail", 1));

  Job j = b_.WaitTerminal(ok);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.result.value_or(""), "null");

  j = b_.WaitTerminal(tempfail);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kTransient);
  EXPECT_NE(j.errors[0].message.find("75"), std::string::npos);

  j = b_.WaitTerminal(mapped);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);  // permanent: never retried
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kPermanent);

  j = b_.WaitTerminal(other);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kTransient);
  EXPECT_NE(j.errors[0].message.find("code 4"), std::string::npos);

  // fd-3 error > exit code.
  j = b_.WaitTerminal(declared);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kPermanent);
  EXPECT_EQ(j.errors[0].message, "policy says no");

  // exit code > fd-3 result.
  j = b_.WaitTerminal(rtf);
  EXPECT_EQ(j.state, JobState::kFailed);
}

TEST_F(CommandRunnerTest, DeathBySignalIsCrashed) {
  Sh("segv", "echo about to crash; kill -SEGV $$");
  StartPool();
  const JobId id = b_.Enqueue(Req("segv", 1));
  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kCrashed);
  EXPECT_NE(j.errors[0].message.find("SIGSEGV"), std::string::npos) << j.errors[0].message;
  EXPECT_NE(j.errors[0].output_tail.value_or("").find("about to crash"), std::string::npos);
}

TEST_F(CommandRunnerTest, HandlerIgnoringSigtermIsKilledWithItsGrandchildren) {
  const std::string script = Script("stubborn.py", R"(
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        while True:
            time.sleep(1)
    os._exit(0)
print("working", flush=True)
while True:
    time.sleep(1)
)");
  Kind("stubborn", {"python3", script, b_.dir.File("grandchild.pid")});
  StartPool();
  // 3 s: python3 alone can take most of a second to start on a loaded
  // machine, and the handler must have ignored SIGTERM before its timeout.
  const JobId id = b_.Enqueue(Req("stubborn", 1, 3s));
  const pid_t grandchild = ReadPid(b_.dir.File("grandchild.pid"));
  ASSERT_GT(grandchild, 0);

  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kTimeout);
  EXPECT_EQ(j.errors[0].limit.value_or(""), "timeout");
  EXPECT_NE(j.errors[0].message.find("SIGKILL"), std::string::npos) << j.errors[0].message;
  EXPECT_NE(j.errors[0].output_tail.value_or("").find("working"), std::string::npos);
  // Killed within timeout + grace (plus generous slack for a loaded machine).
  ASSERT_TRUE(j.started_at && j.finished_at);
  EXPECT_LT(*j.finished_at - *j.started_at, 3s + testing::kTestGrace + 5s);
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(grandchild); }, 5000ms)) << "grandchild " << grandchild;
  EXPECT_TRUE(WaitUntil(NoZombieChildren, 5000ms));
}

TEST_F(CommandRunnerTest, OutputTailIsKeptBoundedWithTheError) {
  Sh("noisy",
     "i=0; while [ $i -lt 4000 ]; do echo \"out line $i ................................\"; i=$((i+1)); done;"
     "echo 'last words' >&2; exit 1");
  StartPool();
  const JobId id = b_.Enqueue(Req("noisy", 1));
  const Job j = b_.WaitTerminal(id);
  ASSERT_EQ(j.errors.size(), 1u);
  const std::string tail = j.errors[0].output_tail.value_or("");
  EXPECT_LE(tail.size(), 64u * 1024);
  EXPECT_GT(tail.size(), 60u * 1024);
  EXPECT_NE(tail.find("last words"), std::string::npos);
  EXPECT_EQ(tail.find("out line 0 "), std::string::npos);
}

TEST_F(CommandRunnerTest, JobOnStdinAndEnvironmentWithoutTheWorkersSecrets) {
  ASSERT_EQ(::setenv("JOBWARDEN_TOKEN", "worker-token-secret", 1), 0);
  ASSERT_EQ(::setenv("DATABASE_URL", "postgres://u:db-secret@h/db", 1), 0);
  ASSERT_EQ(::setenv("PGPASSWORD", "pg-secret", 1), 0);
  ASSERT_EQ(::setenv("HARMLESS_SETTING", "kept", 1), 0);
  Kind("env", {"sh", "-c", "cat; echo; env | sort; exit 1"}, {}, {{"SOURCE_LIST", "a,b"}});
  StartPool();
  const JobId id = b_.Enqueue(Req("env", 1, std::nullopt, R"({"url": "https://example.invalid/x"})"));
  const Job j = b_.WaitTerminal(id);
  ::unsetenv("JOBWARDEN_TOKEN");
  ::unsetenv("DATABASE_URL");
  ::unsetenv("PGPASSWORD");
  ::unsetenv("HARMLESS_SETTING");
  ASSERT_EQ(j.errors.size(), 1u);
  const std::string out = j.errors[0].output_tail.value_or("");
  // stdin: the job JSON, with its args and deadline.
  const auto newline = out.find('\n');
  ASSERT_NE(newline, std::string::npos);
  const auto in = nlohmann::json::parse(out.substr(0, newline));
  EXPECT_EQ(in["id"], FormatJobId(id));
  EXPECT_EQ(in["args"]["url"], "https://example.invalid/x");
  EXPECT_EQ(in["attempt"], 1);
  EXPECT_TRUE(in["deadline"].is_string());
  // Environment.
  EXPECT_NE(out.find("JOBWARDEN_JOB_ID=" + FormatJobId(id) + "\n"), std::string::npos);
  EXPECT_NE(out.find("JOBWARDEN_JOB_KIND=env\n"), std::string::npos);
  EXPECT_NE(out.find("JOBWARDEN_ATTEMPT=1\n"), std::string::npos);
  EXPECT_NE(out.find("JOBWARDEN_DEADLINE="), std::string::npos);
  EXPECT_NE(out.find("JOBWARDEN_LEASE_TOKEN=" + std::to_string(j.lease_token) + "\n"), std::string::npos);
  EXPECT_NE(out.find("JOBWARDEN_CONTROL_FD=3\n"), std::string::npos);
  EXPECT_NE(out.find("SOURCE_LIST=a,b\n"), std::string::npos);
  EXPECT_NE(out.find("HARMLESS_SETTING=kept\n"), std::string::npos);
  EXPECT_EQ(out.find("worker-token-secret"), std::string::npos);
  EXPECT_EQ(out.find("db-secret"), std::string::npos);
  EXPECT_EQ(out.find("pg-secret"), std::string::npos);
}

TEST_F(CommandRunnerTest, CommandNotFoundIsAClearFailure) {
  Kind("missing", {"jobwarden-no-such-handler-xyz", "--flag"});
  StartPool();
  const JobId id = b_.Enqueue(Req("missing", 1));
  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_NE(j.errors[0].message.find("command not found: jobwarden-no-such-handler-xyz"), std::string::npos)
      << j.errors[0].message;
}

TEST_F(CommandRunnerTest, DrainInterruptsWithAFinalCheckpointAndTheNextRunResumes) {
  // Counts to 100 000; on SIGTERM writes where it is and exits 0 (its work is not done).
  const std::string script = Script("count.py", R"(
import json, os, signal, sys, time
ctl = os.fdopen(3, "w", buffering=1)
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
job = json.load(sys.stdin)
start = (job.get("checkpoint") or {}).get("next", 0)
print("start", start, flush=True)
with open(os.environ["RUNS_FILE"], "a") as f:
    f.write("%d\n" % start)
i = start
while i < 100000:
    if stop:
        ctl.write(json.dumps({"checkpoint": {"next": i}}) + "\n")
        sys.exit(0)
    time.sleep(0.0005)
    i += 1
    if i % 100 == 0:
        ctl.write(json.dumps({"progress": {"done": i, "total": 100000}}) + "\n")
ctl.write(json.dumps({"result": {"start": start}}) + "\n")
)");
  Kind("count", {"python3", script}, {}, {{"RUNS_FILE", b_.dir.File("runs")}});
  WorkerOptions o = WorkerBundle::Options(1);
  o.drain_timeout = 300ms;
  WorkerPool& pool = StartPool(o);
  const JobId id = b_.Enqueue(Req("count", 1));
  b_.WaitFor(
      id, [](const Job& x) { return x.progress.done >= 200; }, "past item 200");
  pool.Drain();
  EXPECT_EQ(pool.Wait(), 0);

  Job j = b_.Get(id);
  ASSERT_EQ(j.state, JobState::kAvailable);
  EXPECT_EQ(j.attempt, 0);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kInterrupted);
  ASSERT_TRUE(j.checkpoint.has_value());
  const int saved = nlohmann::json::parse(*j.checkpoint)["next"].get<int>();
  EXPECT_GE(saved, 200);

  // A new worker resumes from the checkpoint (it is on stdin).
  pool_.reset();
  b_.RestartBackend();
  WorkerPool& second = StartPool(WorkerBundle::Options(1));
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(b_.dir.File("runs")).size() > 2; }, kPatience));
  second.Drain();  // lets it run for the drain period, then interrupts it again
  second.Wait();
  const std::string runs = ReadFile(b_.dir.File("runs"));
  EXPECT_EQ(runs, "0\n" + std::to_string(saved) + "\n");
}

TEST_F(CommandRunnerTest, LostLeaseKillsTheHandlerAndReportsNothing) {
  Kind("stubborn", {"sh", "-c", "trap '' TERM; echo $$ > \"$PID_FILE\"; while :; do sleep 0.1; done"});
  kinds_["stubborn"].env["PID_FILE"] = b_.dir.File("handler.pid");
  WorkerPool& pool = StartPool(WorkerBundle::Options(1));
  const JobId id = b_.Enqueue(Req("stubborn", 1));
  const pid_t handler = ReadPid(b_.dir.File("handler.pid"));
  ASSERT_GT(handler, 0);
  // An admin takes the job back: the next heartbeat is answered `lost`.
  auto reset = b_.engine->ResetStuck(Duration(0));
  ASSERT_TRUE(reset.ok()) << reset.status().ToString();
  ASSERT_EQ(reset->reset_count, 1);
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(handler); }, kPatience));
  EXPECT_TRUE(WaitUntil([&] { return pool.stats().lost == 1; }, kPatience));
  const Job j = b_.Get(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);  // only the take-back: the worker reported nothing after it
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kLeaseExpired);
  EXPECT_EQ(pool.stats().failed, 0);
}

TEST_F(CommandRunnerTest, WorkerCutOffFromItsEngineKillsItsHandlerByLeaseEnd) {
  Kind("stubborn", {"sh", "-c", "trap '' TERM; echo $$ > \"$PID_FILE\"; while :; do sleep 0.1; done"});
  kinds_["stubborn"].env["PID_FILE"] = b_.dir.File("handler.pid");
  CutOffBackend cut(*b_.backend);
  StartPool(WorkerBundle::Options(1), &cut);
  const JobId id = b_.Enqueue(Req("stubborn", 1));
  const pid_t handler = ReadPid(b_.dir.File("handler.pid"));
  ASSERT_GT(handler, 0);
  ASSERT_TRUE(ProcessAlive(handler));
  cut.fail_heartbeats = true;
  // The engine takes the job back at lease end; by then the handler is dead.
  const Job j = b_.WaitFor(
      id, [](const Job& x) { return x.state != JobState::kRunning; }, "taken back");
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(handler); }, 200ms))
      << "handler " << handler << " outlived its lease";
  ASSERT_FALSE(j.errors.empty());
  EXPECT_EQ(j.errors.back().error_class, ErrorClass::kLeaseExpired);
  EXPECT_TRUE(WaitUntil([&] { return pool_->stats().lost == 1; }, kPatience));
  pool_->StopNow();  // before `cut` goes away
  pool_->Wait();
  pool_.reset();
}

}  // namespace
}  // namespace jobwarden
