// Small helpers shared by the engine unit tests (not a test file itself).
#pragma once

// MakeJob({.queue = "q"}) (STYLE.md §8) leaves the other members to their
// defaults on purpose; GCC 12's -Wextra flags every such designated
// initializer (-Wmissing-field-initializers). Silenced for the test files
// that include this header only.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testutil/test_store.h"

namespace jobwarden::testing {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// The lease TTL, grace and TTL/3 every helper fetch uses (DESIGN defaults).
inline constexpr Duration kGrace = seconds(5);
inline constexpr Duration kTtlThird = kLeaseTtl / 3;

class EngineTest : public ::testing::Test {
 protected:
  explicit EngineTest(EngineOptions options = {}) : b_(std::move(options)) {}

  Engine& engine() { return *b_.engine; }
  FakeClock& clock() { return b_.clock; }
  Store& store() { return *b_.store; }
  Timestamp Now() { return b_.clock.Now(); }

  Job Enqueue(EnqueueRequest r = {}) {
    auto res = engine().Enqueue(MakeJob(std::move(r)));
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? res->job : Job{};
  }

  std::vector<Job> FetchN(int max, std::vector<std::string> queues = {"default"}, std::string worker = "w1") {
    FetchRequest f;
    f.queues = std::move(queues);
    f.max = max;
    f.lease_ttl = kLeaseTtl;
    f.grace = kGrace;
    f.worker_id = std::move(worker);
    auto res = engine().Fetch(f);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? *res : std::vector<Job>{};
  }

  // Fetches exactly one job (fails the test otherwise).
  Job FetchOne(std::vector<std::string> queues = {"default"}, std::string worker = "w1") {
    auto jobs = FetchN(1, std::move(queues), std::move(worker));
    EXPECT_EQ(jobs.size(), 1u);
    return jobs.empty() ? Job{} : jobs.front();
  }

  Job Get(JobId id) {
    auto res = engine().Get(id);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? *res : Job{};
  }

  ReapStats Reap() {
    auto res = engine().ReapOnce();
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? *res : ReapStats{};
  }

  HeartbeatResult Beat(const Job& j, std::optional<Progress> progress = std::nullopt,
                       std::optional<std::string> checkpoint = std::nullopt, std::string worker = "") {
    HeartbeatRequest r;
    r.worker_id = std::move(worker);
    r.jobs.push_back({j.id, j.lease_token, std::move(progress), std::move(checkpoint)});
    auto res = engine().Heartbeat(r);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_TRUE(!res.ok() || res->size() == 1);
    return res.ok() && !res->empty() ? res->front() : HeartbeatResult{};
  }

  Status Complete(const Job& j, std::optional<std::string> result = std::nullopt) {
    return engine().Complete({j.id, j.lease_token, std::move(result), std::nullopt, std::nullopt});
  }

  Status Fail(const Job& j, ErrorClass c, std::string message = "boom",
              std::optional<Duration> retry_after = std::nullopt,
              std::optional<std::string> checkpoint = std::nullopt) {
    FailRequest r;
    r.id = j.id;
    r.token = j.lease_token;
    r.failure.error_class = c;
    r.failure.message = std::move(message);
    r.failure.retry_after = retry_after;
    r.checkpoint = std::move(checkpoint);
    return engine().Fail(r);
  }

  EngineBundle b_;
};

}  // namespace jobwarden::testing
