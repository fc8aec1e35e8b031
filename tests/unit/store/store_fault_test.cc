// Fault injection at the storage seam (STYLE.md §8: StoreWrapper, like
// LevelDB's ErrorEnv): a store that refuses some writes with kUnavailable, as
// a busy or vanished database does, under the real engine and worker pool.
// What must hold: a refused write changes nothing (the job keeps its lease),
// nobody hears of a change that was not made, and the worker's success is
// reported again until it lands — never dropped, never charged to the job.
#include "store/store_wrapper.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "app/local_backend.h"
#include "engine/engine.h"
#include "testutil/test_store.h"
#include "worker/worker_pool.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::EngineBundle;
using testing::MakeJob;

// Designated initializers trip -Wmissing-field-initializers under GCC 12.
EngineOptions Seeded() {
  EngineOptions o;
  o.rng_seed = 42;
  return o;
}
CompleteRequest CompleteOf(const Job& j) {
  CompleteRequest c;
  c.id = j.id;
  c.token = j.lease_token;
  return c;
}

// Refuses the first `fail_completes` complete writes (alone or with a fetch).
class FlakyCompleteStore final : public StoreWrapper {
 public:
  FlakyCompleteStore(Store& target, int fail_completes) : StoreWrapper(target), left_(fail_completes) {}

  Result<std::vector<Status>> JobCompleteMany(const JobCompleteParams& p) override {
    ++calls;
    if (Refuse()) return Status::Unavailable("test: database is locked");
    return StoreWrapper::JobCompleteMany(p);
  }
  Result<CompleteAndFetchResult> JobCompleteManyAndFetch(const JobCompleteParams& c, const JobFetchParams& f) override {
    ++calls;
    if (Refuse()) return Status::Unavailable("test: database is locked");
    return StoreWrapper::JobCompleteManyAndFetch(c, f);
  }

  std::atomic<int> calls{0};

 private:
  bool Refuse() { return left_.fetch_sub(1) > 0; }
  std::atomic<int> left_;
};

TEST(StoreFaultTest, RefusedCompleteChangesNothingAndAnnouncesNothing) {
  EngineBundle b;
  FlakyCompleteStore flaky(*b.store, 1);
  Engine engine(flaky, b.clock, Seeded());
  int succeeded_events = 0;
  engine.AddListener([&](const JobEventRecord& e) {
    if (e.to == JobState::kSucceeded) ++succeeded_events;
  });
  auto enq = engine.Enqueue(MakeJob());
  ASSERT_TRUE(enq.ok()) << enq.status().ToString();
  FetchRequest fetch;
  fetch.queues = {"default"};
  fetch.worker_id = "w";
  auto leased = engine.Fetch(fetch);
  ASSERT_TRUE(leased.ok() && leased->size() == 1);
  const Job held = leased->front();

  const Status refused = engine.Complete(CompleteOf(held));
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable) << refused.ToString();
  EXPECT_EQ(succeeded_events, 0);
  auto after = engine.Get(held.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, JobState::kRunning);
  EXPECT_EQ(after->lease_token, held.lease_token);  // still this worker's lease (G5)

  EXPECT_OK(engine.Complete(CompleteOf(held)));
  EXPECT_EQ(succeeded_events, 1);
  EXPECT_EQ(engine.Get(held.id)->state, JobState::kSucceeded);
  EXPECT_EQ(flaky.calls, 2);
}

TEST(StoreFaultTest, WorkerReportsASuccessAgainUntilTheStoreTakesIt) {
  testing::TempDir dir;
  auto real = testing::OpenTestStore(dir);
  FlakyCompleteStore flaky(*real, 2);
  SystemClock clock;
  Engine engine(flaky, clock, Seeded());
  LocalBackend backend(engine, 50ms);
  WorkerOptions o;
  o.concurrency = 1;
  o.lease_ttl = 5s;
  o.grace = 1s;
  o.fetch_wait = 200ms;
  o.drain_timeout = 200ms;
  WorkerPool pool(backend, o);
  pool.Handle("test", [](JobContext& ctx) { ctx.SetResult(R"({"ok":true})"); });
  ASSERT_OK(pool.Start());
  auto enq = engine.Enqueue(MakeJob());
  ASSERT_TRUE(enq.ok());

  Job j;
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  do {
    std::this_thread::sleep_for(10ms);
    j = *engine.Get(enq->job.id);
  } while (j.state != JobState::kSucceeded && std::chrono::steady_clock::now() < give_up);
  pool.Drain();
  EXPECT_EQ(pool.Wait(), 0);

  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.attempt, 1);        // the refusals spent nothing
  EXPECT_TRUE(j.errors.empty());  // and are no failure of the job
  EXPECT_EQ(j.result.value_or(""), R"({"ok":true})");
  EXPECT_GE(flaky.calls, 3);  // two refused, the third taken
  EXPECT_EQ(pool.stats().succeeded, 1);
}

}  // namespace
}  // namespace jobwarden
