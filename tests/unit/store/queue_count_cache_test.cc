// The SQLite driver's queue counts on a big table: a cheap count is made for
// every call (exact); a costly one is served from the last count while it is
// young, and refreshed on the cache's own thread once it is old, so no caller
// waits for it; an error reaches the caller.
#include "store/sqlite/sqlite_queue_counts.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "testutil/process.h"

namespace jobwarden::sqlite {
namespace {

using namespace std::chrono_literals;

// A count that takes `cost` and answers how many counts were made so far.
QueueCountCache::CountFn Counter(std::atomic<int>& made, Duration cost) {
  return [&made, cost]() -> Result<QueueCountCache::Counts> {
    std::this_thread::sleep_for(cost);
    QueueCountCache::Counts c;
    c["q"][static_cast<std::size_t>(JobState::kAvailable)] = ++made;
    return c;
  };
}

std::int64_t Available(const QueueCountCache::Answer& a) {
  return a.counts.at("q")[static_cast<std::size_t>(JobState::kAvailable)];
}

TEST(QueueCountCacheTest, ACheapCountIsMadeForEveryCall) {
  std::atomic<int> made{0};
  QueueCountCache cache(Counter(made, 0ms));
  for (int i = 1; i <= 3; ++i) {
    auto a = cache.Get();
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(Available(*a), i);
    EXPECT_EQ(a->age, Duration(0));
  }
}

TEST(QueueCountCacheTest, ACostlyCountIsServedWhileYoungAndRefreshedInTheBackground) {
  std::atomic<int> made{0};
  QueueCountCache cache(Counter(made, 20ms));  // over kInline
  auto first = cache.Get();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Available(*first), 1);
  EXPECT_EQ(first->age, Duration(0));
  auto second = cache.Get();  // young: the same count, no new one
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Available(*second), 1);
  EXPECT_EQ(made.load(), 1);

  // Past kMinAge (1 s; 10 x 20 ms is less) and within twice it: still the old
  // count for this caller, and a new one starts on the cache's thread.
  std::this_thread::sleep_for(QueueCountCache::kMinAge + 100ms);
  auto old = cache.Get();
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(Available(*old), 1);
  EXPECT_GE(old->age, QueueCountCache::kMinAge);
  ASSERT_TRUE(testing::WaitUntil([&] { return made.load() == 2; }, std::chrono::milliseconds(10000)));
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        auto a = cache.Get();
        return a.ok() && Available(*a) == 2;
      },
      std::chrono::milliseconds(10000)));
  EXPECT_EQ(made.load(), 2) << "one background count for the whole burst of calls";
}

TEST(QueueCountCacheTest, LongUnaskedItCountsForTheCaller) {
  std::atomic<int> made{0};
  QueueCountCache cache(Counter(made, 20ms));
  ASSERT_TRUE(cache.Get().ok());
  std::this_thread::sleep_for(2 * QueueCountCache::kMinAge + 200ms);
  auto a = cache.Get();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(Available(*a), 2) << "older than twice its limit: counted again, inline";
  EXPECT_EQ(a->age, Duration(0));
}

TEST(QueueCountCacheTest, AnErrorReachesTheCaller) {
  QueueCountCache cache([]() -> Result<QueueCountCache::Counts> { return Status::Unavailable("disk gone"); });
  auto a = cache.Get();
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace jobwarden::sqlite
