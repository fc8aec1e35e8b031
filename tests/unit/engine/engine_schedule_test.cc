// The engine's schedules: applied from a file's tables (validated whole), and
// fired by the reaper's pass at the right times, with catch_up, on a FakeClock.
#include <gtest/gtest.h>

#include "unit/engine/engine_helpers.h"

namespace jobwarden::testing {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

class EngineScheduleTest : public EngineTest {
 protected:
  void SetUp() override { clock().Set(*ParseRfc3339("2026-12-03T10:00:30.000Z")); }

  static ScheduleSpec Hourly(CatchUp c = CatchUp::kOne) {
    return {.name = "hourly", .cron = "0 * * * *", .kind = "report", .args = R"({"n":1})", .catch_up = c};
  }

  // The unique_keys of every job, in id order.
  std::vector<std::string> FiredKeys() {
    auto jobs = store().JobList({});
    EXPECT_TRUE(jobs.ok());
    std::vector<std::string> keys;
    for (const Job& j : *jobs) keys.push_back(j.unique_key.value_or("(none)"));
    return keys;
  }
};

TEST_F(EngineScheduleTest, ApplyStoresTheNextFireAndRefusesBadTablesWritingNothing) {
  ASSERT_OK(engine().ApplySchedules({Hourly()}));
  auto listed = engine().Schedules();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(FormatRfc3339((*listed)[0].next_fire_at), "2026-12-03T11:00:00.000Z");

  ScheduleSpec good = Hourly();
  good.name = "other";
  ScheduleSpec bad = Hourly();
  bad.name = "bad";
  bad.cron = "0 * * *";
  Status s = engine().ApplySchedules({good, bad});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("schedules.bad.cron: "), std::string::npos) << s.message();
  EXPECT_EQ(engine().Schedules()->size(), 1u) << "nothing written when one table is bad";
}

TEST_F(EngineScheduleTest, EachFireOnceAtItsTime) {
  ASSERT_OK(engine().ApplySchedules({Hourly()}));
  EXPECT_OK(engine().ReapOnce().status());
  EXPECT_TRUE(FiredKeys().empty()) << "not due yet";
  clock().Set(*ParseRfc3339("2026-12-03T11:00:00.200Z"));
  auto pass = engine().ReapOnce();
  ASSERT_TRUE(pass.ok());
  EXPECT_EQ(pass->schedules_fired, 1);
  EXPECT_OK(engine().ReapOnce().status());  // a second pass in the same second fires nothing
  EXPECT_EQ(FiredKeys(), std::vector<std::string>{"schedule:hourly:2026-12-03T11:00:00.000Z"});
  auto job = store().JobList({});
  EXPECT_EQ(job->front().kind, "report");
  EXPECT_EQ(job->front().args, R"({"n":1})");
  EXPECT_EQ(engine().Schedules()->front().last_job_id, job->front().id);
}

TEST_F(EngineScheduleTest, AfterDowntimeCatchUpOneRunsTheLatestMissedFireAndNoneSkipsIt) {
  ScheduleSpec none = Hourly(CatchUp::kNone);
  none.name = "skips";
  ASSERT_OK(engine().ApplySchedules({Hourly(CatchUp::kOne), none}));
  // Down from before 11:00 until 13:20.
  clock().Set(*ParseRfc3339("2026-12-03T13:20:00.000Z"));
  EXPECT_OK(engine().ReapOnce().status());
  EXPECT_EQ(FiredKeys(), std::vector<std::string>{"schedule:hourly:2026-12-03T13:00:00.000Z"});
  auto schedules = engine().Schedules();
  ASSERT_TRUE(schedules.ok());
  for (const ScheduleInfo& s : *schedules) {
    EXPECT_EQ(FormatRfc3339(s.next_fire_at), "2026-12-03T14:00:00.000Z") << s.spec.name;
  }
}

TEST_F(EngineScheduleTest, ReapplyingKeepsTheNextFireAndAChangedCronTakesANewOne) {
  ASSERT_OK(engine().ApplySchedules({Hourly()}));
  clock().Advance(minutes(10));
  ASSERT_OK(engine().ApplySchedules({Hourly()}));
  EXPECT_EQ(FormatRfc3339(engine().Schedules()->front().next_fire_at), "2026-12-03T11:00:00.000Z");
  ScheduleSpec often = Hourly();
  often.cron = "*/15 * * * *";
  ASSERT_OK(engine().ApplySchedules({often}));
  EXPECT_EQ(FormatRfc3339(engine().Schedules()->front().next_fire_at), "2026-12-03T10:15:00.000Z");
}

}  // namespace
}  // namespace jobwarden::testing
