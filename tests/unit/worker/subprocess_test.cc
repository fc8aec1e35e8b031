// The command-handler process supervisor, with real processes.
#include "worker/subprocess.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "testutil/process.h"
#include "testutil/temp_dir.h"
#include "testutil/test_store.h"
#include "worker/process_tree.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::ProcessAlive;
using testing::TempDir;
using testing::WaitUntil;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t ReadPid(const std::string& path) {
  pid_t pid = 0;
  WaitUntil([&] { return (pid = static_cast<pid_t>(std::atoi(ReadFile(path).c_str()))) > 0; }, 10'000ms);
  return pid;
}

// No child of this process is a zombie (the supervisor reaps every child).
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

CommandSpec Sh(const std::string& script) {
  CommandSpec spec;
  spec.argv = {"sh", "-c", script};
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  return spec;
}

struct Recorder {
  std::mutex mu;
  std::vector<ControlMessage> messages;
  ControlCallback Callback() {
    return [this](const ControlMessage& m) {
      std::lock_guard<std::mutex> lock(mu);
      messages.push_back(m);
    };
  }
  std::vector<ControlMessage> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return messages;
  }
};

class SubprocessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sup = SubprocessSupervisor::Create();
    ASSERT_TRUE(sup.ok()) << sup.status().ToString();
    supervisor_ = std::move(sup).value();
  }
  std::shared_ptr<Subprocess> Start(const CommandSpec& spec, ControlCallback cb = nullptr) {
    auto p = supervisor_->Start(spec, std::move(cb));
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : nullptr;
  }
  ExitInfo WaitBounded(Subprocess& p, Duration bound = 20s) {
    auto info = p.WaitFor(bound);
    EXPECT_TRUE(info.has_value()) << "the attempt did not end within " << bound.count() << " ms";
    return info.value_or(ExitInfo{});
  }
  TempDir dir_;
  std::unique_ptr<SubprocessSupervisor> supervisor_;
};

// ---------------------------------------------------------------------------
// ParseControlLine and SignalName

