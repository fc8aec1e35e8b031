#include "core/schedule.h"

#include <gtest/gtest.h>

namespace jobwarden {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

Timestamp At(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

CronSchedule Timing(const char* expr) {
  auto c = CronSchedule::Parse(expr);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

TEST(ScheduleTest, NothingIsDueBeforeTheNextFire) {
  const Timestamp next = At("2026-12-03T10:00:00.000Z");
  EXPECT_FALSE(PlanFire(Timing("0 * * * *"), CatchUp::kOne, next, next - seconds(1)));
}

TEST(ScheduleTest, AnOnTimeFireRunsAndTheNextIsAfterNow) {
  const Timestamp next = At("2026-12-03T10:00:00.000Z");
  auto plan = PlanFire(Timing("0 * * * *"), CatchUp::kNone, next, next + seconds(2));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->fire, next);
  EXPECT_EQ(plan->next_fire_at, At("2026-12-03T11:00:00.000Z"));
}

TEST(ScheduleTest, CatchUpOneRunsOnlyTheLatestMissedFire) {
  // Down from 10:00 to 13:20: the fires of 10, 11, 12 and 13 o'clock were missed.
  const Timestamp next = At("2026-12-03T10:00:00.000Z");
  auto plan = PlanFire(Timing("0 * * * *"), CatchUp::kOne, next, At("2026-12-03T13:20:00.000Z"));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->fire, At("2026-12-03T13:00:00.000Z"));
  EXPECT_EQ(plan->next_fire_at, At("2026-12-03T14:00:00.000Z"));

  auto every =
      PlanFire(Timing("@every 30s"), CatchUp::kOne, At("2026-12-03T10:00:00.000Z"), At("2026-12-03T10:05:10.000Z"));
  ASSERT_TRUE(every);
  EXPECT_EQ(every->fire, At("2026-12-03T10:05:00.000Z"));
  EXPECT_EQ(every->next_fire_at, At("2026-12-03T10:05:30.000Z"));
}

TEST(ScheduleTest, CatchUpNoneSkipsAFireThatIsTooLate) {
  const Timestamp next = At("2026-12-03T10:00:00.000Z");
  auto plan = PlanFire(Timing("0 * * * *"), CatchUp::kNone, next, At("2026-12-03T13:20:00.000Z"));
  ASSERT_TRUE(plan);
  EXPECT_FALSE(plan->fire) << "20 minutes late: downtime, not a busy process";
  EXPECT_EQ(plan->next_fire_at, At("2026-12-03T14:00:00.000Z"));
  auto late_but_on_time = PlanFire(Timing("0 * * * *"), CatchUp::kNone, next, next + kCatchUpNoneLateness);
  ASSERT_TRUE(late_but_on_time);
  EXPECT_EQ(late_but_on_time->fire, next);
}

TEST(ScheduleTest, TheFireKeyIsTheSameInEveryProcess) {
  EXPECT_EQ(ScheduleFireKey("nightly", At("2026-12-03T10:00:00.000Z")), "schedule:nightly:2026-12-03T10:00:00.000Z");
}

TEST(ScheduleTest, ValidationNamesTheField) {
  ScheduleSpec s{.name = "nightly", .cron = "0 3 * * *", .kind = "report"};
  EXPECT_TRUE(ValidateSchedule(s).ok());
  auto bad = s;
  bad.cron = "0 25 * * *";
  EXPECT_EQ(ValidateSchedule(bad).message(), "schedules.nightly.cron: field 2 (hour) '25': 25 is out of range 0-23");
  bad = s;
  bad.timezone = "Nowhere/Land";
  EXPECT_EQ(ValidateSchedule(bad).message(),
            "schedules.nightly.timezone: 'Nowhere/Land' is not in the tz database (e.g. UTC, Europe/Paris)");
  bad = s;
  bad.kind = "";
  EXPECT_EQ(ValidateSchedule(bad).message(), "schedules.nightly.kind: required");
  bad = s;
  bad.args = "[1]";
  EXPECT_EQ(ValidateSchedule(bad).message(), "schedules.nightly.args: must be a JSON object");
  bad = s;
  bad.name = "no spaces";
  EXPECT_NE(ValidateSchedule(bad).message().find("schedules: name 'no spaces'"), std::string::npos);
  EXPECT_EQ(ParseCatchUp("one"), CatchUp::kOne);
  EXPECT_EQ(ParseCatchUp("none"), CatchUp::kNone);
  EXPECT_FALSE(ParseCatchUp("all"));
}

}  // namespace
}  // namespace jobwarden
