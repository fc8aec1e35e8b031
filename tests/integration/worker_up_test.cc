// `jobwarden up` with the demo's own files (examples/demo.toml and
// examples/demo-jobs.toml), so the README's main command cannot silently rot.
#include <signal.h>

#include "integration/worker_test_support.h"

namespace jobwarden::testing {
namespace {

using WorkerUpTest = WorkerProcessTest;

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
  const std::vector<std::string> up{JOBWARDEN_CLI_BINARY, "up",     "--db",
                                    db_,                  "--config", examples + "/demo.toml",
                                    "--seed",             examples + "/demo-jobs.toml"};
  auto first = std::make_unique<ChildProcess>(up, dir_.File("up-1"));
  ASSERT_TRUE(WaitUntil([&] { return CountJobs(*engine_) == 6; }, 30s)) << first->Stderr();
  ASSERT_TRUE(WaitUntil([&] { return Get(1).state == JobState::kRunning && Get(2).state == JobState::kRunning; },
                        30s))
      << first->Stderr();
  EXPECT_EQ(Get(1).kind, "hang");

  // Two signals sent at once would merge into one pending signal: the second
  // goes after the first was taken (the drain began).
  first->Signal(SIGTERM);
  ASSERT_TRUE(WaitUntil([&] { return first->Stderr().find("draining") != std::string::npos; }, 30s))
      << first->Stderr();
  first->Signal(SIGTERM);
  const int status = first->WaitFor(30s);
  ASSERT_TRUE(ExitedWith(status, 0)) << "wait status " << status << "\n" << first->Stderr();
  for (JobId id : {1, 2}) {
    const Job j = Get(id);
    EXPECT_EQ(j.state, JobState::kAvailable);
    ASSERT_FALSE(j.errors.empty());
    EXPECT_EQ(j.errors.back().error_class, ErrorClass::kInterrupted) << j.errors.back().message;
  }

  ChildProcess second(up, dir_.File("up-2"));
  ASSERT_TRUE(WaitUntil([&] { return Get(1).state != JobState::kAvailable; }, 30s)) << second.Stderr();
  EXPECT_NE(second.Stderr().find("not enqueueing"), std::string::npos) << second.Stderr();
  EXPECT_EQ(CountJobs(*engine_), 6u) << "a restart enqueued the seed jobs again";
}

}  // namespace
}  // namespace jobwarden::testing
