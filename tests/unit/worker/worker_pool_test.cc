// The worker pool with in-process handlers: outcomes, limits, abandonment of
// hung handlers, drain and resume, self-fencing.
#include "worker/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "testutil/fake_monotonic_clock.h"
#include "testutil/process.h"
#include "unit/worker/worker_bundle.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::CutOffBackend;
using testing::Gate;
using testing::kPatience;
using testing::Req;
using testing::WaitUntil;
using testing::WorkerBundle;

class WorkerPoolTest : public ::testing::Test {
 protected:
  ~WorkerPoolTest() override {
    gate_->Open();
    // Abandoned threads return (and touch nothing of the pool) once released.
    WaitUntil([&] { return gate_->waiting() == 0; }, 10'000ms);
  }
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
  WorkerBundle b_;
};

TEST_F(WorkerPoolTest, SuccessReportsResultProgressAndCheckpoint) {
  WorkerPool pool(*b_.backend, WorkerBundle::Options());
  std::atomic<int> seen_attempt{0};
  pool.Handle("resize", [&](JobContext& ctx) {
    seen_attempt = ctx.attempt();
    EXPECT_TRUE(ctx.deadline().has_value());
    EXPECT_GT(ctx.lease_token(), 0);
    EXPECT_FALSE(ctx.last_checkpoint().has_value());
    ctx.ReportProgress(3, 3, "resized");
    ctx.Checkpoint(R"({"next": 3})");
    ctx.SetResult(R"({"ok": true})");
  });
  ASSERT_OK(pool.Start());
  const JobId id = b_.Enqueue(Req("resize"));
  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(nlohmann::json::parse(j.result.value_or("null")), nlohmann::json::parse(R"({"ok": true})"));
  EXPECT_EQ(j.progress.done, 3);
  EXPECT_EQ(j.progress.message, "resized");
  EXPECT_EQ(j.checkpoint.value_or(""), R"({"next":3})");
  EXPECT_EQ(seen_attempt, 1);
  pool.Drain();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_EQ(pool.stats().succeeded, 1);
}

TEST_F(WorkerPoolTest, JobErrorsClassifyFailures) {
  WorkerPool pool(*b_.backend, WorkerBundle::Options());
  pool.Handle("bad_input", [](JobContext&) { throw JobError(ErrorClass::kPermanent, "width must be positive"); });
  std::atomic<int> slow_runs{0};
  pool.Handle("slow_down", [&](JobContext& ctx) {
    EXPECT_EQ(ctx.attempt(), 1);  // a rate-limited run gives its attempt back
    if (++slow_runs == 1) throw JobError(ErrorClass::kRateLimited, "429 from the API", 100ms);
  });
  pool.Handle("boom", [](JobContext&) { throw std::runtime_error("connection reset"); });
  pool.Handle("sneaky", [](JobContext&) { throw JobError(ErrorClass::kCancelled, "not mine to say"); });
  pool.Handle("spurious_stop", [](JobContext&) { throw StopRequested(); });
  pool.Handle("mute", [](JobContext&) { throw JobError(ErrorClass::kPermanent, ""); });
  pool.Handle("bad_result", [](JobContext& ctx) { ctx.SetResult("{not json"); });
  ASSERT_OK(pool.Start());

  const JobId bad = b_.Enqueue(Req("bad_input"));
  const JobId slow = b_.Enqueue(Req("slow_down", 1));
  const JobId boom = b_.Enqueue(Req("boom", 1));
  const JobId sneaky = b_.Enqueue(Req("sneaky", 1));
  const JobId stop = b_.Enqueue(Req("spurious_stop", 1));
  const JobId mute = b_.Enqueue(Req("mute", 1));
  const JobId bad_result = b_.Enqueue(Req("bad_result", 1));

  Job j = b_.WaitTerminal(bad);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kPermanent);
  EXPECT_NE(j.errors[0].message.find("width must be positive"), std::string::npos);

