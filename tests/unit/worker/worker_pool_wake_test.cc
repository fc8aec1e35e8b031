// How the worker pool wakes its slots: one fetch wakes one idle slot, and a
// slot that takes a job wakes the next while jobs are still queued (chain
// wake). The rule must never leave a queued job behind a slow handler while
// another slot sleeps.
#include <gtest/gtest.h>

#include <atomic>

#include "testutil/process.h"
#include "unit/worker/worker_bundle.h"
#include "worker/worker_pool.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::Gate;
using testing::kPatience;
using testing::Req;
using testing::WaitUntil;
using testing::WorkerBundle;

// One fetch leases every job at once (they are queued before the pool
// starts), and only one slot is woken for the batch: the slots that take the
// blocking jobs must each wake the next, or the quick job would wait for them.
TEST(WorkerPoolWakeTest, JobsOfOneFetchStartOnOtherSlotsWhileEarlierOnesBlock) {
  WorkerBundle b;
  WorkerPool pool(*b.backend, WorkerBundle::Options(4));
  auto gate = std::make_shared<Gate>();
  pool.Handle("block", [gate](JobContext&) { gate->Wait(); });
  pool.Handle("quick", [](JobContext&) {});
  std::vector<JobId> blocked;
  for (int i = 0; i < 3; ++i) blocked.push_back(b.Enqueue(Req("block")));  // leased first (lower ids)
  const JobId quick = b.Enqueue(Req("quick"));
  ASSERT_OK(pool.Start());

  // Three slots block at once, and the fourth job runs meanwhile.
  EXPECT_TRUE(WaitUntil([&] { return gate->waiting() == 3; }, kPatience));
  EXPECT_EQ(b.WaitTerminal(quick).state, JobState::kSucceeded);
  EXPECT_EQ(gate->waiting(), 3);  // still blocked: the quick job did not wait for them

  gate->Open();
  for (JobId id : blocked) EXPECT_EQ(b.WaitTerminal(id).state, JobState::kSucceeded);
  pool.Drain();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_EQ(pool.stats().succeeded, 4);
}

// Two slots: one blocks, and every later job, one fetch at a time, still
// runs on the other slot.
TEST(WorkerPoolWakeTest, OneBlockedSlotDoesNotHoldBackLaterJobs) {
  WorkerBundle b;
  WorkerPool pool(*b.backend, WorkerBundle::Options(2));
  auto gate = std::make_shared<Gate>();
  std::atomic<int> quick_runs{0};
  pool.Handle("block", [gate](JobContext&) { gate->Wait(); });
  pool.Handle("quick", [&](JobContext&) { ++quick_runs; });
  ASSERT_OK(pool.Start());
  const JobId blocked = b.Enqueue(Req("block"));
  ASSERT_TRUE(WaitUntil([&] { return gate->waiting() == 1; }, kPatience));
  for (int i = 0; i < 5; ++i) {
    const JobId id = b.Enqueue(Req("quick"));
    EXPECT_EQ(b.WaitTerminal(id).state, JobState::kSucceeded);
  }
  EXPECT_EQ(quick_runs.load(), 5);
  EXPECT_EQ(gate->waiting(), 1);

  gate->Open();
  EXPECT_EQ(b.WaitTerminal(blocked).state, JobState::kSucceeded);
  pool.Drain();
  EXPECT_EQ(pool.Wait(), 0);
}

}  // namespace
}  // namespace jobwarden
