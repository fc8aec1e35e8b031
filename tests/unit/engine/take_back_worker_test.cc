// Engine::TakeBackWorker: a death seen by the caller (a dropped worker
// session) takes back exactly that worker's running jobs, per the transition
// table's worker_lost row: available at once, the attempt spent, no backoff.
#include <gtest/gtest.h>

#include "testutil/test_store.h"

namespace jobwarden {
namespace {

using testing::EngineBundle;
using testing::MakeJob;

JobId FetchOne(Engine& engine, const std::string& worker_id) {
  FetchRequest request;
  request.worker_id = worker_id;
  auto jobs = engine.Fetch(request);
  EXPECT_TRUE(jobs.ok()) << jobs.status().ToString();
  EXPECT_EQ(jobs->size(), 1u);
  return jobs->front().id;
}

TEST(TakeBackWorkerTest, TakesBackOnlyThatWorkersJobsAsWorkerLost) {
  EngineBundle b;
  ASSERT_TRUE(b.engine->Enqueue(MakeJob()).ok());
  ASSERT_TRUE(b.engine->Enqueue(MakeJob()).ok());
  const JobId mine = FetchOne(*b.engine, "w1");
  const JobId other = FetchOne(*b.engine, "w2");

  auto taken = b.engine->TakeBackWorker("w1", ErrorClass::kWorkerLost, "session dropped");
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(taken->front(), mine);

  auto j = b.engine->Get(mine);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->state, JobState::kAvailable);
  EXPECT_EQ(j->attempt, 1);
  ASSERT_EQ(j->errors.size(), 1u);
  EXPECT_EQ(j->errors[0].error_class, ErrorClass::kWorkerLost);
  EXPECT_EQ(j->errors[0].message, "session dropped");
  EXPECT_TRUE(j->errors[0].counted);

  auto o = b.engine->Get(other);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->state, JobState::kRunning);
}

TEST(TakeBackWorkerTest, LastAttemptFailsAndUnknownWorkerIsANoOp) {
  EngineBundle b;
  EnqueueRequest one_attempt = MakeJob();
  one_attempt.max_attempts = 1;
  ASSERT_TRUE(b.engine->Enqueue(one_attempt).ok());
  const JobId id = FetchOne(*b.engine, "w1");

  auto none = b.engine->TakeBackWorker("nobody", ErrorClass::kWorkerLost, "x");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  auto taken = b.engine->TakeBackWorker("w1", ErrorClass::kWorkerLost, "gone");
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  auto j = b.engine->Get(id);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->state, JobState::kFailed);

  // Idempotent: nothing left to take back.
  auto again = b.engine->TakeBackWorker("w1", ErrorClass::kWorkerLost, "gone");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST(TakeBackWorkerTest, EmitsStateChanges) {
  EngineBundle b;
  std::vector<JobEventRecord> events;
  b.engine->AddListener([&](const JobEventRecord& e) { events.push_back(e); });
  ASSERT_TRUE(b.engine->Enqueue(MakeJob()).ok());
  const JobId id = FetchOne(*b.engine, "w1");
  events.clear();
  ASSERT_TRUE(b.engine->TakeBackWorker("w1", ErrorClass::kWorkerLost, "gone").ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].id, id);
  EXPECT_EQ(events[0].from, JobState::kRunning);
  EXPECT_EQ(events[0].to, JobState::kAvailable);
  EXPECT_EQ(events[0].error_class, ErrorClass::kWorkerLost);
}

}  // namespace
}  // namespace jobwarden