  // rate_limited does not spend an attempt: with max_attempts 1 it still runs again.
  j = b_.WaitTerminal(slow);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kRateLimited);
  EXPECT_FALSE(j.errors[0].counted);

  j = b_.WaitTerminal(boom);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kTransient);
  EXPECT_NE(j.errors[0].message.find("connection reset"), std::string::npos);

  j = b_.WaitTerminal(sneaky);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.state, JobState::kFailed);  // not cancelled: a handler cannot declare that
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kTransient);

  j = b_.WaitTerminal(stop);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kTransient);

  j = b_.WaitTerminal(mute);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kPermanent);
  EXPECT_FALSE(j.errors[0].message.empty());

  j = b_.WaitTerminal(bad_result);  // reported as a failure, not left to expire
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kTransient);
  EXPECT_NE(j.errors[0].message.find("result"), std::string::npos);
}

TEST_F(WorkerPoolTest, CooperativeHandlerStopsAtItsTimeout) {
  WorkerPool pool(*b_.backend, WorkerBundle::Options());
  pool.Handle("loop", [](JobContext& ctx) {
    while (true) {
      ctx.ThrowIfStopped();
      std::this_thread::sleep_for(5ms);
    }
  });
  ASSERT_OK(pool.Start());
  const JobId id = b_.Enqueue(Req("loop", 1, 500ms));
  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kTimeout);
  EXPECT_EQ(j.errors[0].limit.value_or(""), "timeout");
  EXPECT_EQ(pool.stats().abandoned, 0);
}

TEST_F(WorkerPoolTest, CancelReachesTheHandler) {
  WorkerPool pool(*b_.backend, WorkerBundle::Options());
  std::atomic<bool> running{false};
  pool.Handle("loop", [&](JobContext& ctx) {
    running = true;
    while (!ctx.stop_requested()) std::this_thread::sleep_for(5ms);
    ctx.ThrowIfStopped();
  });
  ASSERT_OK(pool.Start());
  const JobId id = b_.Enqueue(Req("loop"));
  ASSERT_TRUE(WaitUntil([&] { return running.load(); }, kPatience));
  ASSERT_TRUE(b_.engine->Cancel(id).ok());
  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kCancelled);
  ASSERT_FALSE(j.errors.empty());
  EXPECT_EQ(j.errors.back().error_class, ErrorClass::kCancelled);
}

TEST_F(WorkerPoolTest, HungHandlersAreAbandonedAndTheSlotsKeepWorking) {
  WorkerPool pool(*b_.backend, WorkerBundle::Options(2));
  auto gate = gate_;
  pool.Handle("hang", [gate](JobContext&) { gate->Wait(); });  // ignores every stop request
  pool.Handle("quick", [](JobContext& ctx) { ctx.SetResult("\"done\""); });
  ASSERT_OK(pool.Start());
  const JobId hung1 = b_.Enqueue(Req("hang", 1, 1s));
  const JobId hung2 = b_.Enqueue(Req("hang", 1, 1s));
  ASSERT_TRUE(WaitUntil([&] { return gate_->waiting() == 2; }, kPatience));  // both slots are hung
  const JobId quick = b_.Enqueue(Req("quick"));

  Job j = b_.WaitTerminal(quick);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  for (JobId id : {hung1, hung2}) {
    j = b_.WaitTerminal(id);
    EXPECT_EQ(j.state, JobState::kFailed);
    ASSERT_EQ(j.errors.size(), 1u);
    EXPECT_EQ(j.errors[0].error_class, ErrorClass::kTimeout);
    EXPECT_NE(j.errors[0].message.find("abandoned"), std::string::npos) << j.errors[0].message;
  }
  EXPECT_EQ(pool.stats().abandoned, 2);
  pool.Drain();
  EXPECT_EQ(pool.Wait(), 0);  // 2 abandoned is within max_abandoned (4)
}

TEST_F(WorkerPoolTest, TooManyAbandonedHandlersStopTheWorkerWithCode70) {
  WorkerOptions o = WorkerBundle::Options(1);
  o.max_abandoned = 0;
  WorkerPool pool(*b_.backend, o);
  auto gate = gate_;
  pool.Handle("hang", [gate](JobContext&) { gate->Wait(); });
  ASSERT_OK(pool.Start());
  const JobId id = b_.Enqueue(Req("hang", 1, 500ms));
  EXPECT_EQ(pool.Wait(), 70);  // stops by itself
  EXPECT_EQ(pool.stats().abandoned, 1);
  EXPECT_EQ(b_.Get(id).state, JobState::kFailed);
}

