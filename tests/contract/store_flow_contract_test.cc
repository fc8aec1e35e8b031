// The Store contract for flow control (store/store.h, DESIGN.md "Flow
// control"), run against every driver: queue and resource limits enforced by
// fetch in the leasing transaction, the breaker and retry_after holds driven
// by settles, and the limits' reads and writes.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "core/lifecycle.h"
#include "store/store.h"
#include "testutil/temp_dir.h"
#include "testutil/test_store.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace jobwarden {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::StoreFactory;

const Timestamp kT0 = FromMillis(1'767'225'600'000);
constexpr Duration kTtl = seconds(10);

class StoreFlowContractTest : public testing::StoreContractBase {
 protected:
  static NewJob Job(std::string queue, int priority = 0, std::optional<std::string> key = std::nullopt, int cost = 1) {
    NewJob j;
    j.kind = "k";
    j.queue = std::move(queue);
    j.priority = priority;
    j.run_at = kT0;
    j.timeout = minutes(30);
    j.resource_key = std::move(key);
    j.cost = cost;
    return j;
  }

  JobId Insert(NewJob j) {
    auto r = store_->JobInsertMany({{std::move(j)}, kT0});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->front().id : 0;
  }

  std::vector<jobwarden::Job> Fetch(std::vector<std::string> queues, int max, Timestamp now = kT0,
                                    FetchHolds* holds = nullptr) {
    JobFetchParams p{std::move(queues), max, now, kTtl, seconds(5), "w1"};
    p.holds = holds;
    auto r = store_->JobFetch(p);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<jobwarden::Job>{};
  }

  void Complete(const jobwarden::Job& j, Timestamp now) {
    auto r = store_->JobCompleteMany({{{j.id, j.lease_token, {}, {}, {}}}, now});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->front().ok()) << r->front().ToString();
  }

  void FailWith(const jobwarden::Job& j, ErrorClass c, Timestamp now, std::optional<Duration> retry_after = {}) {
    Failure f;
    f.error_class = c;
    f.message = "boom";
    f.retry_after = retry_after;
    std::mt19937_64 rng(1);
    auto change = PlanFailure(j, f, now, BackoffPolicy{}, rng);
    ASSERT_TRUE(change.ok()) << change.status().ToString();
    auto r = store_->JobApplyMany({{*change}, now});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->front().ok()) << r->front().ToString();
  }

  void SetQueue(const std::string& name, QueueLimits l) { ASSERT_OK(store_->QueueSetLimits(name, l, kT0)); }
  void SetResource(const std::string& key, ResourceLimits l, Timestamp now = kT0) {
    ASSERT_OK(store_->ResourceSetLimits(key, l, now));
  }

  static ResourceLimits Breaker(int failures, Duration cooldown = seconds(30)) {
    ResourceLimits l;
    l.breaker = {failures, cooldown};
    return l;
  }
  static ResourceLimits RateOf(double per_second, std::string text, std::optional<double> burst = {}) {
    ResourceLimits l;
    l.rate = Rate{per_second, std::move(text)};
    l.burst = burst;
    return l;
  }

  ResourceInfo Resource(const std::string& key, Timestamp now = kT0) {
    auto r = store_->ResourceGet(key, now);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ResourceInfo{};
  }
};

// --- queues ---

TEST_P(StoreFlowContractTest, SequentialQueueLeasesOneAtATimeInPriorityOrder) {
  SetQueue("collection", {.concurrency = 1});
  const JobId low = Insert(Job("collection", 1));
  const JobId high = Insert(Job("collection", 9));
  const JobId mid = Insert(Job("collection", 5));
  std::vector<JobId> order;
  Timestamp now = kT0;
  for (int round = 0; round < 3; ++round) {
    auto got = Fetch({"collection"}, 10, now);
    ASSERT_EQ(got.size(), 1u) << "round " << round;
    FetchHolds holds;
    EXPECT_TRUE(Fetch({"collection"}, 10, now, &holds).empty()) << "a second job while one runs";
    EXPECT_GT(holds.held, 0);
    EXPECT_FALSE(holds.retry_at) << "a slot frees on a settle, not at a time";
    order.push_back(got[0].id);
    now += seconds(1);
    Complete(got[0], now);
  }
  EXPECT_EQ(order, (std::vector<JobId>{high, mid, low}));
  EXPECT_TRUE(Fetch({"collection"}, 10, now).empty());
}

