// The server's parts that flow control leans on, without a socket: the
// router keeps a percent-encoded '/' inside its segment (resource keys such
// as host:a/b), and the long-poll waiters wake one per queue and tell a
// timeout from an end.
#include <gtest/gtest.h>

#include <thread>

#include "server/api.h"
#include "server/fetch_waiters.h"

namespace jobwarden::server {
namespace {

using namespace std::chrono_literals;

TEST(FlowRoutingTest, RouterDecodesEachSegmentAfterSplitting) {
  Api api(nullptr);
  const Router& router = api.router();

  Router::Match m = router.Find("GET", "/v1/resources/host%3Aa%2Fb");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/v1/resources/{key}");
  EXPECT_EQ(m.params.at("key"), "host:a/b");

  m = router.Find("PUT", "/v1/resources/host:imx.to");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/v1/resources/{key}");
  EXPECT_EQ(m.params.at("key"), "host:imx.to");

  // An unencoded '/' is a segment boundary: no resource route has two.
  m = router.Find("GET", "/v1/resources/host:a/b");
  EXPECT_EQ(m.route, nullptr);

  m = router.Find("PUT", "/v1/queues/q%2Fx");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/v1/queues/{name}");
  EXPECT_EQ(m.params.at("name"), "q/x");
  m = router.Find("POST", "/v1/queues/my%20queue/pause");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at("name"), "my queue");
  // Literal segments are decoded too.
  m = router.Find("GET", "/v1/%71ueues");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/v1/queues");
}

TEST(FlowRoutingTest, WakeOnePerQueueWakesTheOldestWaiterOfEachQueue) {
  FetchWaiters waiters(10);
  auto a1 = waiters.Add({"a"});
  auto a2 = waiters.Add({"a"});
  auto b1 = waiters.Add({"b"});
  waiters.WakeOnePerQueue();
  const auto soon = std::chrono::steady_clock::now() + 50ms;
  EXPECT_EQ(waiters.Wait(a1, soon), FetchWaiters::WaitResult::kWoken);
  EXPECT_EQ(waiters.Wait(b1, soon), FetchWaiters::WaitResult::kWoken);
  EXPECT_EQ(waiters.Wait(a2, soon), FetchWaiters::WaitResult::kTimedOut) << "one per queue";
  for (const auto& w : {a1, a2, b1}) waiters.Remove(w);
}

TEST(FlowRoutingTest, WaitTellsATimeoutFromAnEnd) {
  FetchWaiters waiters(10);
  auto w = waiters.Add({"q"}, "worker-1");
  EXPECT_EQ(waiters.Wait(w, std::chrono::steady_clock::now() + 20ms), FetchWaiters::WaitResult::kTimedOut);
  // Still enlisted after a timeout: a job that comes later wakes it.
  waiters.JobsAvailable("q");
  EXPECT_EQ(waiters.Wait(w, std::chrono::steady_clock::now() + 1s), FetchWaiters::WaitResult::kWoken);
  waiters.DropWorker("worker-1");
  EXPECT_EQ(waiters.Wait(w, std::chrono::steady_clock::now() + 1s), FetchWaiters::WaitResult::kEnded);
  waiters.Remove(w);
  auto other = waiters.Add({"q"});
  waiters.Shutdown();
  EXPECT_EQ(waiters.Wait(other, std::chrono::steady_clock::now() + 1s), FetchWaiters::WaitResult::kEnded);
  waiters.Remove(other);
}

}  // namespace
}  // namespace jobwarden::server
