// Lease timing in a real `jobwarden worker` process (DESIGN.md timing rules).
#include <thread>

#include "integration/worker_test_support.h"

namespace jobwarden::testing {
namespace {

using WorkerLeaseTest = WorkerProcessTest;

// An idle worker long-polls for work. A job enqueued by another process is
// found by a poll somewhere inside that wait, later than one TTL (1 s) after
// the fetch was sent. Its lease starts when it is granted: the worker must not
// take it for already expired and stop it at once (self-fencing is for leases
// it could not renew, not for new ones).
TEST_F(WorkerLeaseTest, JobFoundLateInALongPollIsNotStoppedAsUnrenewed) {
  const std::string script = WriteScript("quick.sh", R"(#!/bin/sh
printf '{"result": {"attempt": %s}}\n' "$JOBWARDEN_ATTEMPT" >&3
)");
  const std::string config =
      WriteConfig("lease_ttl = \"1s\"\ngrace = \"300ms\"\nconcurrency = 1", "quick", {"sh", script});
  StartWorker(config);
  ASSERT_TRUE(WaitUntil([&] { return LiveWorkers() >= 1; }, 20s)) << "the worker never registered";
  // Not a timing assertion: this only puts the worker well into a long poll.
  std::this_thread::sleep_for(1500ms);

  const JobId id = Enqueue(Request("quick", 5min, 1));
  ASSERT_TRUE(WaitUntil([&] { return IsTerminal(Get(id).state); }, 30s)) << "state " << ToString(Get(id).state);
  const Job job = Get(id);
  EXPECT_EQ(job.state, JobState::kSucceeded)
      << (job.errors.empty() ? "" : std::string(ToString(job.errors[0].error_class)) + ": " + job.errors[0].message);
  EXPECT_TRUE(job.errors.empty());
}

}  // namespace
}  // namespace jobwarden::testing
