#include "core/cron.h"

#include <gtest/gtest.h>

namespace jobwarden {
namespace {

Timestamp At(const char* rfc3339) {
  auto t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.ok() ? *t : Timestamp{};
}

std::string Next(const std::string& expr, const char* after, const char* tz = "UTC") {
  auto c = CronSchedule::Parse(expr, tz);
  EXPECT_TRUE(c.ok()) << expr << ": " << c.status().ToString();
  if (!c.ok()) return "";
  auto next = c->NextAfter(At(after));
  return next ? FormatRfc3339(*next) : "never";
}

std::string ParseError(const std::string& expr, const char* tz = "UTC") {
  auto c = CronSchedule::Parse(expr, tz);
  EXPECT_FALSE(c.ok()) << expr << " parsed";
  return c.ok() ? "" : c.status().message();
}

TEST(CronTest, FieldsListsRangesAndSteps) {
  EXPECT_EQ(Next("* * * * *", "2026-12-03T10:15:30.000Z"), "2026-12-03T10:16:00.000Z");
  EXPECT_EQ(Next("*/15 * * * *", "2026-12-03T10:15:00.000Z"), "2026-12-03T10:30:00.000Z") << "strictly after";
  EXPECT_EQ(Next("5,35 9-17 * * *", "2026-12-03T17:36:00.000Z"), "2026-12-04T09:05:00.000Z");
  EXPECT_EQ(Next("0 8-18/5 * * *", "2026-12-03T09:00:00.000Z"), "2026-12-03T13:00:00.000Z");
  EXPECT_EQ(Next("10/20 * * * *", "2026-12-03T10:31:00.000Z"), "2026-12-03T10:50:00.000Z") << "N/S runs to the end";
  EXPECT_EQ(Next("0 0 1 * *", "2026-12-03T00:00:00.000Z"), "2027-01-01T00:00:00.000Z");
}

TEST(CronTest, NamesMacrosAndSundayAsSeven) {
  // 2026-12-03 is a Thursday.
  EXPECT_EQ(Next("0 9 * * MON-fri", "2026-12-04T09:00:00.000Z"), "2026-12-07T09:00:00.000Z");
  EXPECT_EQ(Next("0 0 * * 7", "2026-12-03T00:00:00.000Z"), "2026-12-06T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 * * sun", "2026-12-03T00:00:00.000Z"), "2026-12-06T00:00:00.000Z");
  EXPECT_EQ(Next("0 12 1 jun *", "2026-12-03T00:00:00.000Z"), "2027-06-01T12:00:00.000Z");
  EXPECT_EQ(Next("@hourly", "2026-12-03T10:15:00.000Z"), "2026-12-03T11:00:00.000Z");
  EXPECT_EQ(Next("@daily", "2026-12-03T10:15:00.000Z"), "2026-12-04T00:00:00.000Z");
  EXPECT_EQ(Next("@weekly", "2026-12-03T10:15:00.000Z"), "2026-12-06T00:00:00.000Z");
  EXPECT_EQ(Next("@yearly", "2026-12-03T10:15:00.000Z"), "2027-01-01T00:00:00.000Z");
}

TEST(CronTest, BothDayFieldsRestrictedMeansEither) {
  // The 13th, or any Friday (crontab(5)); 2026-12-04 is a Friday.
  EXPECT_EQ(Next("0 0 13 * fri", "2026-12-03T00:00:00.000Z"), "2026-12-04T00:00:00.000Z");
  EXPECT_EQ(Next("0 0 13 * fri", "2026-12-12T00:00:00.000Z"), "2026-12-13T00:00:00.000Z");
  // With one of them `*`, both must hold: Fridays only.
  EXPECT_EQ(Next("0 0 * * fri", "2026-12-05T00:00:00.000Z"), "2026-12-11T00:00:00.000Z");
  // Leap days exist, so this fires (in 2028).
  EXPECT_EQ(Next("0 0 29 2 *", "2026-12-03T00:00:00.000Z"), "2028-02-29T00:00:00.000Z");
}

TEST(CronTest, TimeZonesAndDaylightSavingTime) {
  EXPECT_EQ(Next("0 9 * * *", "2026-12-03T00:00:00.000Z", "Europe/Paris"), "2026-12-03T08:00:00.000Z");
  EXPECT_EQ(Next("0 9 * * *", "2026-07-03T00:00:00.000Z", "Europe/Paris"), "2026-07-03T07:00:00.000Z");
  // Paris springs forward on 2027-03-28 at 02:00 local (01:00Z): 02:30 does not exist that day
  // and fires when the clocks jump, once.
  EXPECT_EQ(Next("30 2 * * *", "2027-03-27T12:00:00.000Z", "Europe/Paris"), "2027-03-28T01:00:00.000Z");
  EXPECT_EQ(Next("30 2 * * *", "2027-03-28T01:00:00.000Z", "Europe/Paris"), "2027-03-29T00:30:00.000Z");
  // And falls back on 2026-10-25 at 03:00 local (01:00Z): 02:30 happens twice, fires at the first.
  EXPECT_EQ(Next("30 2 * * *", "2026-10-24T12:00:00.000Z", "Europe/Paris"), "2026-10-25T00:30:00.000Z");
  EXPECT_EQ(Next("30 2 * * *", "2026-10-25T00:30:00.000Z", "Europe/Paris"), "2026-10-26T01:30:00.000Z")
      << "not again at the second 02:30";
}

TEST(CronTest, EveryIsAlignedToTheEpochSoEveryProcessAgrees) {
  EXPECT_EQ(Next("@every 1s", "2026-12-03T10:15:30.250Z"), "2026-12-03T10:15:31.000Z");
  EXPECT_EQ(Next("@every 30s", "2026-12-03T10:15:30.000Z"), "2026-12-03T10:16:00.000Z");
  EXPECT_EQ(Next("@every 1h30m", "2026-12-03T10:15:00.000Z"), "2026-12-03T10:30:00.000Z");
  EXPECT_EQ(Next("@every 30s", "2026-12-03T10:15:00.000Z", "Asia/Tokyo"), "2026-12-03T10:15:30.000Z")
      << "the zone does not move @every";
  auto c = CronSchedule::Parse("@every 2m");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->every(), Duration(120000));
}

