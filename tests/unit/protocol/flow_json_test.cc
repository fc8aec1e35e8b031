// protocol/flow_json.h: the queue and resource JSON read back by their one
// reader, the merge-patch bodies of PUT /v1/queues/{name} and
// /v1/resources/{key}, and the job's `cost` on the wire.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "protocol/flow_json.h"
#include "protocol/job_codec.h"
#include "protocol/job_json.h"
#include "protocol/json_fields.h"

namespace jobwarden {
namespace {

using nlohmann::json;

Timestamp At(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

QueueInfo LimitedQueue() {
  QueueInfo q;
  q.name = "uploads";
  q.paused = true;
  q.counts[static_cast<std::size_t>(JobState::kAvailable)] = 60;
  q.counts[static_cast<std::size_t>(JobState::kRunning)] = 1;
  q.oldest_available_run_at = At("2026-01-01T00:00:00.000Z");
  q.limits.concurrency = 1;
  q.limits.warn_depth = 50;
  q.limits.warn_age = std::chrono::minutes(5);
  q.warnings = {"depth", "age"};
  return q;
}

ResourceInfo BusyResource() {
  ResourceInfo r;
  r.key = "host:imx.to";
  r.limits.concurrency = 4;
  r.limits.rate = *ParseRate("10/s");
  r.limits.burst = 20;
  r.limits.breaker = {5, std::chrono::seconds(45)};
  r.running = 3;
  r.available = 7;
  r.breaker.state = BreakerState::kOpen;
  r.breaker.failures = 5;
  r.breaker.open_until = At("2026-01-01T00:00:45.000Z");
  r.held_until = At("2026-01-01T00:01:00.000Z");
  r.stats = {30, 10, std::chrono::milliseconds(1200), std::chrono::milliseconds(3400)};
  return r;
}

TEST(FlowJsonTest, QueueJsonHasTheContractFieldsAndReadsBack) {
  const Timestamp now = At("2026-01-01T00:10:00.000Z");
  const json j = QueueInfoToJson(LimitedQueue(), now);
  EXPECT_EQ(j["name"], "uploads");
  EXPECT_EQ(j["concurrency"], 1);
  EXPECT_EQ(j["running"], 1);
  EXPECT_EQ(j["warn_depth"], 50);
  EXPECT_DOUBLE_EQ(j["warn_age_s"].get<double>(), 300.0);
  EXPECT_EQ(j["warnings"], json({"depth", "age"}));
  EXPECT_DOUBLE_EQ(j["oldest_available_age_s"].get<double>(), 600.0);
  EXPECT_EQ(j["counts"]["available"], 60);

  auto back = QueueInfoFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->limits, LimitedQueue().limits);
  EXPECT_EQ(back->warnings, LimitedQueue().warnings);
  EXPECT_EQ(QueueInfoToJson(*back, now), j);

  // No limits: nulls, and an empty list of warnings.
  QueueInfo plain;
  plain.name = "default";
  const json p = QueueInfoToJson(plain, now);
  for (const char* field : {"concurrency", "warn_depth", "warn_age_s", "oldest_available_run_at"}) {
    EXPECT_TRUE(p[field].is_null()) << field;
  }
  EXPECT_EQ(p["warnings"], json::array());
  auto plain_back = QueueInfoFromJson(p);
  ASSERT_TRUE(plain_back.ok());
  EXPECT_TRUE(plain_back->limits.empty());
}

TEST(FlowJsonTest, ResourceJsonHasTheContractFieldsAndReadsBack) {
  const json j = ResourceInfoToJson(BusyResource());
  EXPECT_EQ(j["key"], "host:imx.to");
  EXPECT_EQ(j["concurrency"], 4);
  EXPECT_EQ(j["rate"], "10/s");
  EXPECT_EQ(j["burst"], 20.0);
  EXPECT_EQ(j["breaker_failures"], 5);
  EXPECT_DOUBLE_EQ(j["breaker_cooldown_s"].get<double>(), 45.0);
  EXPECT_EQ(j["running"], 3);
  EXPECT_EQ(j["available"], 7);
  EXPECT_EQ(j["breaker"], json({{"state", "open"}, {"failures", 5}, {"open_until", "2026-01-01T00:00:45.000Z"}}));
  EXPECT_EQ(j["held_until"], "2026-01-01T00:01:00.000Z");
  EXPECT_EQ(j["stats"]["succeeded"], 30);
  EXPECT_EQ(j["stats"]["failed"], 10);
  EXPECT_DOUBLE_EQ(j["stats"]["success_rate"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j["stats"]["p50_s"].get<double>(), 1.2);
  EXPECT_DOUBLE_EQ(j["stats"]["p95_s"].get<double>(), 3.4);

  auto back = ResourceInfoFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->limits, BusyResource().limits);
  EXPECT_EQ(back->breaker, BusyResource().breaker);
  EXPECT_EQ(ResourceInfoToJson(*back), j);

  // Nothing set, no runs: nulls (success_rate too), the default cooldown, a closed breaker.
  ResourceInfo fresh;
  fresh.key = "source:pexels";
  const json f = ResourceInfoToJson(fresh);
  for (const char* field : {"concurrency", "rate", "burst", "breaker_failures", "held_until"}) {
    EXPECT_TRUE(f[field].is_null()) << field;
  }
  EXPECT_DOUBLE_EQ(f["breaker_cooldown_s"].get<double>(), 30.0);
  EXPECT_EQ(f["breaker"]["state"], "closed");
  EXPECT_TRUE(f["stats"]["success_rate"].is_null());
  EXPECT_TRUE(f["stats"]["p50_s"].is_null());
  auto fresh_back = ResourceInfoFromJson(f);
  ASSERT_TRUE(fresh_back.ok());
  EXPECT_TRUE(fresh_back->limits.empty());
}

TEST(FlowJsonTest, AnAnswerOfTheWrongShapeIsInternalNamingTheField) {
  json j = ResourceInfoToJson(BusyResource());
  j["breaker"]["state"] = "ajar";
  auto bad_state = ResourceInfoFromJson(j);
  ASSERT_FALSE(bad_state.ok());
  EXPECT_EQ(bad_state.status().code(), StatusCode::kInternal);
  EXPECT_NE(bad_state.status().message().find("resource.breaker.state"), std::string::npos);
  json q = QueueInfoToJson(LimitedQueue(), At("2026-01-01T00:10:00.000Z"));
  q["concurrency"] = "one";
  auto bad_queue = QueueInfoFromJson(q);
  ASSERT_FALSE(bad_queue.ok());
  EXPECT_NE(bad_queue.status().message().find("queue.concurrency"), std::string::npos);
}

TEST(FlowJsonTest, QueuePatchAbsentKeepsNullClearsValueSets) {
  auto p = ParseQueueLimitsPatch(json::parse(R"({"concurrency": 2, "warn_depth": null})"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE(p->clear);
  ASSERT_TRUE(p->concurrency.has_value());
  EXPECT_EQ(**p->concurrency, 2);
  ASSERT_TRUE(p->warn_depth.has_value());
  EXPECT_FALSE(p->warn_depth->has_value()) << "null clears";
  EXPECT_FALSE(p->warn_age.has_value()) << "absent keeps";

  QueueLimits before;
  before.warn_depth = 10;
  before.warn_age = std::chrono::seconds(60);
  const QueueLimits after = Apply(before, *p);
  EXPECT_EQ(after.concurrency, 2);
  EXPECT_FALSE(after.warn_depth);
  EXPECT_EQ(after.warn_age, std::chrono::seconds(60));

  auto age = ParseQueueLimitsPatch(json::parse(R"({"warn_age_s": 90.5})"));
  ASSERT_TRUE(age.ok());
  EXPECT_EQ(**age->warn_age, std::chrono::milliseconds(90'500));
  EXPECT_TRUE(ParseQueueLimitsPatch(json::object()).ok()) << "an empty patch changes nothing";
}

TEST(FlowJsonTest, ResourcePatchReadsEveryField) {
  auto p = ParseResourceLimitsPatch(json::parse(
      R"({"concurrency": null, "rate": "600/min", "burst": 2.5, "breaker_failures": 3, "breaker_cooldown_s": 10})"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE(p->concurrency->has_value());
  EXPECT_EQ((*p->rate)->text, ParseRate("600/min")->text);
  EXPECT_DOUBLE_EQ(**p->burst, 2.5);
  EXPECT_EQ(**p->breaker_failures, 3);
  EXPECT_EQ(**p->breaker_cooldown, std::chrono::seconds(10));
}

TEST(FlowJsonTest, PatchErrorsNameTheField) {
  struct Case {
    const char* body;
    bool resource;
    const char* starts_with;
  };
  for (const Case& c : {
           Case{R"({"concurency": 1})", false, "concurency: unknown field"},
           Case{R"({"concurrency": "1"})", false, "concurrency: must be an integer"},
           Case{R"({"concurrency": 1.5})", false, "concurrency: must be an integer"},
           Case{R"({"warn_depth": true})", false, "warn_depth: must be an integer"},
           Case{R"({"warn_age_s": "5m"})", false, "warn_age_s: must be a number of seconds"},
           Case{R"({"warn_age": 300})", false, "warn_age: unknown field"},
           Case{R"({"rate": "abc"})", true, "rate"},
           Case{R"({"rate": 10})", true, "rate: must be a string"},
           Case{R"({"burst": "20"})", true, "burst: must be a number"},
           Case{R"({"breaker_failures": "5"})", true, "breaker_failures: must be an integer"},
           Case{R"({"breaker_cooldown_s": -1})", true, "breaker_cooldown_s:"},
           Case{R"({"breaker_cooldown": 30})", true, "breaker_cooldown: unknown field"},
           Case{R"({"concurrency": 99999999999})", true, "concurrency:"},
       }) {
    const json body = json::parse(c.body);
    const Status s = c.resource ? ParseResourceLimitsPatch(body).status() : ParseQueueLimitsPatch(body).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(s.message().rfind(c.starts_with, 0), 0u) << c.body << " -> " << s.message();
  }
  const Status rate = ParseResourceLimitsPatch(json::parse(R"({"rate": "abc"})")).status();
  EXPECT_NE(rate.message().find("abc"), std::string::npos) << rate.message();
  EXPECT_FALSE(ParseQueueLimitsPatch(json::array()).ok());
}

TEST(FlowJsonTest, PatchBodiesReadBackToThePatch) {
  QueueLimitsPatch q;
  q.clear = true;
  q.warn_age = std::optional<Duration>(std::chrono::minutes(5));
  const json qj = QueueLimitsPatchToJson(q);
  EXPECT_EQ(qj, json::parse(R"({"concurrency": null, "warn_depth": null, "warn_age_s": 300.0})"));
  auto qp = ParseQueueLimitsPatch(qj);
  ASSERT_TRUE(qp.ok());
  QueueLimits had;
  had.concurrency = 3;
  had.warn_depth = 7;
  EXPECT_EQ(Apply(had, *qp), Apply(had, q)) << "clear is every field null";

  ResourceLimitsPatch r;
  r.concurrency = std::optional<int>(2);
  r.rate = std::optional<Rate>(*ParseRate("5/s"));
  r.breaker_failures = std::optional<int>();
  const json rj = ResourceLimitsPatchToJson(r);
  EXPECT_EQ(rj, json::parse(R"({"concurrency": 2, "rate": "5/s", "breaker_failures": null})"));
  auto rp = ParseResourceLimitsPatch(rj);
  ASSERT_TRUE(rp.ok());
  ResourceLimits base;
  base.breaker.failures = 4;
  EXPECT_EQ(Apply(base, *rp), Apply(base, r));
}

TEST(FlowJsonTest, JobCostIsOnTheWireBothWays) {
  Job j;
  j.id = 7;
  j.kind = "upload";
  j.cost = 25;
  const json encoded = JobToJson(j);
  EXPECT_EQ(encoded["cost"], 25);
  auto decoded = JobFromJson(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->cost, 25);

  EnqueueRequest r;
  r.kind = "upload";
  r.cost = 3;
  auto parsed = ParseEnqueueRequest(EnqueueRequestToJson(r), "");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->cost, 3);
  auto none = ParseEnqueueRequest(json::parse(R"({"kind": "k"})"), "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->cost.has_value());
  auto bad = ParseEnqueueRequest(json::parse(R"({"kind": "k", "cost": "3"})"), "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("cost: must be an integer", 0), 0u) << bad.status().message();
}

}  // namespace
}  // namespace jobwarden