TEST(ControlLineTest, ParsesEachKind) {
  auto p = ParseControlLine(R"({"progress": {"done": 10, "total": 50000, "message": "item 10"}})");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->type, ControlMessage::Type::kProgress);
  EXPECT_EQ(p->progress.done, 10);
  EXPECT_EQ(p->progress.total, 50000);
  EXPECT_EQ(p->progress.message, "item 10");

  auto c = ParseControlLine(R"({"checkpoint": {"next": 7, "ids": [1, 2]}})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->type, ControlMessage::Type::kCheckpoint);
  EXPECT_EQ(c->json, R"({"ids":[1,2],"next":7})");

  auto r = ParseControlLine(R"({"result": "done"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, ControlMessage::Type::kResult);
  EXPECT_EQ(r->json, R"("done")");

  auto e = ParseControlLine(R"({"error": {"class": "rate_limited", "message": "429", "retry_after_s": 1.5}})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->type, ControlMessage::Type::kError);
  EXPECT_EQ(e->error_class, ErrorClass::kRateLimited);
  EXPECT_EQ(e->error_message, "429");
  EXPECT_EQ(e->retry_after, Duration(1500));

  auto bare = ParseControlLine(R"({"error": {"class": "permanent"}})");
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->error_message.empty());
}

TEST(ControlLineTest, RejectsMalformedLines) {
  for (const char* line : {
           "not json",
           "{\"progress\": ",
           "[1, 2]",
           "{}",
           R"({"progress": {"done": 1}, "result": 2})",
           R"({"bogus": 1})",
           R"({"progress": {"done": -1}})",
           R"({"progress": {"total": 3}})",
           R"({"progress": "half"})",
           R"({"error": "oops"})",
           R"({"error": {"class": "crashed", "message": "x"}})",
           R"({"error": {"class": "timeout", "message": "x"}})",
           R"({"error": {"class": "nope", "message": "x"}})",
           R"({"error": {"class": "transient", "retry_after_s": -3}})",
           R"({"error": {"class": "transient", "message": 5}})",
       }) {
    auto m = ParseControlLine(line);
    EXPECT_FALSE(m.ok()) << line;
    if (!m.ok()) {
      EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << line;
      EXPECT_FALSE(m.status().message().empty());
    }
  }
}

TEST(ControlLineTest, SignalNames) {
  EXPECT_EQ(SignalName(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(SignalName(SIGTERM), "SIGTERM");
}

// ---------------------------------------------------------------------------
// Running processes

TEST_F(SubprocessTest, StdinOutputControlAndExitCode) {
  Recorder rec;
  CommandSpec spec =
      Sh("cat; echo to-stdout; echo to-stderr >&2;"
         "echo '{\"progress\": {\"done\": 1, \"total\": 2}}' >&3;"
         "echo 'garbage' >&3;"
         "printf '{\"checkpoint\": {\"at\": 1}}\\n{\"result\": 42}' >&3;"
         "exit 3");
  spec.stdin_data = "{\"job\": 1}\n";
  auto p = Start(spec, rec.Callback());
  ASSERT_TRUE(p);
  EXPECT_GT(p->pid(), 0);
  const ExitInfo info = WaitBounded(*p);
  EXPECT_FALSE(info.signaled);
  EXPECT_EQ(info.exit_code, 3);
  EXPECT_FALSE(info.killed_by_us);
  EXPECT_EQ(info.output_tail, "{\"job\": 1}\nto-stdout\nto-stderr\n");
  const auto msgs = rec.Get();
  ASSERT_EQ(msgs.size(), 3u);  // the garbage line is ignored; the last line needs no newline
  EXPECT_EQ(msgs[0].type, ControlMessage::Type::kProgress);
  EXPECT_EQ(msgs[1].type, ControlMessage::Type::kCheckpoint);
  EXPECT_EQ(msgs[1].json, "{\"at\":1}");
  EXPECT_EQ(msgs[2].type, ControlMessage::Type::kResult);
  EXPECT_EQ(msgs[2].json, "42");
}

TEST_F(SubprocessTest, LargeStdinIsWrittenWholeThenClosed) {
  CommandSpec spec = Sh("wc -c");
  spec.stdin_data.assign(1024 * 1024 + 17, 'x');
  auto p = Start(spec);
  ASSERT_TRUE(p);
  const ExitInfo info = WaitBounded(*p);
  EXPECT_EQ(info.exit_code, 0);
  EXPECT_NE(info.output_tail.find("1048593"), std::string::npos) << info.output_tail;
}

TEST_F(SubprocessTest, HandlerThatClosesStdinEarlyDoesNotHurtTheWorker) {
  CommandSpec spec = Sh("exec 0<&-; exit 0");
  spec.stdin_data.assign(4 * 1024 * 1024, 'x');
  auto p = Start(spec);
  ASSERT_TRUE(p);
  EXPECT_EQ(WaitBounded(*p).exit_code, 0);
}

TEST_F(SubprocessTest, OutputTailIsBounded) {
  CommandSpec spec =
      Sh("i=0; while [ $i -lt 3000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done");
  spec.output_tail_bytes = 1000;
  auto p = Start(spec);
  ASSERT_TRUE(p);
  const ExitInfo info = WaitBounded(*p);
  EXPECT_LE(info.output_tail.size(), 1000u);
  EXPECT_GT(info.output_tail.size(), 900u);
  EXPECT_NE(info.output_tail.find("line-2999-"), std::string::npos);
  EXPECT_EQ(info.output_tail.find("line-0-"), std::string::npos);
}

TEST_F(SubprocessTest, OverlongControlLineIsIgnored) {
  Recorder rec;
  CommandSpec spec =
      Sh("head -c 5000 /dev/zero | tr '\\0' 'a' >&3; echo >&3;"
         "echo '{\"progress\": {\"done\": 5}}' >&3");
  spec.max_control_line = 1000;
  auto p = Start(spec, rec.Callback());
  ASSERT_TRUE(p);
  EXPECT_EQ(WaitBounded(*p).exit_code, 0);
  const auto msgs = rec.Get();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].progress.done, 5);
}

TEST_F(SubprocessTest, EnvironmentIsExactlyTheSpecPlusTheMarker) {
  CommandSpec spec = Sh("env");
  spec.env.push_back("FOO=bar");
  spec.env.push_back("JOBWARDEN_ATTEMPT_MARK=forged");
  ASSERT_EQ(::setenv("WORKER_ONLY_SECRET", "s3cret", 1), 0);
  auto p = Start(spec);
  ::unsetenv("WORKER_ONLY_SECRET");
  ASSERT_TRUE(p);
  const ExitInfo info = WaitBounded(*p);
  EXPECT_NE(info.output_tail.find("FOO=bar\n"), std::string::npos);
  EXPECT_NE(info.output_tail.find("JOBWARDEN_ATTEMPT_MARK="), std::string::npos);
  EXPECT_EQ(info.output_tail.find("forged"), std::string::npos);
  EXPECT_EQ(info.output_tail.find("s3cret"), std::string::npos);
}

TEST_F(SubprocessTest, FileDescriptorsAboveThreeAreNotInherited) {
  const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaked, 0);
  auto p = Start(Sh("ls /proc/self/fd"));
  ::close(leaked);
  ASSERT_TRUE(p);
  const ExitInfo info = WaitBounded(*p);
  // 0-3, plus the fd `ls` opens to read the directory.
  std::istringstream in(info.output_tail);
  int count = 0;
  for (std::string fd; in >> fd;) ++count;
  EXPECT_LE(count, 5) << info.output_tail;
}