TEST(CronTest, BadInputNamesWhatIsWrong) {
  EXPECT_EQ(ParseError("* 25 * * *"), "cron: field 2 (hour) '25': 25 is out of range 0-23");
  EXPECT_EQ(ParseError("* * * *"), "cron: '* * * *' has 4 fields; give 5 (minute hour day-of-month month day-of-week)");
  EXPECT_EQ(ParseError("*/0 * * * *"), "cron: field 1 (minute) '*/0': step '0' must be a whole number of at least 1");
  EXPECT_EQ(ParseError("* * * foo *"), "cron: field 4 (month) 'foo': 'foo' is not a number or a name");
  EXPECT_EQ(ParseError("5-1 * * * *"), "cron: field 1 (minute) '5-1': range 5-1 runs backwards");
  EXPECT_EQ(ParseError("0 0 30 2 *"), "cron: '0 0 30 2 *' never fires (no date has that day and month)");
  EXPECT_EQ(ParseError("@often"),
            "cron: '@often' is not one of @yearly @annually @monthly @weekly @daily @midnight @hourly @every");
  EXPECT_EQ(ParseError("@every 500ms"), "cron: '@every': at least 1s");
  EXPECT_NE(ParseError("@every soon").find("cron: '@every soon': "), std::string::npos);
  EXPECT_EQ(ParseError(""), "cron: empty; give 5 fields, an @macro or '@every 30s'");
  EXPECT_EQ(ParseError("* * * * *", "Mars/Olympus"),
            "timezone: 'Mars/Olympus' is not in the tz database (e.g. UTC, Europe/Paris)");
}

}  // namespace
}  // namespace jobwarden
