// Embedded mode under flow limits: the LocalBackend's waiting fetch takes a
// freed slot at once and fetches again when a rate's next token is due,
// rather than at its next poll (here 5 s, so either would show).
#include <gtest/gtest.h>

#include <future>

#include "app/local_backend.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "testutil/test_store.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::OpenTestStore;
using testing::TempDir;

constexpr Duration kSlowPoll = 5s;

struct Bundle {
  Bundle() : store(OpenTestStore(dir)), engine(*store, clock), backend(engine, kSlowPoll) {}
  JobId Enqueue(const std::string& queue, std::optional<std::string> resource = std::nullopt) {
    EnqueueRequest r;
    r.kind = "k";
    r.queue = queue;
    r.resource_key = std::move(resource);
    auto e = engine.Enqueue(r);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? e->job.id : 0;
  }
  FetchRequest From(const std::string& queue) const {
    FetchRequest f;
    f.queues = {queue};
    f.worker_id = "w";
    f.lease_ttl = 60s;
    return f;
  }
  TempDir dir;
  SystemClock clock;
  std::unique_ptr<Store> store;
  Engine engine;
  LocalBackend backend;
};

TEST(LocalBackendFlowTest, AFreedSlotWakesAWaitingFetch) {
  Bundle b;
  QueueLimitsPatch one;
  one.concurrency = std::optional<int>(1);
  ASSERT_TRUE(b.engine.SetQueueLimits("seq", one).ok());
  b.Enqueue("seq");
  b.Enqueue("seq");
  auto first = b.backend.Fetch(b.From("seq"), 0ms);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  auto waiting = std::async(std::launch::async, [&] { return b.backend.Fetch(b.From("seq"), 20s); });
  std::this_thread::sleep_for(100ms);
  const auto done_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      b.engine.Complete({first->front().id, first->front().lease_token, std::nullopt, std::nullopt, std::nullopt})
          .ok());
  auto second = waiting.get();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - done_at, 2s) << "woken by the freed slot, not the 5 s poll";
}

TEST(LocalBackendFlowTest, ARateSpacesFetchesByItsTokens) {
  Bundle b;
  ResourceLimitsPatch rate;
  rate.rate = std::optional<Rate>(*ParseRate("10/s"));
  rate.burst = std::optional<double>(1);
  ASSERT_TRUE(b.engine.SetResourceLimits("api:x", rate).ok());
  for (int i = 0; i < 3; ++i) b.Enqueue("default", "api:x");
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    auto got = b.backend.Fetch(b.From("default"), 20s);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), 1u);
  }
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_GE(took, 150ms) << "two waits of about 100 ms for the next tokens";
  EXPECT_LT(took, 2s) << "not the 5 s poll";
}

}  // namespace
}  // namespace jobwarden
