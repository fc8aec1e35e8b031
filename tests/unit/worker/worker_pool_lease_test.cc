// The worker pool's lease timing: a lease is timed from when the request that
// granted or renewed it was sent (DESIGN timing rules), so a job found late in
// a long poll must be renewed before the watchdog takes it for unrenewed.
#include <gtest/gtest.h>

#include <atomic>

#include "testutil/process.h"
#include "unit/worker/worker_bundle.h"
#include "worker/worker_pool.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::Req;
using testing::WorkerBundle;

// A long poll that finds its job at the very end: the first Fetch sleeps 95%
// of the wait it was given, then leases. Later fetches are forwarded as they are.
class LateLeaseBackend final : public Backend {
 public:
  explicit LateLeaseBackend(Backend& inner) : inner_(inner) {}
  std::atomic<int> heartbeats{0};

  Result<std::string> Register(const WorkerRecord& w) override { return inner_.Register(w); }
  Status Deregister(const std::string& id) override { return inner_.Deregister(id); }
  Result<std::vector<Job>> Fetch(const FetchRequest& r, Duration wait) override {
    if (!first_done_.exchange(true)) {
      std::this_thread::sleep_for(wait * 95 / 100);
      return inner_.Fetch(r, Duration(0));
    }
    return inner_.Fetch(r, wait);
  }
  Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& r) override {
    ++heartbeats;
    return inner_.Heartbeat(r);
  }
  Result<std::vector<Status>> CompleteMany(const std::vector<CompleteRequest>& r) override {
    return inner_.CompleteMany(r);
  }
  Status Fail(const FailRequest& r) override { return inner_.Fail(r); }
  void WakeAll() override { inner_.WakeAll(); }

 private:
  Backend& inner_;
  std::atomic<bool> first_done_{false};
};

// Regression: with fetch_wait near the TTL, the lease was timed from the
// fetch's send and the job was self-fenced at once ("lease not renewed"),
// never reported, and came back as lease_expired with an attempt spent.
TEST(WorkerPoolLeaseTest, JobFoundLateInALongPollIsRenewedNotSelfFenced) {
  WorkerBundle b;
  LateLeaseBackend backend(*b.backend);
  WorkerOptions options = WorkerBundle::Options(1);
  options.fetch_wait = 800ms;  // most of the 1 s TTL: past TTL - grace (700 ms)
  const JobId id = b.Enqueue(Req("work", 1));
  WorkerPool pool(backend, options);
  // Runs past the point where a lease timed from the fetch's send ends, so the
  // job succeeds only if the pool renewed it.
  pool.Handle("work", [](JobContext& ctx) {
    const auto end = std::chrono::steady_clock::now() + 1200ms;
    while (std::chrono::steady_clock::now() < end) {
      ctx.ThrowIfStopped();
      std::this_thread::sleep_for(10ms);
    }
  });
  ASSERT_OK(pool.Start());
  const Job j = b.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kSucceeded)
      << (j.errors.empty() ? "" : std::string(ToString(j.errors[0].error_class)) + ": " + j.errors[0].message);
  EXPECT_TRUE(j.errors.empty());
  EXPECT_EQ(j.attempt, 1);
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_EQ(pool.stats().lost, 0);
  EXPECT_EQ(pool.stats().succeeded, 1);
  EXPECT_GE(backend.heartbeats.load(), 1);
}

// The long poll of one fetch is bounded by the lease timing, whatever
// fetch_wait says, so a job found at its end still has most of its lease.
TEST(WorkerPoolLeaseTest, FetchWaitIsCappedByTheLeaseTtl) {
  WorkerBundle b;
  struct WaitRecorder final : public Backend {
    explicit WaitRecorder(Backend& b) : inner(b) {}
    Backend& inner;
    std::atomic<std::int64_t> max_wait_ms{0};
    Result<std::string> Register(const WorkerRecord& w) override { return inner.Register(w); }
    Status Deregister(const std::string& id) override { return inner.Deregister(id); }
    Result<std::vector<Job>> Fetch(const FetchRequest& r, Duration wait) override {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
      if (ms > max_wait_ms) max_wait_ms = ms;
      return inner.Fetch(r, wait);
    }
    Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& r) override { return inner.Heartbeat(r); }
    Result<std::vector<Status>> CompleteMany(const std::vector<CompleteRequest>& r) override {
      return inner.CompleteMany(r);
    }
    Status Fail(const FailRequest& r) override { return inner.Fail(r); }
    void WakeAll() override { inner.WakeAll(); }
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

}  // namespace
}  // namespace jobwarden
