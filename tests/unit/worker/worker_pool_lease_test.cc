// The worker pool's lease timing, and its hooks for out-of-band stops.
//
// Lease timing: a lease is timed from when the request that
// granted or renewed it was sent (DESIGN timing rules), so a job found late in
// a long poll must be renewed before the watchdog takes it for unrenewed.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stop_token>
#include <vector>

#include "testutil/fake_monotonic_clock.h"
#include "testutil/process.h"
#include "unit/worker/worker_bundle.h"
#include "worker/worker_pool.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::ForwardingBackend;
using testing::Req;
using testing::WorkerBundle;

// A long poll that finds its job at the very end: the first Fetch takes 95%
// of the wait it was given (on the pool's fake clock), then leases. Later
// fetches are forwarded as they are. Records the (fake) send time of every
// heartbeat.
class LateLeaseBackend final : public ForwardingBackend {
 public:
  LateLeaseBackend(Backend& inner, testing::FakeMonotonicClock& clock) : ForwardingBackend(inner), clock_(clock) {}

  Result<std::vector<Job>> Fetch(const FetchRequest& r, Duration wait) override {
    if (!first_done_.exchange(true)) {
      clock_.Advance(wait * 95 / 100);
      return inner_.Fetch(r, Duration(0));
    }
    return inner_.Fetch(r, wait);
  }
  Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& r) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      sent_.push_back(clock_.Now());
    }
    return inner_.Heartbeat(r);
  }
  std::vector<MonotonicClock::TimePoint> sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }

 private:
  testing::FakeMonotonicClock& clock_;
  std::atomic<bool> first_done_{false};
  mutable std::mutex mu_;
  std::vector<MonotonicClock::TimePoint> sent_;  // GUARDED_BY(mu_)
};

// Regression: with fetch_wait near the TTL, the lease was timed from the
// fetch's send and the job was self-fenced at once ("lease not renewed"),
// never reported, and came back as lease_expired with an attempt spent.
// On a fake clock: the late lease is renewed at once (the clock standing
// still), and the job then keeps it through heartbeats for more than a TTL.
TEST(WorkerPoolLeaseTest, JobFoundLateInALongPollIsRenewedNotSelfFenced) {
  WorkerBundle b;
  testing::FakeMonotonicClock clock;
  LateLeaseBackend backend(*b.backend, clock);
  WorkerOptions options = WorkerBundle::Options(1);
  options.fetch_wait = 800ms;  // most of the 1 s TTL: past TTL - grace (700 ms)
  const JobId id = b.Enqueue(Req("work", 1));
  WorkerPool pool(backend, options, &clock);
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  pool.Handle("work", [&](JobContext& ctx) {
    started = true;
    while (!release) {
      ctx.ThrowIfStopped();
      std::this_thread::sleep_for(1ms);
    }
  });
  ASSERT_OK(pool.Start());
  ASSERT_TRUE(testing::WaitUntil([&] { return started.load(); }, testing::kPatience));
  // Found late in its poll: a heartbeat goes out with no time passing (the
  // periodic one is due only a third of a TTL after the pool started).
  ASSERT_TRUE(testing::WaitUntil([&] { return !backend.sent().empty(); }, testing::kPatience));
  // Then 1.36 s in steps of 170 ms. A heartbeat is due a third of a TTL after
  // the last one (every second step): it is waited for, so the watchdog never
  // sees the clock more than 510 ms past a renewal, short of the fence
  // (TTL - grace - margin = 660 ms). Without renewals the job is fenced.
  for (int step = 0; step < 8; ++step) {
    const std::size_t before = backend.sent().size();
    clock.Advance(170ms);
    if (clock.Now() - backend.sent().back() >= testing::kTestLeaseTtl / 3 + 1ms) {
      ASSERT_TRUE(testing::WaitUntil([&] { return backend.sent().size() > before; }, testing::kPatience))
          << "no heartbeat at step " << step;
    }
  }
  release = true;
  const Job j = b.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kSucceeded)
      << (j.errors.empty() ? "" : std::string(ToString(j.errors[0].error_class)) + ": " + j.errors[0].message);
  EXPECT_TRUE(j.errors.empty());
  EXPECT_EQ(j.attempt, 1);
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_EQ(pool.stats().lost, 0);
  EXPECT_EQ(pool.stats().succeeded, 1);
  EXPECT_GE(backend.sent().size(), 5u);  // the renewal and four periodic heartbeats
}