TEST_P(StoreFlowContractTest, QueueConcurrencyCountsTheRunningAndLoweringItLetsThemFinish) {
  for (int i = 0; i < 6; ++i) Insert(Job("q"));
  auto running = Fetch({"q"}, 3);
  ASSERT_EQ(running.size(), 3u);
  SetQueue("q", {.concurrency = 2});  // below the 3 running: accepted
  EXPECT_TRUE(Fetch({"q"}, 10).empty());
  Complete(running[0], kT0 + seconds(1));
  EXPECT_TRUE(Fetch({"q"}, 10, kT0 + seconds(1)).empty()) << "2 still run, the limit is 2";
  Complete(running[1], kT0 + seconds(2));
  EXPECT_EQ(Fetch({"q"}, 10, kT0 + seconds(2)).size(), 1u);
  SetQueue("q", {});  // unlimited again
  EXPECT_EQ(Fetch({"q"}, 10, kT0 + seconds(3)).size(), 2u);
}

TEST_P(StoreFlowContractTest, QueueLimitsAreListedAndReplaced) {
  SetQueue("q", {.concurrency = 1, .warn_depth = 50, .warn_age = minutes(5)});
  Insert(Job("other"));
  auto list = store_->QueueList();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "other");
  EXPECT_TRUE((*list)[0].limits.empty());
  EXPECT_EQ((*list)[1].name, "q");
  EXPECT_EQ((*list)[1].limits, (QueueLimits{1, 50, minutes(5)}));
  SetQueue("q", {.warn_depth = 7});
  list = store_->QueueList();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)[1].limits, (QueueLimits{std::nullopt, 7, std::nullopt}));
}

// --- resource concurrency, rate, cost ---

TEST_P(StoreFlowContractTest, ResourceConcurrencyHoldsAcrossQueuesAndWorkers) {
  SetResource("host:a", {.concurrency = 2});
  for (int i = 0; i < 4; ++i) {
    Insert(Job("q1", 0, "host:a"));
    Insert(Job("q2", 0, "host:a"));
  }
  const JobId free = Insert(Job("q2", -5, "host:b"));
  auto first = Fetch({"q1", "q2"}, 10);
  ASSERT_EQ(first.size(), 3u);  // two of host:a, and host:b's job behind them
  std::set<JobId> ids;
  for (const auto& j : first) ids.insert(j.id);
  EXPECT_EQ(ids.count(free), 1u);
  EXPECT_TRUE(Fetch({"q2"}, 10).empty());
  EXPECT_EQ(Resource("host:a").running, 2);
  EXPECT_EQ(Resource("host:a").available, 6);
  for (const auto& j : first) {
    if (j.resource_key == "host:a") {
      Complete(j, kT0 + seconds(1));
      break;
    }
  }
  EXPECT_EQ(Fetch({"q1", "q2"}, 10, kT0 + seconds(1)).size(), 1u);
}

TEST_P(StoreFlowContractTest, RateSpacesLeasesAndSaysWhenTheNextTokenComes) {
  SetResource("api", RateOf(2, "2/s"));  // burst 2
  for (int i = 0; i < 5; ++i) Insert(Job("q", 0, "api"));
  FetchHolds holds;
  EXPECT_EQ(Fetch({"q"}, 10, kT0, &holds).size(), 2u);
  ASSERT_TRUE(holds.retry_at);
  EXPECT_EQ(*holds.retry_at, kT0 + milliseconds(500));
  EXPECT_TRUE(Fetch({"q"}, 10, kT0 + milliseconds(499)).empty());
  EXPECT_EQ(Fetch({"q"}, 10, kT0 + milliseconds(500)).size(), 1u);
  EXPECT_EQ(Fetch({"q"}, 10, kT0 + milliseconds(1500)).size(), 2u);
}