TEST_F(SubprocessTest, WorkingDirectory) {
  CommandSpec spec = Sh("pwd");
  spec.cwd = dir_.path();
  auto p = Start(spec);
  ASSERT_TRUE(p);
  EXPECT_NE(WaitBounded(*p).output_tail.find(dir_.path()), std::string::npos);
}

TEST_F(SubprocessTest, ExecFailuresAreClearErrors) {
  CommandSpec spec;
  spec.argv = {"jobwarden-no-such-command-xyz"};
  auto r = supervisor_->Start(spec, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "command not found: jobwarden-no-such-command-xyz");

  spec.argv = {dir_.File("missing.sh")};
  r = supervisor_->Start(spec, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("command not found: " + dir_.File("missing.sh")), std::string::npos);

  const std::string script = dir_.File("not-executable.sh");
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  ::chmod(script.c_str(), 0644);
  spec.argv = {script};
  r = supervisor_->Start(spec, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("permission denied"), std::string::npos) << r.status().message();

  spec = Sh("true");
  spec.cwd = dir_.File("no-such-dir");
  r = supervisor_->Start(spec, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no-such-dir"), std::string::npos) << r.status().message();

  spec = CommandSpec{};
  r = supervisor_->Start(spec, nullptr);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(WaitUntil(NoZombieChildren, 5000ms));
}

TEST_F(SubprocessTest, DeathBySignal) {
  auto p = Start(Sh("kill -SEGV $$"));
  ASSERT_TRUE(p);
  const ExitInfo info = WaitBounded(*p);
  EXPECT_TRUE(info.signaled);
  EXPECT_EQ(info.signal, SIGSEGV);
  EXPECT_FALSE(info.killed_by_us);
}

TEST_F(SubprocessTest, TerminateLetsACooperativeHandlerExit) {
  auto p = Start(Sh("trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done"));
  ASSERT_TRUE(p);
  std::this_thread::sleep_for(200ms);
  p->Terminate(10s);
  const ExitInfo info = WaitBounded(*p, 9s);  // well before the grace
  EXPECT_FALSE(info.signaled);
  EXPECT_EQ(info.exit_code, 0);
  EXPECT_TRUE(info.killed_by_us);
  EXPECT_NE(info.output_tail.find("got-term"), std::string::npos);
}

// A handler that ignores SIGTERM, with a grandchild that started its own
// session (and whose parent exited, so it was re-parented to the worker).
const char* kStubbornScript = R"(
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
if os.fork() == 0:
    while True:
        time.sleep(1)
print("ready", flush=True)
while True:
    time.sleep(1)
)";

TEST_F(SubprocessTest, TerminateKillsStubbornHandlerAndItsGrandchildrenAfterGrace) {
  const std::string script = dir_.File("stubborn.py");
  std::ofstream(script) << kStubbornScript;
  CommandSpec spec;
  spec.argv = {"python3", script, dir_.File("grandchild.pid")};
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  auto p = Start(spec);
  ASSERT_TRUE(p);
  const pid_t grandchild = ReadPid(dir_.File("grandchild.pid"));
  ASSERT_GT(grandchild, 0);
  ASSERT_TRUE(ProcessAlive(grandchild));

  const auto t0 = std::chrono::steady_clock::now();
  p->Terminate(300ms);
  p->Terminate(300ms);  // idempotent
  const ExitInfo info = WaitBounded(*p);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(info.signaled);
  EXPECT_EQ(info.signal, SIGKILL);
  EXPECT_TRUE(info.killed_by_us);
  EXPECT_GE(took, 250ms);  // it got its grace
  EXPECT_LT(took, 10s);
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(grandchild); }, 5000ms)) << "grandchild " << grandchild;
  EXPECT_TRUE(WaitUntil(NoZombieChildren, 5000ms));
}

TEST_F(SubprocessTest, WhatTheLeaderLeftBehindIsKilledWhenItExits) {
  const std::string script = dir_.File("leaves.py");
  std::ofstream(script) << R"(
import os, sys, time
if os.fork() == 0:
    os.setsid()
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    os.closerange(0, 4)
    while True:
        time.sleep(1)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
)";
  CommandSpec spec;
  spec.argv = {"python3", script, dir_.File("left.pid")};
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  auto p = Start(spec);
  ASSERT_TRUE(p);
  const ExitInfo info = WaitBounded(*p);
  EXPECT_EQ(info.exit_code, 0);
  EXPECT_FALSE(info.killed_by_us);
  const pid_t left = ReadPid(dir_.File("left.pid"));
  ASSERT_GT(left, 0);
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(left); }, 5000ms));
  EXPECT_TRUE(WaitUntil(NoZombieChildren, 5000ms));
}