TEST_F(WorkerPoolTest, DrainHandsBackAsInterruptedAndTheNextRunResumes) {
  constexpr int kItems = 200;
  std::atomic<int> processed{0};
  std::atomic<int> started_at_item{-1};
  auto handler = [&](JobContext& ctx) {
    int next = 0;
    if (auto cp = ctx.last_checkpoint()) next = nlohmann::json::parse(*cp)["next"].get<int>();
    started_at_item = next;
    for (; next < kItems; ++next) {
      ctx.ThrowIfStopped();
      std::this_thread::sleep_for(5ms);  // item `next`
      ++processed;
      ctx.ReportProgress(next + 1, kItems);
      ctx.Checkpoint(R"({"next": )" + std::to_string(next + 1) + "}");
    }
    ctx.SetResult(R"({"processed": )" + std::to_string(kItems) + "}");
  };
  const JobId id = b_.Enqueue(Req("count", 1));
  {
    WorkerPool pool(*b_.backend, WorkerBundle::Options(1));
    pool.Handle("count", handler);
    ASSERT_OK(pool.Start());
    ASSERT_TRUE(WaitUntil([&] { return processed >= 20; }, kPatience));
    pool.Drain();  // drain_timeout is 200 ms: not enough to finish 200 items
    EXPECT_EQ(pool.Wait(), 0);
  }
  Job j = b_.Get(id);
  ASSERT_EQ(j.state, JobState::kAvailable);
  EXPECT_EQ(j.attempt, 0);  // the interrupted run gave its attempt back
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kInterrupted);
  EXPECT_FALSE(j.errors[0].counted);
  ASSERT_TRUE(j.checkpoint.has_value());
  const int saved = nlohmann::json::parse(*j.checkpoint)["next"].get<int>();
  EXPECT_EQ(saved, processed.load());  // the final checkpoint went out with the hand-back
  EXPECT_LT(saved, kItems);

  b_.RestartBackend();
  {
    WorkerPool pool(*b_.backend, WorkerBundle::Options(1));
    pool.Handle("count", handler);
    ASSERT_OK(pool.Start());
    j = b_.WaitTerminal(id);
    pool.Drain();
    EXPECT_EQ(pool.Wait(), 0);
  }
  EXPECT_EQ(j.state, JobState::kSucceeded);  // max_attempts 1: the interrupted run was not counted
  EXPECT_EQ(started_at_item.load(), saved);
  EXPECT_EQ(processed.load(), kItems);  // each item once
}

TEST_F(WorkerPoolTest, StopNowSkipsTheDrain) {
  WorkerOptions o = WorkerBundle::Options(1);
  o.drain_timeout = 1h;
  WorkerPool pool(*b_.backend, o);
  std::atomic<bool> running{false};
  pool.Handle("loop", [&](JobContext& ctx) {
    running = true;
    while (true) {
      ctx.ThrowIfStopped();
      std::this_thread::sleep_for(5ms);
    }
  });
  ASSERT_OK(pool.Start());
  const JobId id = b_.Enqueue(Req("loop"));
  ASSERT_TRUE(WaitUntil([&] { return running.load(); }, kPatience));
  pool.Drain();
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  const Job j = b_.Get(id);
  EXPECT_EQ(j.state, JobState::kAvailable);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kInterrupted);
}

// On a fake clock: a worker whose heartbeats all fail stops its job at lease
// end - grace (less the watchdog's margin), timed from the fetch's send, and
// not before; the engine then takes the job back when its lease ends.
TEST_F(WorkerPoolTest, WorkerThatCannotRenewStopsItsJobByLeaseEnd) {
  testing::FakeMonotonicClock clock;
  CutOffBackend cut(*b_.backend);
  WorkerPool pool(cut, WorkerBundle::Options(1), &clock);
  std::atomic<bool> running{false};
  std::atomic<bool> stopped{false};
  std::atomic<std::int64_t> stopped_after_ms{-1};  // on the fake clock, since the fetch
  const auto start = clock.Now();                  // the clock stands still until the test moves it: the fetch's send
  pool.Handle("loop", [&](JobContext& ctx) {
    running = true;
    while (!ctx.stop_requested()) std::this_thread::sleep_for(1ms);
    stopped_after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now() - start).count();
    stopped = true;
    ctx.ThrowIfStopped();
  });
  ASSERT_OK(pool.Start());
  cut.fail_heartbeats = true;
  const JobId id = b_.Enqueue(Req("loop", 1));
  ASSERT_TRUE(WaitUntil([&] { return running.load(); }, kPatience));

  // 600 ms: heartbeats are due (TTL/3) and fail, the lease is not yet at its fence.
  clock.Advance(testing::kTestLeaseTtl - testing::kTestGrace - 100ms);
  ASSERT_TRUE(WaitUntil([&] { return cut.heartbeats.load() > 0; }, kPatience));
  EXPECT_FALSE(stopped.load()) << "stopped " << stopped_after_ms.load() << " ms after the fetch, before its fence";
  // 700 ms = lease end - grace: past the fence.
  clock.Advance(100ms);
  ASSERT_TRUE(WaitUntil([&] { return stopped.load(); }, kPatience));
  EXPECT_EQ(
      stopped_after_ms.load(),
      std::chrono::duration_cast<std::chrono::milliseconds>(testing::kTestLeaseTtl - testing::kTestGrace).count());

  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].error_class, ErrorClass::kLeaseExpired);
  EXPECT_TRUE(WaitUntil([&] { return pool.stats().lost == 1; }, kPatience));
}

