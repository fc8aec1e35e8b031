// The engine's flow control: limits validated and merged (patches), applied
// from a config file, the doctor's "held by" reasons, the watch that turns
// queue warnings and breaker changes into events, and the job cost.
#include <gtest/gtest.h>

#include "unit/engine/engine_helpers.h"

namespace jobwarden::testing {
namespace {

class EngineFlowTest : public EngineTest {
 protected:
  std::vector<FlowEvent> Watch() {
    std::vector<FlowEvent> seen;
    if (!listening_) {
      engine().AddFlowListener([this](const FlowEvent& e) { events_.push_back(e); });
      listening_ = true;
    }
    events_.clear();
    EXPECT_OK(engine().WatchFlow());
    return events_;
  }

  bool listening_ = false;
  std::vector<FlowEvent> events_;
};

TEST_F(EngineFlowTest, QueuePatchesMergeClearAndAreValidatedBeforeAnyWrite) {
  QueueLimitsPatch p;
  p.concurrency = 1;
  p.warn_depth = 50;
  auto q = engine().SetQueueLimits("collection", p);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->limits, (QueueLimits{1, 50, std::nullopt}));

  QueueLimitsPatch age;
  age.warn_age = minutes(5);
  q = engine().SetQueueLimits("collection", age);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->limits, (QueueLimits{1, 50, minutes(5)})) << "a patch keeps what it does not name";

  QueueLimitsPatch unlimited;
  unlimited.concurrency = std::optional<int>{};
  q = engine().SetQueueLimits("collection", unlimited);
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->limits.concurrency);
  EXPECT_EQ(q->limits.warn_depth, 50);

  QueueLimitsPatch zero;
  zero.concurrency = 0;
  auto bad = engine().SetQueueLimits("collection", zero);
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("concurrency"), std::string::npos) << bad.status().ToString();
  EXPECT_EQ(engine().Queue("collection")->limits.warn_depth, 50) << "a refused patch changes nothing";

  QueueLimitsPatch clear;
  clear.clear = true;
  q = engine().SetQueueLimits("collection", clear);
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->limits.empty());
  EXPECT_EQ(engine().Queue("nope").status().code(), StatusCode::kNotFound);
}

TEST_F(EngineFlowTest, ResourcePatchesAreValidated) {
  ResourceLimitsPatch burst_alone;
  burst_alone.burst = 5.0;
  auto r = engine().SetResourceLimits("host:x", burst_alone);
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("burst"), std::string::npos) << r.status().ToString();

  ResourceLimitsPatch cooldown;
  cooldown.breaker_failures = 3;
  cooldown.breaker_cooldown = milliseconds(500);
  r = engine().SetResourceLimits("host:x", cooldown);
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("breaker_cooldown"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(engine().Resource("host:x").status().code(), StatusCode::kNotFound) << "nothing was written";

  ResourceLimitsPatch good;
  good.rate = *ParseRate("10/s");
  good.burst = 20.0;
  good.breaker_failures = 5;
  r = engine().SetResourceLimits("host:x", good);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->limits.rate->text, "10/s");
  EXPECT_EQ(r->limits.burst, 20.0);
  EXPECT_EQ(r->limits.breaker.failures, 5);
  EXPECT_EQ(r->limits.breaker.cooldown, seconds(30));

  ResourceLimitsPatch no_rate;
  no_rate.rate = std::optional<Rate>{};
  r = engine().SetResourceLimits("host:x", no_rate);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->limits.rate);
  EXPECT_FALSE(r->limits.burst) << "clearing the rate clears its burst";
}

TEST_F(EngineFlowTest, ApplyLimitsValidatesAllBeforeWritingAny) {
  FlowLimits l;
  l.queues["a"] = {.concurrency = 2};
  l.resources["host:x"] = {.concurrency = 0};
  Status s = engine().ApplyLimits(l);
  ASSERT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("resources.host:x"), std::string::npos) << s.ToString();
  EXPECT_EQ(engine().Queue("a").status().code(), StatusCode::kNotFound);

  l.resources["host:x"] = {.concurrency = 3};
  ASSERT_OK(engine().ApplyLimits(l));
  EXPECT_EQ(engine().Queue("a")->limits.concurrency, 2);
  EXPECT_EQ(engine().Resource("host:x")->limits.concurrency, 3);
}