TEST_P(StoreFlowContractTest, AJobSpendsItsCostInTokens) {
  SetResource("api", RateOf(10, "10/s"));  // burst 10
  const JobId a = Insert(Job("q", 3, "api", 5));
  const JobId b = Insert(Job("q", 2, "api", 5));
  Insert(Job("q", 1, "api", 5));
  FetchHolds holds;
  auto got = Fetch({"q"}, 10, kT0, &holds);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, a);
  EXPECT_EQ(got[1].id, b);
  EXPECT_EQ(got[0].cost, 5);
  ASSERT_TRUE(holds.retry_at);
  EXPECT_EQ(*holds.retry_at, kT0 + milliseconds(500));
  EXPECT_EQ(Fetch({"q"}, 10, kT0 + milliseconds(500)).size(), 1u);
}

// --- breaker and retry_after ---

TEST_P(StoreFlowContractTest, BreakerOpensHoldsLetsOneProbeAndClosesOnItsSuccess) {
  SetResource("svc", Breaker(2, seconds(30)));
  for (int i = 0; i < 6; ++i) Insert(Job("q", 0, "svc"));
  auto two = Fetch({"q"}, 2);
  ASSERT_EQ(two.size(), 2u);
  const Timestamp t1 = kT0 + seconds(1);
  FailWith(two[0], ErrorClass::kTransient, t1);
  EXPECT_EQ(Resource("svc", t1).breaker.state, BreakerState::kClosed);
  FailWith(two[1], ErrorClass::kTimeout, t1);
  ResourceInfo r = Resource("svc", t1);
  EXPECT_EQ(r.breaker.state, BreakerState::kOpen);
  EXPECT_EQ(r.breaker.failures, 2);
  EXPECT_EQ(r.breaker.open_until, t1 + seconds(30));

  FetchHolds holds;
  EXPECT_TRUE(Fetch({"q"}, 10, t1 + seconds(29), &holds).empty());
  EXPECT_EQ(holds.retry_at, t1 + seconds(30));

  const Timestamp t2 = t1 + seconds(30);
  auto probe = Fetch({"q"}, 10, t2);
  ASSERT_EQ(probe.size(), 1u) << "exactly one probe";
  EXPECT_TRUE(Fetch({"q"}, 10, t2).empty());
  EXPECT_EQ(Resource("svc", t2).breaker.state, BreakerState::kHalfOpen);
  Complete(probe[0], t2 + seconds(1));
  r = Resource("svc", t2 + seconds(1));
  EXPECT_EQ(r.breaker.state, BreakerState::kClosed);
  EXPECT_EQ(r.breaker.failures, 0);
  // The 3 never run, and the 2 that failed: their backoff (at most 5 s) ended long ago.
  EXPECT_EQ(Fetch({"q"}, 10, t2 + seconds(1)).size(), 5u);
}

TEST_P(StoreFlowContractTest, AFailedProbeReopensTheBreakerAndANeutralOneFreesTheProbeSlot) {
  SetResource("svc", Breaker(1, seconds(10)));
  for (int i = 0; i < 4; ++i) Insert(Job("q", 0, "svc"));
  auto one = Fetch({"q"}, 1);
  FailWith(one[0], ErrorClass::kCrashed, kT0);
  ASSERT_EQ(Resource("svc").breaker.state, BreakerState::kOpen);

  Timestamp t = kT0 + seconds(10);
  auto probe = Fetch({"q"}, 10, t);
  ASSERT_EQ(probe.size(), 1u);
  // A lost lease says nothing about the service: another probe may go.
  FailWith(probe[0], ErrorClass::kLeaseExpired, t + seconds(1));
  EXPECT_EQ(Resource("svc", t + seconds(1)).breaker.state, BreakerState::kHalfOpen);
  probe = Fetch({"q"}, 10, t + seconds(1));
  ASSERT_EQ(probe.size(), 1u);
  FailWith(probe[0], ErrorClass::kTransient, t + seconds(2));
  ResourceInfo r = Resource("svc", t + seconds(2));
  EXPECT_EQ(r.breaker.state, BreakerState::kOpen);
  EXPECT_EQ(r.breaker.open_until, t + seconds(12));
  EXPECT_TRUE(Fetch({"q"}, 10, t + seconds(11)).empty());
}