TEST_F(WorkerPoolTest, HeartbeatsRenewLeasesOfLongJobs) {
  WorkerPool pool(*b_.backend, WorkerBundle::Options(1));
  pool.Handle("long", [](JobContext& ctx) {
    // Three lease TTLs: only heartbeats keep the job.
    for (int i = 0; i < 300 && !ctx.stop_requested(); ++i) std::this_thread::sleep_for(10ms);
    ctx.ThrowIfStopped();
  });
  ASSERT_OK(pool.Start());
  const JobId id = b_.Enqueue(Req("long"));
  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_TRUE(j.errors.empty());
  EXPECT_EQ(pool.stats().lost, 0);
}

TEST_F(WorkerPoolTest, InvalidCheckpointsAreRefusedAtTheWorker) {
  WorkerPool pool(*b_.backend, WorkerBundle::Options(1));
  pool.Handle("cp", [](JobContext& ctx) {
    ctx.Checkpoint(R"({"good": 1})");
    ctx.Checkpoint("{not json");
    ctx.Checkpoint("\"" + std::string(300 * 1024, 'x') + "\"");  // over 256 KiB
    std::this_thread::sleep_for(600ms);                          // a heartbeat or two go out
  });
  ASSERT_OK(pool.Start());
  const JobId id = b_.Enqueue(Req("cp"));
  const Job j = b_.WaitTerminal(id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.checkpoint.value_or(""), R"({"good":1})");
}

TEST_F(WorkerPoolTest, AnInProcessHandlerFansOutWithSubmitBatch) {
  WorkerPool pool(*b_.backend, WorkerBundle::Options(4));
  std::atomic<int> children{0};
  std::mutex mu;
  std::string batch_id;
  Status refused;
  pool.Handle("plan", [&](JobContext& ctx) {
    BatchRequest r;
    for (int i = 0; i < 3; ++i) r.jobs.push_back(Req("child"));
    r.deadline_in = std::chrono::seconds(60);
    auto b = ctx.SubmitBatch(r);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(b->parent_id, ctx.job().id);
    EXPECT_EQ(b->members.size(), 3u);
    BatchRequest empty;  // refused, and the handler hears why
    auto bad = ctx.SubmitBatch(empty);
    std::lock_guard<std::mutex> lock(mu);
    batch_id = b->id;
    refused = bad.status();
  });
  pool.Handle("child", [&](JobContext&) { ++children; });
  ASSERT_OK(pool.Start());
  const JobId parent = b_.Enqueue(Req("plan"));
  EXPECT_EQ(b_.WaitTerminal(parent).state, JobState::kSucceeded);
  const auto end = std::chrono::steady_clock::now() + testing::kPatience;
  while (children.load() < 3 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(children.load(), 3);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused.ToString();
  auto b = b_.engine->Batch(batch_id);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->parent_id, parent);
  pool.Drain();
  EXPECT_EQ(pool.Wait(), 0);
}

TEST_F(WorkerPoolTest, OptionsAreValidated) {
  WorkerOptions o = WorkerBundle::Options();
  o.grace = 600ms;  // more than TTL / 2
  WorkerPool pool(*b_.backend, o);
  Status s = pool.Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("grace"), std::string::npos);
}

}  // namespace
}  // namespace jobwarden