TEST_F(EngineFlowTest, JobCostIsValidatedAndStored) {
  EXPECT_EQ(Enqueue({.kind = "k", .resource_key = "api"}).cost, 1);
  auto j = engine().Enqueue(MakeJob({.kind = "k", .resource_key = "api", .cost = 5}));
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ(Get(j->job.id).cost, 5);
  auto bad = engine().Enqueue(MakeJob({.kind = "k", .cost = 0}));
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("cost"), std::string::npos);
}

TEST_F(EngineFlowTest, DoctorNamesTheLimitThatHoldsAQueue) {
  ASSERT_TRUE(engine()
                  .SetQueueLimits("seq",
                                  [] {
                                    QueueLimitsPatch p;
                                    p.concurrency = 1;
                                    return p;
                                  }())
                  .ok());
  Enqueue({.kind = "k", .queue = "seq"});
  Enqueue({.kind = "k", .queue = "seq"});
  FetchOne({"seq"});
  ResourceLimitsPatch breaker;
  breaker.breaker_failures = 1;
  ASSERT_TRUE(engine().SetResourceLimits("host:imx", breaker).ok());
  Enqueue({.kind = "k", .queue = "up", .resource_key = "host:imx"});
  Enqueue({.kind = "k", .queue = "up", .resource_key = "host:imx"});
  ASSERT_OK(Fail(FetchOne({"up"}), ErrorClass::kTransient));

  auto held = engine().HeldQueues();
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_EQ(held->size(), 2u);
  EXPECT_EQ((*held)[0].queue, "seq");
  ASSERT_EQ((*held)[0].reasons.size(), 1u);
  EXPECT_NE((*held)[0].reasons[0].find("queue concurrency 1 reached"), std::string::npos) << (*held)[0].reasons[0];
  EXPECT_EQ((*held)[1].queue, "up");
  EXPECT_EQ((*held)[1].available, 1);
  ASSERT_EQ((*held)[1].reasons.size(), 1u);
  EXPECT_NE((*held)[1].reasons[0].find("resource host:imx breaker open until"), std::string::npos)
      << (*held)[1].reasons[0];
}

TEST_F(EngineFlowTest, WatchReportsEachWarningCrossingAndBreakerChangeOnce) {
  QueueLimitsPatch depth;
  depth.warn_depth = 2;
  ASSERT_TRUE(engine().SetQueueLimits("q", depth).ok());
  ResourceLimitsPatch breaker;
  breaker.breaker_failures = 1;
  breaker.breaker_cooldown = seconds(10);
  ASSERT_TRUE(engine().SetResourceLimits("svc", breaker).ok());
  EXPECT_TRUE(Watch().empty());

  for (int i = 0; i < 3; ++i) Enqueue({.kind = "k", .queue = "q"});
  Enqueue({.kind = "k", .queue = "s", .resource_key = "svc"});
  ASSERT_OK(Fail(FetchOne({"s"}), ErrorClass::kCrashed));
  clock().Advance(Engine::kWatchEvery);
  auto events = Watch();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, FlowEvent::Kind::kQueueWarning);
  EXPECT_EQ(events[0].name, "q");
  EXPECT_EQ(events[0].reason, "depth");
  EXPECT_EQ(events[1].kind, FlowEvent::Kind::kBreaker);
  EXPECT_EQ(events[1].name, "svc");
  EXPECT_EQ(events[1].from, BreakerState::kClosed);
  EXPECT_EQ(events[1].to, BreakerState::kOpen);

  clock().Advance(Engine::kWatchEvery);
  EXPECT_TRUE(Watch().empty()) << "nothing changed";

  FetchOne({"q"});
  FetchOne({"q"});
  clock().Advance(seconds(10));
  events = Watch();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, FlowEvent::Kind::kQueueWarningCleared);
  EXPECT_EQ(events[1].kind, FlowEvent::Kind::kBreaker);
  EXPECT_EQ(events[1].to, BreakerState::kHalfOpen);
}

}  // namespace
}  // namespace jobwarden::testing
