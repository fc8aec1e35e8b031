// The worker pool reports successes in batches: one CompleteMany for every
// success since the last send, each job settled by its own answer; where the
// backend settles and leases in one write (embedded mode), the fetcher sends
// them with its next fetch, and never holds them behind a long-poll.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "testutil/process.h"
#include "unit/worker/worker_bundle.h"
#include "worker/worker_pool.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::CountingBackend;
using testing::ForwardingBackend;
using testing::Req;
using testing::WaitUntil;
using testing::WorkerBundle;

// Holds the first CompleteMany until the test opens it, and records the size
// of every CompleteMany.
class HeldCompleteBackend final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  std::atomic<bool> open{false};
  std::atomic<bool> first_waiting{false};

  std::vector<std::size_t> sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return sizes_;
  }
  Result<std::vector<Status>> CompleteMany(const std::vector<CompleteRequest>& r) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      sizes_.push_back(r.size());
    }
    first_waiting = true;
    WaitUntil([&] { return open.load(); }, 10'000ms);
    return inner_.CompleteMany(r);
  }

 private:
  std::mutex mu_;
  std::vector<std::size_t> sizes_;  // GUARDED_BY(mu_)
};

TEST(WorkerPoolBatchTest, SuccessesFinishedDuringASendGoInTheNextBatch) {
  WorkerBundle b;
  HeldCompleteBackend backend(*b.backend);
  WorkerPool pool(backend, WorkerBundle::Options(4));
  std::atomic<int> ran{0};
  pool.Handle("noop", [&](JobContext&) { ++ran; });
  std::vector<JobId> ids;
  ids.push_back(b.Enqueue(Req("noop")));
  ASSERT_OK(pool.Start());
  // The first success is sent at once (an idle pool does not wait to fill a batch)...
  ASSERT_TRUE(WaitUntil([&] { return backend.first_waiting.load(); }, 10'000ms));
  // ...and while that send is held, four more run: their slots were freed by
  // the handlers' return, not by the engine's answer.
  for (int i = 0; i < 4; ++i) ids.push_back(b.Enqueue(Req("noop")));
  ASSERT_TRUE(WaitUntil([&] { return ran.load() == 5; }, 10'000ms));
  std::this_thread::sleep_for(50ms);  // the last handler's return reaches the completer's queue
  backend.open = true;
  for (JobId id : ids) EXPECT_EQ(b.WaitTerminal(id).state, JobState::kSucceeded);
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_EQ(pool.stats().succeeded, 5);
  EXPECT_EQ(backend.sizes(), (std::vector<std::size_t>{1, 4}));
}

TEST(WorkerPoolBatchTest, AResultThatIsNotJsonFailsItsJobAloneNotItsBatch) {
  WorkerBundle b;
  HeldCompleteBackend backend(*b.backend);
  WorkerPool pool(backend, WorkerBundle::Options(4));
  std::atomic<int> ran{0};
  pool.Handle("noop", [&](JobContext&) { ++ran; });
  pool.Handle("bad", [&](JobContext& ctx) {
    ctx.SetResult("this is not JSON");
    ++ran;
  });
  const JobId first = b.Enqueue(Req("noop"));
  ASSERT_OK(pool.Start());
  ASSERT_TRUE(WaitUntil([&] { return backend.first_waiting.load(); }, 10'000ms));
  // While the first success is held, these four finish: one batch.
  std::vector<JobId> good;
  for (int i = 0; i < 3; ++i) good.push_back(b.Enqueue(Req("noop")));
  const JobId bad = b.Enqueue(Req("bad"));
  ASSERT_TRUE(WaitUntil([&] { return ran.load() == 5; }, 10'000ms));
  std::this_thread::sleep_for(50ms);
  backend.open = true;
  EXPECT_EQ(b.WaitTerminal(first).state, JobState::kSucceeded);
  for (JobId id : good) EXPECT_EQ(b.WaitTerminal(id).state, JobState::kSucceeded) << id;
  const Job failed = b.WaitFor(
      bad, [](const Job& j) { return !j.errors.empty(); }, "an error entry");
  EXPECT_NE(failed.state, JobState::kSucceeded);
  EXPECT_NE(failed.errors.back().message.find("not JSON"), std::string::npos) << failed.errors.back().message;
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_EQ(backend.sizes(), (std::vector<std::size_t>{1, 3}));
}

TEST(WorkerPoolBatchTest, SuccessesTravelWithTheNextFetchEachReportedOnce) {
  WorkerBundle b;
  CountingBackend backend(*b.backend);
  WorkerPool pool(backend, WorkerBundle::Options(4));
  std::atomic<int> ran{0};
  pool.Handle("noop", [&](JobContext&) { ++ran; });
  std::vector<JobId> ids;
  const EnqueueRequest noop = Req("noop");
  for (int i = 0; i < 300; ++i) ids.push_back(b.Enqueue(noop));
  ASSERT_OK(pool.Start());
  for (JobId id : ids) ASSERT_EQ(b.WaitTerminal(id).state, JobState::kSucceeded) << id;
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_EQ(ran.load(), 300);
  EXPECT_EQ(pool.stats().succeeded, 300);
  EXPECT_EQ(backend.with_fetch.load() + backend.alone.load(), 300);  // each success sent once
  EXPECT_GT(backend.with_fetch.load(), 0) << "no success went with a fetch";
}

TEST(WorkerPoolBatchTest, ASuccessIsNotHeldBehindALongPoll) {
  WorkerBundle b;
  CountingBackend backend(*b.backend);
  WorkerOptions o = WorkerBundle::Options(2);
  o.lease_ttl = std::chrono::seconds(120);  // long-polls of up to fetch_wait
  o.fetch_wait = std::chrono::seconds(30);
  WorkerPool pool(backend, o);
  pool.Handle("noop", [](JobContext&) {});
  ASSERT_OK(pool.Start());
  for (int i = 0; i < 3; ++i) {
    // The queue is empty, so the fetcher waits in a 30 s poll while the job's
    // success is reported: it must not wait for the poll to end.
    std::this_thread::sleep_for(100ms);
    const JobId id = b.Enqueue(Req("noop"));
    ASSERT_TRUE(WaitUntil([&] { return b.Get(id).state == JobState::kSucceeded; }, 10'000ms))
        << "job " << id << " is " << ToString(b.Get(id).state);
  }
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_EQ(pool.stats().succeeded, 3);
}

}  // namespace
}  // namespace jobwarden