// The long poll of one fetch is bounded by the lease timing, whatever
// fetch_wait says, so a job found at its end still has most of its lease.
TEST(WorkerPoolLeaseTest, FetchWaitIsCappedByTheLeaseTtl) {
  WorkerBundle b;
  struct WaitRecorder final : public ForwardingBackend {
    using ForwardingBackend::ForwardingBackend;
    std::atomic<std::int64_t> max_wait_ms{0};
    Result<std::vector<Job>> Fetch(const FetchRequest& r, Duration wait) override {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
      if (ms > max_wait_ms) max_wait_ms = ms;
      return inner_.Fetch(r, wait);
    }
  } backend(*b.backend);
  WorkerOptions options = WorkerBundle::Options(1);
  options.fetch_wait = 5s;
  WorkerPool pool(backend, options);
  ASSERT_OK(pool.Start());
  ASSERT_TRUE(testing::WaitUntil([&] { return backend.max_wait_ms > 0; }, 10'000ms));
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  // (1 s TTL - 300 ms grace) / 3
  EXPECT_LE(backend.max_wait_ms.load(), 234);
}

// Hides cancel answers from heartbeats, so only an out-of-band notice (the
// remote backend's session stream) can stop a job.
class NoCancelAnswersBackend final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& r) override {
    auto answers = inner_.Heartbeat(r);
    if (answers.ok()) {
      for (HeartbeatResult& a : *answers) {
        if (a.answer == HeartbeatAnswer::kCancel) a.answer = HeartbeatAnswer::kContinue;
      }
    }
    return answers;
  }
};

// What the running handler exposes to the test: its lease and stop token.
struct Running {
  std::mutex mu;
  std::int64_t token = 0;  // GUARDED_BY(mu)
  std::stop_token stop;    // GUARDED_BY(mu)
  std::atomic<bool> started{false};
};

InProcessHandler WaitForStop(const std::shared_ptr<Running>& r) {
  return [r](JobContext& ctx) {
    {
      std::lock_guard<std::mutex> lock(r->mu);
      r->token = ctx.lease_token();
      r->stop = ctx.stop_token();
    }
    r->started = true;
    while (true) {
      ctx.ThrowIfStopped();
      std::this_thread::sleep_for(5ms);
    }
  };
}

TEST(WorkerPoolHooksTest, CancelNoticeStopsThatJobNow) {
  WorkerBundle b;
  NoCancelAnswersBackend backend(*b.backend);
  WorkerPool pool(backend, WorkerBundle::Options(1));
  auto running = std::make_shared<Running>();
  pool.Handle("work", WaitForStop(running));
  ASSERT_OK(pool.Start());
  const JobId id = b.Enqueue(Req("work", 1));
  ASSERT_TRUE(testing::WaitUntil([&] { return running->started.load(); }, 10'000ms));
  ASSERT_TRUE(b.engine->Cancel(id).ok());
  std::int64_t token;
  std::stop_token stop;
  {
    std::lock_guard<std::mutex> lock(running->mu);
    token = running->token;
    stop = running->stop;
  }
  // Another lease of the job (an older or newer token) and another job are not touched.
  pool.CancelJob(id, token + 1, CancelReason::kUser);
  pool.CancelJob(id + 1000, token, CancelReason::kUser);
  EXPECT_FALSE(stop.stop_requested());
  pool.CancelJob(id, token, CancelReason::kUser);
  EXPECT_TRUE(stop.stop_requested());  // at once, not at the next heartbeat
  const Job j = b.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kCancelled);
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_EQ(pool.stats().lost, 0);
}

TEST(WorkerPoolHooksTest, LostLeasesAreStoppedAtOnceAndNotReported) {
  WorkerBundle b;
  WorkerPool pool(*b.backend, WorkerBundle::Options(1));
  auto running = std::make_shared<Running>();
  pool.Handle("work", WaitForStop(running));
  ASSERT_OK(pool.Start());
  const JobId id = b.Enqueue(Req("work", 1));
  ASSERT_TRUE(testing::WaitUntil([&] { return running->started.load(); }, 10'000ms));
  std::int64_t token;
  std::stop_token stop;
  {
    std::lock_guard<std::mutex> lock(running->mu);
    token = running->token;
    stop = running->stop;
  }
  pool.LeasesLost({{id, token + 1}});
  EXPECT_FALSE(stop.stop_requested());
  pool.LeasesLost({{id, token}});
  EXPECT_TRUE(stop.stop_requested());
  ASSERT_TRUE(testing::WaitUntil([&] { return pool.stats().lost == 1; }, 10'000ms));
  // Not reported by the worker: the engine takes it back (lease expiry or omission).
  const Job j = b.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_TRUE(j.errors[0].error_class == ErrorClass::kLeaseExpired ||
              j.errors[0].error_class == ErrorClass::kWorkerLost)
      << ToString(j.errors[0].error_class);
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_EQ(pool.stats().succeeded + pool.stats().failed, 0);
}

}  // namespace
}  // namespace jobwarden