TEST_F(SubprocessTest, KillIsImmediate) {
  auto p = Start(Sh("trap '' TERM; sleep 1000"));
  ASSERT_TRUE(p);
  p->Kill();
  const ExitInfo info = WaitBounded(*p, 10s);
  EXPECT_TRUE(info.signaled);
  EXPECT_TRUE(info.killed_by_us);
  p->Terminate(1s);  // after the end: harmless
  p->Kill();
}

TEST_F(SubprocessTest, ManyConcurrentAttempts) {
  std::vector<std::shared_ptr<Subprocess>> procs;
  std::vector<std::thread> starters;
  std::mutex mu;
  for (int i = 0; i < 8; ++i) {
    starters.emplace_back([&, i] {
      for (int k = 0; k < 5; ++k) {
        auto p = Start(Sh("echo " + std::to_string(i * 100 + k) + "; exit " + std::to_string(k)));
        std::lock_guard<std::mutex> lock(mu);
        procs.push_back(p);
      }
    });
  }
  for (auto& t : starters) t.join();
  ASSERT_EQ(procs.size(), 40u);
  for (auto& p : procs) {
    ASSERT_TRUE(p);
    const ExitInfo info = WaitBounded(*p);
    const int code = std::atoi(info.output_tail.c_str()) % 100;
    EXPECT_EQ(info.exit_code, code) << info.output_tail;
  }
  EXPECT_TRUE(WaitUntil(NoZombieChildren, 5000ms));
}

TEST_F(SubprocessTest, DestroyingTheSupervisorKillsWhatRuns) {
  auto p = Start(Sh("trap '' TERM; sleep 1000"));
  ASSERT_TRUE(p);
  const pid_t pid = p->pid();
  supervisor_.reset();
  const ExitInfo info = WaitBounded(*p, 1s);  // answered by the time the destructor returned
  EXPECT_TRUE(info.signaled);
  EXPECT_TRUE(info.killed_by_us);
  EXPECT_FALSE(ProcessAlive(pid));
  p->Terminate(1s);  // harmless once the supervisor is gone
}

// The handler is spawned with vfork semantics (clone(CLONE_VM | CLONE_VFORK))
// and must still die with its worker: PR_SET_PDEATHSIG is set in the child,
// and a worker killed with SIGKILL takes its handler with it.
TEST(SubprocessDeathTest, HandlerDiesWithItsWorkerKilledByNine) {
  TempDir dir;
  const std::string pid_file = dir.File("handler.pid");
  const pid_t worker = ::fork();  // no supervisor thread runs in this test: fork is safe
  ASSERT_GE(worker, 0);
  if (worker == 0) {
    auto sup = SubprocessSupervisor::Create();
    if (!sup.ok()) ::_exit(2);
    auto p = (*sup)->Start(
        Sh("echo $$ > " + pid_file + ".tmp && mv " + pid_file + ".tmp " + pid_file + "; exec sleep 1000"), nullptr);
    if (!p.ok()) ::_exit(3);
    while (true) ::pause();
  }
  const pid_t handler = ReadPid(pid_file);
  ASSERT_GT(handler, 0);
  EXPECT_TRUE(ProcessAlive(handler));
  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(worker, &status, 0), worker);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the worker exited early: " << status;
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(handler); }, 5000ms))
      << "handler " << handler << " outlived its worker";
  ::waitpid(handler, nullptr, WNOHANG);  // re-parented to this process (a subreaper since an earlier test): reap it
}

// An exec failure is found in the clone()d child and reported with its errno,
// not as exit code 127: here a program that exists but is no executable format.
TEST_F(SubprocessTest, ExecFormatErrorIsAClearError) {
  const std::string bogus = dir_.File("bogus");
  std::ofstream(bogus) << "\x7f"
                       << "not an ELF and no #!\n";
  ::chmod(bogus.c_str(), 0755);
  CommandSpec spec;
  spec.argv = {bogus};
  auto r = supervisor_->Start(spec, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not an executable"), std::string::npos) << r.status().message();
  EXPECT_TRUE(WaitUntil(NoZombieChildren, 5000ms));
  // The supervisor is not hurt by it.
  auto ok = Start(Sh("exit 4"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(WaitBounded(*ok).exit_code, 4);
}

}  // namespace
}  // namespace jobwarden