TEST_P(StoreFlowContractTest, PermanentFailuresDoNotCountForTheBreaker) {
  SetResource("svc", Breaker(1));
  for (int i = 0; i < 3; ++i) Insert(Job("q", 0, "svc"));
  auto got = Fetch({"q"}, 1);
  FailWith(got[0], ErrorClass::kPermanent, kT0);
  EXPECT_EQ(Resource("svc").breaker.state, BreakerState::kClosed);
  EXPECT_EQ(Fetch({"q"}, 10).size(), 2u);
}

TEST_P(StoreFlowContractTest, RetryAfterHoldsEveryJobOfTheResourceEvenWithoutSettings) {
  for (int i = 0; i < 3; ++i) Insert(Job("q", 0, "host:x"));
  const JobId other = Insert(Job("q", -1, "host:y"));
  auto got = Fetch({"q"}, 1);
  ASSERT_EQ(got.size(), 1u);
  FailWith(got[0], ErrorClass::kRateLimited, kT0, seconds(10));
  ResourceInfo r = Resource("host:x");
  EXPECT_EQ(r.held_until, kT0 + seconds(10));
  FetchHolds holds;
  auto rest = Fetch({"q"}, 10, kT0 + seconds(1), &holds);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].id, other);
  EXPECT_EQ(holds.retry_at, kT0 + seconds(10));
  EXPECT_EQ(Fetch({"q"}, 10, kT0 + seconds(10)).size(), 3u);  // the two, and the rate-limited one come due
}

// --- held jobs cost nothing ---

TEST_P(StoreFlowContractTest, FetchFindsFreeJobsBehindManyHeldOnes) {
  // 99 keys whose breakers are open, 10 jobs each, all ahead of the free ones.
  std::vector<NewJob> jobs;
  for (int k = 0; k < 99; ++k) {
    SetResource("held:" + std::to_string(k), Breaker(1, minutes(10)));
    for (int i = 0; i < 10; ++i) jobs.push_back(Job("q", 10, "held:" + std::to_string(k)));
  }
  ASSERT_TRUE(store_->JobInsertMany({jobs, kT0}).ok());
  // Open every breaker: one failure each.
  for (int k = 0; k < 99; ++k) {
    Insert(Job("trip", 0, "held:" + std::to_string(k)));
    auto got = Fetch({"trip"}, 1);
    ASSERT_EQ(got.size(), 1u);
    FailWith(got[0], ErrorClass::kTransient, kT0);
  }
  std::set<JobId> free;
  for (int i = 0; i < 5; ++i) free.insert(Insert(Job("q", 0, "free")));
  free.insert(Insert(Job("q", 0)));  // and one without a key
  FetchHolds holds;
  auto got = Fetch({"q"}, 10, kT0 + seconds(1), &holds);
  std::set<JobId> ids;
  for (const auto& j : got) ids.insert(j.id);
  EXPECT_EQ(ids, free);
  EXPECT_GT(holds.held, 0);
  EXPECT_EQ(holds.retry_at, kT0 + minutes(10));

  // Again, with the holds known from the fetch before: the same answer and the same wake-up time.
  for (const auto& j : got) Complete(j, kT0 + seconds(2));
  const JobId more = Insert(Job("q", 0, "free"));
  FetchHolds again;
  got = Fetch({"q"}, 10, kT0 + seconds(3), &again);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, more);
  EXPECT_GT(again.held, 0);
  EXPECT_EQ(again.retry_at, kT0 + minutes(10));
}

TEST_P(StoreFlowContractTest, KeyedAndKeylessJobsLeaseInOneFetchOrder) {
  const JobId a = Insert(Job("q", 5, "r"));
  const JobId b = Insert(Job("q", 7));
  const JobId c = Insert(Job("q", 6, "r"));
  const JobId d = Insert(Job("q", 1));
  auto got = Fetch({"q"}, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].id, b);
  EXPECT_EQ(got[1].id, c);
  EXPECT_EQ(got[2].id, a);
  SetResource("r", {.concurrency = 5});
  EXPECT_EQ(Fetch({"q"}, 3).front().id, d);
}

// --- reads and writes of settings ---

