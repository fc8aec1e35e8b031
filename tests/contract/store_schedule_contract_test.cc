// The Store contract for schedules (store/store.h ScheduleStore, DESIGN.md
// "Schedules"), run against every driver: specs kept and replaced, and the
// guarded fire that makes each fire happen once however many stores race.
#include <gtest/gtest.h>

#include "store/store.h"
#include "testutil/temp_dir.h"
#include "testutil/test_store.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace jobwarden {
namespace {

using std::chrono::minutes;
using testing::StoreFactory;

const Timestamp kT0 = FromMillis(1'767'225'600'000);

class StoreScheduleContractTest : public testing::StoreContractBase {
 protected:
  static ScheduleSpec Spec(std::string name, std::string cron = "0 * * * *") {
    return {.name = std::move(name), .cron = std::move(cron), .kind = "report", .args = R"({"n":1})"};
  }

  static NewJob FireJob(const std::string& name, Timestamp fire) {
    NewJob j;
    j.kind = "report";
    j.queue = "default";
    j.run_at = fire;
    j.timeout = minutes(30);
    j.unique_key = ScheduleFireKey(name, fire);
    return j;
  }

  ScheduleInfo Only() {
    auto all = store_->ScheduleList();
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    EXPECT_EQ(all.ok() ? all->size() : 0u, 1u);
    return all.ok() && !all->empty() ? all->front() : ScheduleInfo{};
  }
};

TEST_P(StoreScheduleContractTest, UpsertKeepsTheNextFireUnlessTheTimingChanged) {
  ASSERT_OK(store_->ScheduleUpsert({{Spec("hourly"), kT0 + minutes(60)}}, kT0));
  ScheduleInfo s = Only();
  EXPECT_EQ(s.spec, Spec("hourly"));
  EXPECT_EQ(s.next_fire_at, kT0 + minutes(60));
  EXPECT_FALSE(s.last_fire_at);

  // The same timing, another job: the next fire stays.
  ScheduleSpec other_job = Spec("hourly");
  other_job.queue = "reports";
  other_job.catch_up = CatchUp::kNone;
  ASSERT_OK(store_->ScheduleUpsert({{other_job, kT0 + minutes(5)}}, kT0 + minutes(1)));
  s = Only();
  EXPECT_EQ(s.spec, other_job);
  EXPECT_EQ(s.next_fire_at, kT0 + minutes(60));

  // A new cron expression: the new next fire.
  ASSERT_OK(store_->ScheduleUpsert({{Spec("hourly", "*/5 * * * *"), kT0 + minutes(5)}}, kT0 + minutes(1)));
  EXPECT_EQ(Only().next_fire_at, kT0 + minutes(5));
}

TEST_P(StoreScheduleContractTest, AFireMovesTheRowAndEnqueuesItsJobOnce) {
  const Timestamp fire = kT0 + minutes(60);
  ASSERT_OK(store_->ScheduleUpsert({{Spec("hourly"), fire}}, kT0));
  ScheduleFireParams p{"hourly", fire, fire + minutes(60), fire, FireJob("hourly", fire), fire};
  auto won = store_->ScheduleFire(p);
  ASSERT_TRUE(won.ok()) << won.status().ToString();
  ASSERT_TRUE(won->won);
  ASSERT_TRUE(won->job);
  EXPECT_FALSE(won->job->deduplicated);
  ScheduleInfo s = Only();
  EXPECT_EQ(s.next_fire_at, fire + minutes(60));
  EXPECT_EQ(s.last_fire_at, fire);
  EXPECT_EQ(s.last_job_id, won->job->id);
  auto job = store_->JobGet(won->job->id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->unique_key, "schedule:hourly:" + FormatRfc3339(fire));

  // A second store that read the same row loses: nothing is written.
  std::unique_ptr<Store> other = Open();
  auto lost = other->ScheduleFire(p);
  ASSERT_TRUE(lost.ok()) << lost.status().ToString();
  EXPECT_FALSE(lost->won);
  EXPECT_FALSE(lost->job);
  auto jobs = store_->JobList({});
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), 1u);
  EXPECT_EQ(Only().next_fire_at, fire + minutes(60));
}

TEST_P(StoreScheduleContractTest, ASkippedFireMovesTheRowOnly) {
  const Timestamp fire = kT0 + minutes(60);
  ASSERT_OK(store_->ScheduleUpsert({{Spec("hourly"), fire}}, kT0));
  auto r = store_->ScheduleFire({"hourly", fire, fire + minutes(180), std::nullopt, std::nullopt, fire + minutes(150)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->won);
  EXPECT_FALSE(r->job);
  ScheduleInfo s = Only();
  EXPECT_EQ(s.next_fire_at, fire + minutes(180));
  EXPECT_FALSE(s.last_fire_at);
  auto jobs = store_->JobList({});
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
}

TEST_P(StoreScheduleContractTest, AnUnknownScheduleFiresNothing) {
  auto r = store_->ScheduleFire({"nope", kT0, kT0 + minutes(1), kT0, FireJob("nope", kT0), kT0});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->won);
  auto jobs = store_->JobList({});
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
}

INSTANTIATE_TEST_SUITE_P(Drivers, StoreScheduleContractTest, ::testing::Values(testing::SqliteStoreFactory()),
                         [](const ::testing::TestParamInfo<StoreFactory>& p) { return p.param.name; });

}  // namespace
}  // namespace jobwarden
