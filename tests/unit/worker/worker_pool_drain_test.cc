// A drain that begins while a fetch is in flight: the jobs that fetch leased
// are handed back as `interrupted` (no attempt spent), never left held by a
// process that is about to exit (where they would come back as worker_lost,
// an attempt spent) or, with nobody to run them, to their lease's expiry.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "unit/worker/worker_bundle.h"

namespace jobwarden {
namespace {

using testing::ForwardingBackend;
using testing::kPatience;
using testing::WorkerBundle;

// Fetch leases at once, then holds its answer until released: the window in which the drain begins.
class HeldFetchBackend final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  // Waits until a fetch has leased at least one job and is holding its answer.
  bool WaitHolding() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return holding_; });
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

  Result<std::vector<Job>> Fetch(const FetchRequest& r, Duration wait) override {
    Result<std::vector<Job>> jobs = inner_.Fetch(r, wait);
    if (!jobs.ok() || jobs->empty()) return jobs;
    std::unique_lock<std::mutex> lock(mu_);
    holding_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
    return jobs;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool holding_ = false;   // GUARDED_BY(mu_)
  bool released_ = false;  // GUARDED_BY(mu_)
};

TEST(WorkerPoolDrainTest, JobsLeasedByAFetchInFlightWhenTheDrainBeginsAreHandedBackAsInterrupted) {
  WorkerBundle b;
  HeldFetchBackend held(*b.backend);
  EnqueueRequest request;
  request.kind = "work";
  request.max_attempts = 3;
  const JobId id = b.Enqueue(request);
  WorkerPool pool(held, WorkerBundle::Options(/*concurrency=*/1));
  std::atomic<int> runs{0};
  pool.Handle("work", [&](JobContext&) { ++runs; });
  ASSERT_OK(pool.Start());
  ASSERT_TRUE(held.WaitHolding()) << "the pool never fetched the job";
  ASSERT_EQ(b.Get(id).state, JobState::kRunning);

  pool.Drain();
  int exit_code = -1;
  std::thread waiter([&] { exit_code = pool.Wait(); });  // nothing runs: it stops, joining the fetcher
  // Let Wait() mark the pool stopped (its slots then exit) before the answer
  // arrives: the case that left the job held. In the other order a slot hands
  // it back; both must end the same way.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  held.Release();
  waiter.join();

  EXPECT_EQ(exit_code, 0);
  EXPECT_EQ(runs, 0);
  const Job j = b.Get(id);
  EXPECT_EQ(j.state, JobState::kAvailable);
  EXPECT_EQ(j.attempt, 0) << "an interrupted run spends no attempt";
  ASSERT_FALSE(j.errors.empty());
  EXPECT_EQ(j.errors.back().error_class, ErrorClass::kInterrupted);
  EXPECT_NE(j.errors.back().message.find("before it started"), std::string::npos) << j.errors.back().message;
}

}  // namespace
}  // namespace jobwarden
