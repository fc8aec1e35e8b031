// The plans of the SQLite statements that run on every reaper tick or on
// every fetch. Without statistics SQLite may answer them through
// jobs_state_queue and a sort, visiting every waiting or finished job each
// time: with a million queued jobs that kept an idle server's core half busy
// and held the write lock for the scan. Each must go through its own index.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.h"
#include "testutil/temp_dir.h"

namespace jobwarden::testing {
namespace {

std::string Joined(const std::vector<std::string>& plan) {
  std::string out;
  for (const auto& line : plan) out += line + "\n";
  return out;
}

class QueryPlanTest : public ::testing::TestWithParam<std::pair<const char*, const char*>> {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore({.path = dir_.File("plans.db")});
    ASSERT_TRUE(store.ok()) << store.status().ToString();  // creates and migrates the schema
  }
  TempDir dir_;
};

TEST_P(QueryPlanTest, UsesItsIndexAndNeitherScansNorSortsTheJobs) {
  const auto [statement, index] = GetParam();
  auto plan = ExplainSqliteStatement(dir_.File("plans.db"), statement);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const std::string text = Joined(*plan);
  // "USING INDEX name (" or "USING COVERING INDEX name (".
  EXPECT_NE(text.find(std::string("INDEX ") + index + " ("), std::string::npos) << statement << ":\n" << text;
  EXPECT_EQ(text.find("SCAN jobs"), std::string::npos) << statement << ":\n" << text;
  EXPECT_EQ(text.find("TEMP B-TREE"), std::string::npos) << statement << ":\n" << text;
}

INSTANTIATE_TEST_SUITE_P(
    ReaperAndFetch, QueryPlanTest,
    ::testing::Values(
        std::pair{"JobListDeadlinePassed", "jobs_waiting_deadline"},
        std::pair{"JobPromoteScheduled", "jobs_scheduled_due"}, std::pair{"JobPurgeFinished", "jobs_finished"},
        std::pair{"JobFetchCandidates", "jobs_fetch"},
        // Flow control: keyed jobs from their index alone; per key when the head is held.
        std::pair{"JobFetchKeyedCandidates", "jobs_fetch_keyed"}, std::pair{"JobFetchKeyedScan", "jobs_fetch_keyed"},
        std::pair{"JobFetchNextKey", "jobs_fetch_by_key"}, std::pair{"JobFetchKeyHead", "jobs_fetch_by_key"},
        std::pair{"QueueRunning", "jobs_state_queue"}, std::pair{"ResourceCountInState", "jobs_resource"},
        std::pair{"ResourceNextJobKey", "jobs_resource"}, std::pair{"JobHasDueScheduledInQueue", "jobs_scheduled"},
        std::pair{"JobPromoteScheduledInQueue", "jobs_scheduled"},
        // Listing by state: the queues holding the state, then each queue's run by id.
        std::pair{"JobStateQueues", "jobs_state_queue"}, std::pair{"JobListByStateQueue", "jobs_state_queue"},
        // Batches: the members of one batch; the reaper's retention of finished batches.
        std::pair{"BatchCounts", "jobs_batch"}, std::pair{"BatchMembers", "jobs_batch"},
        std::pair{"BatchPurgeFinished", "batches_finished"},
        // Failure groups: the newest errors by their time.
        std::pair{"JobErrorsSince", "job_errors_at"},
        // The dashboard's queue table: the oldest available job by a skip scan of the fetch indexes.
        std::pair{"QueueOldestAvailable", "jobs_fetch"}, std::pair{"QueueOldestAvailable", "jobs_fetch_keyed"}),
    [](const ::testing::TestParamInfo<std::pair<const char*, const char*>>& p) {
      return std::string(p.param.first) + "_" + std::to_string(p.index);
    });

TEST(QueryPlanLookupTest, UnknownStatementIsNotFound) {
  TempDir dir;
  ASSERT_TRUE(OpenSqliteStore({.path = dir.File("plans.db")}).ok());
  EXPECT_EQ(ExplainSqliteStatement(dir.File("plans.db"), "NoSuchStatement").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace jobwarden::testing
