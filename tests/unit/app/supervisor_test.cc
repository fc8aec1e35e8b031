// app/supervisor.h driven through RunOnce(now) with a fake ProcessControl:
// no processes, no sleeps.
#include "app/supervisor.h"

#include <signal.h>
#include <sys/wait.h>

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using SteadyTime = WorkerSupervisor::SteadyTime;

class FakeControl : public ProcessControl {
 public:
  Result<pid_t> Spawn(const std::vector<std::string>& argv) override {
    spawned.push_back(argv);
    return next_pid++;
  }
  void Signal(pid_t pid, int signo) override {
    signals.emplace_back(pid, signo);
    if (signo == SIGKILL) exited[pid] = SIGKILL;  // the destructor's Stop() kills what still runs
  }
  std::optional<int> TryReap(pid_t pid) override {
    auto it = exited.find(pid);
    if (it == exited.end()) return std::nullopt;
    const int status = it->second;
    exited.erase(it);
    return status;
  }
  // The worker id the last start of `pid` was given.
  static std::string IdOf(const std::vector<std::string>& argv) { return argv.back(); }

  pid_t next_pid = 100;
  std::vector<std::vector<std::string>> spawned;
  std::vector<std::pair<pid_t, int>> signals;
  std::map<pid_t, int> exited;  // pid -> wait status, reaped by the next TryReap
};

constexpr int kKilled = SIGKILL;  // a wait status: killed by signal 9

class SupervisorTest : public ::testing::Test {
 protected:
  SupervisorOptions Options(int workers) {
    SupervisorOptions o;
    o.argv = {"jobwarden", "worker"};
    o.workers = workers;
    o.id_prefix = "up-7";
    return o;
  }
  FakeControl control_;
  std::vector<SupervisedExit> exits_;
  SteadyTime t0_ = SteadyTime() + 1h;
};

TEST_F(SupervisorTest, StartsEachSlotWithItsOwnWorkerId) {
  WorkerSupervisor s(Options(2), control_, [&](const SupervisedExit& e) { exits_.push_back(e); });
  s.RunOnce(t0_);
  ASSERT_EQ(control_.spawned.size(), 2u);
  EXPECT_EQ(control_.spawned[0], (std::vector<std::string>{"jobwarden", "worker", "--worker-id", "up-7-1-1"}));
  EXPECT_EQ(FakeControl::IdOf(control_.spawned[1]), "up-7-2-1");
  EXPECT_EQ(s.running(), 2);
  s.RunOnce(t0_ + 10ms);
  EXPECT_EQ(control_.spawned.size(), 2u) << "a running slot was started again";
}

TEST_F(SupervisorTest, ADeadWorkerIsReportedThenRestartedWithBackoff) {
  WorkerSupervisor s(Options(1), control_, [&](const SupervisedExit& e) { exits_.push_back(e); });
  s.RunOnce(t0_);
  control_.exited[100] = kKilled;
  SteadyTime next = s.RunOnce(t0_ + 1s);
  ASSERT_EQ(exits_.size(), 1u);
  EXPECT_EQ(exits_[0].worker_id, "up-7-1-1");
  EXPECT_EQ(exits_[0].pid, 100);
  EXPECT_EQ(exits_[0].wait_status, kKilled);
  EXPECT_FALSE(exits_[0].stopping);
  EXPECT_EQ(s.running(), 0);
  EXPECT_LE(next, t0_ + 2s);

  // Backoff 1 s: not before, then a new generation in the same slot.
  s.RunOnce(t0_ + 1s + 999ms);
  EXPECT_EQ(control_.spawned.size(), 1u);
  s.RunOnce(t0_ + 2s);
  ASSERT_EQ(control_.spawned.size(), 2u);
  EXPECT_EQ(FakeControl::IdOf(control_.spawned[1]), "up-7-1-2");

  // A second quick death waits 2 s, a third 4 s.
  control_.exited[101] = 1 << 8;  // exited with status 1
  s.RunOnce(t0_ + 3s);
  s.RunOnce(t0_ + 4s + 999ms);
  EXPECT_EQ(control_.spawned.size(), 2u);
  s.RunOnce(t0_ + 5s);
  ASSERT_EQ(control_.spawned.size(), 3u);
  control_.exited[102] = 0;
  s.RunOnce(t0_ + 6s);
  s.RunOnce(t0_ + 9s + 999ms);
  EXPECT_EQ(control_.spawned.size(), 3u);
  s.RunOnce(t0_ + 10s);
  EXPECT_EQ(control_.spawned.size(), 4u);

  // One that ran stable_after restarts after the base again.
  control_.exited[103] = kKilled;
  s.RunOnce(t0_ + 10s + SupervisorOptions().stable_after);
  s.RunOnce(t0_ + 11s + SupervisorOptions().stable_after);
  EXPECT_EQ(control_.spawned.size(), 5u);
}

TEST_F(SupervisorTest, StoppingSignalsEveryWorkerAndRestartsNone) {
  WorkerSupervisor s(Options(2), control_, [&](const SupervisedExit& e) { exits_.push_back(e); });
  s.RunOnce(t0_);
  s.BeginStop();
  EXPECT_EQ(control_.signals, (std::vector<std::pair<pid_t, int>>{{100, SIGTERM}, {101, SIGTERM}}));
  control_.exited[100] = 0;
  control_.exited[101] = 0;
  s.RunOnce(t0_ + 1s);
  s.RunOnce(t0_ + 1h);
  EXPECT_EQ(control_.spawned.size(), 2u);
  ASSERT_EQ(exits_.size(), 2u);
  EXPECT_TRUE(exits_[0].stopping);
  EXPECT_TRUE(s.WaitAllExited(0ms));
}

TEST(DescribeWaitStatusTest, SaysHowItEnded) {
  EXPECT_EQ(DescribeWaitStatus(3 << 8), "exited with status 3");
  EXPECT_EQ(DescribeWaitStatus(SIGKILL).rfind("was killed by signal 9", 0), 0u) << DescribeWaitStatus(SIGKILL);
}

}  // namespace
}  // namespace jobwarden