TEST_P(StoreFlowContractTest, ResourceSettingsStateAndStatsAreRead) {
  EXPECT_EQ(store_->ResourceGet("nothing", kT0).status().code(), StatusCode::kNotFound);
  ResourceLimits l = RateOf(10.0 / 60, "10/min", 3);
  l.concurrency = 4;
  l.breaker = {5, seconds(20)};
  SetResource("api", l);
  for (int i = 0; i < 4; ++i) Insert(Job("q", 0, "api"));
  auto got = Fetch({"q"}, 2);
  ASSERT_EQ(got.size(), 2u);
  Complete(got[0], kT0 + seconds(3));
  FailWith(got[1], ErrorClass::kTransient, kT0 + seconds(4));
  ResourceInfo r = Resource("api", kT0 + seconds(4));
  EXPECT_EQ(r.limits, l);
  EXPECT_EQ(r.running, 0);
  EXPECT_EQ(r.available, 2);
  ASSERT_TRUE(r.bucket);
  EXPECT_NEAR(r.bucket->tokens, 1 + 4.0 / 6, 1e-6);  // 3 - 2 + 4 s at 1/6 per s
  EXPECT_EQ(r.breaker.failures, 1);
  EXPECT_EQ(r.stats.succeeded, 1);
  EXPECT_EQ(r.stats.failed, 1);
  EXPECT_EQ(r.stats.p50, seconds(3));
  EXPECT_EQ(r.stats.p95, seconds(3));
  // Outside the window the stats are empty.
  ResourceInfo later = Resource("api", kT0 + minutes(6));
  EXPECT_EQ(later.stats.succeeded, 0);
  EXPECT_EQ(later.stats.failed, 0);

  auto list = store_->ResourceList(kT0 + seconds(4));
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 1u);
  Insert(Job("q", 0, "unset"));
  list = store_->ResourceList(kT0 + seconds(4));
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].key, "unset");
  EXPECT_TRUE((*list)[1].limits.empty());
  EXPECT_EQ((*list)[1].available, 1);

  auto keys = store_->QueueResourceKeys("q", 10);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, (std::vector<std::pair<std::string, std::int64_t>>{{"api", 2}, {"unset", 1}}));
}

TEST_P(StoreFlowContractTest, SettingsWrittenByAnotherProcessHoldAtTheNextFetch) {
  for (int i = 0; i < 4; ++i) Insert(Job("q", 0, "r"));
  EXPECT_EQ(Fetch({"q"}, 1).size(), 1u);  // this store has read (and cached) the settings: none
  std::unique_ptr<Store> other = Open();
  ASSERT_OK(other->ResourceSetLimits("r", {.concurrency = 1}, kT0));
  EXPECT_TRUE(Fetch({"q"}, 10).empty());
  ASSERT_OK(other->ResourceSetLimits("r", {.concurrency = 2}, kT0));
  EXPECT_EQ(Fetch({"q"}, 10).size(), 1u);
}

TEST_P(StoreFlowContractTest, AnOpenBreakerClearedByAnotherProcessHoldsNoLonger) {
  SetResource("svc", Breaker(1, minutes(10)));
  for (int i = 0; i < 3; ++i) Insert(Job("q", 0, "svc"));
  auto one = Fetch({"q"}, 1);
  ASSERT_EQ(one.size(), 1u);
  FailWith(one[0], ErrorClass::kTransient, kT0);
  EXPECT_TRUE(Fetch({"q"}, 10, kT0 + seconds(1)).empty()) << "open: held (and known to be held until its cooldown)";
  std::unique_ptr<Store> other = Open();
  ASSERT_OK(other->ResourceSetLimits("svc", {}, kT0 + milliseconds(1500)));  // no breaker any more
  // The two never run (the failed one waits out its backoff, at least 2.5 s).
  EXPECT_EQ(Fetch({"q"}, 10, kT0 + seconds(2)).size(), 2u) << "a settings change ends what this store knew";
}

INSTANTIATE_TEST_SUITE_P(Drivers, StoreFlowContractTest, ::testing::Values(testing::SqliteStoreFactory()),
                         [](const ::testing::TestParamInfo<StoreFactory>& p) { return p.param.name; });

}  // namespace
}  // namespace jobwarden
