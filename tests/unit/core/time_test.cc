// Durations and timestamps as jobwarden parses and prints them (core/time.h).
#include "core/time.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

namespace jobwarden {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

Duration MustDuration(std::string_view s) {
  auto d = ParseDuration(s);
  EXPECT_TRUE(d.ok()) << s << ": " << d.status().ToString();
  return d.ok() ? *d : Duration(-1);
}

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(MustDuration("500ms"), milliseconds(500));
  EXPECT_EQ(MustDuration("30s"), seconds(30));
  EXPECT_EQ(MustDuration("5m"), minutes(5));
  EXPECT_EQ(MustDuration("2h"), hours(2));
  EXPECT_EQ(MustDuration("1d"), hours(24));
  EXPECT_EQ(MustDuration("0s"), Duration(0));
}

TEST(ParseDurationTest, FractionsSumsAndBareSeconds) {
  EXPECT_EQ(MustDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(MustDuration("1h30m"), minutes(90));
  EXPECT_EQ(MustDuration("1m30s250ms"), milliseconds(90'250));
  EXPECT_EQ(MustDuration("10"), seconds(10));
  EXPECT_EQ(MustDuration("0.25"), milliseconds(250));
}

TEST(ParseDurationTest, BadInputIsInvalidArgumentSayingWhy) {
  struct Case {
    std::string_view text;
    std::string_view why;
  };
  for (const Case& c :
       {Case{"", "empty"}, Case{"-5s", "negative"}, Case{"abc", "expected a number"}, Case{"5x", "unknown unit"},
        Case{"s", "expected a number"}, Case{"5s3", "missing unit"}, Case{"1.2.3s", "bad number"},
        Case{" 5s", "expected a number"}, Case{"5 s", "missing unit"}, Case{"99999999999999h", "too large"}}) {
    auto d = ParseDuration(c.text);
    ASSERT_FALSE(d.ok()) << "'" << c.text << "' parsed as " << d->count();
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(d.status().message().find(c.why), std::string::npos) << c.text << ": " << d.status().message();
  }
}

TEST(FromSecondsTest, FractionsRoundToMilliseconds) {
  auto a = FromSeconds(1.5);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, milliseconds(1500));
  auto b = FromSeconds(0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, Duration(0));
  auto c = FromSeconds(0.0004);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, Duration(0));
  auto d = FromSeconds(2.0006);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, milliseconds(2001));
}

TEST(FromSecondsTest, NegativeNanInfiniteAndHugeAreErrors) {
  for (double v : {-0.001, -1.0, std::nan(""), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity(), 1e13}) {
    auto d = FromSeconds(v);
    EXPECT_FALSE(d.ok()) << v;
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(ToSecondsTest, MillisecondsBecomeFractionalSeconds) {
  EXPECT_DOUBLE_EQ(ToSeconds(milliseconds(1500)), 1.5);
  EXPECT_DOUBLE_EQ(ToSeconds(minutes(30)), 1800.0);
}

TEST(Rfc3339Test, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339(FromMillis(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(FromMillis(1'767'225'600'123)), "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(FormatRfc3339(FromMillis(951'782'400'000)), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(FromMillis(-1)), "1969-12-31T23:59:59.999Z");
}

TEST(Rfc3339Test, AgreesWithTheCLibraryOverFourCenturies) {
  // The formatter does its own civil-date arithmetic: every day from 1800 to
  // 2200 (leap years, century rules) at a time of day that moves, against gmtime_r.
  const std::int64_t kDay = 86'400'000;
  for (std::int64_t ms = -5'364'662'400'000LL; ms < 7'258'118'400'000LL; ms += kDay + 3'723'457) {
    const std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    const std::time_t tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char want[64];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms - secs * 1000));
    ASSERT_EQ(FormatRfc3339(FromMillis(ms)), want) << ms;
  }
}

TEST(Rfc3339Test, ParsesWhatItFormats) {
  for (std::int64_t ms : {0LL, 1'767'225'600'123LL, 951'782'400'999LL, 4'102'444'799'000LL}) {
    auto t = ParseRfc3339(FormatRfc3339(FromMillis(ms)));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(ToMillis(*t), ms);
  }
}

TEST(Rfc3339Test, AcceptsOffsetsShortFractionsAndLowercase) {
  const std::int64_t base = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
  auto plus = ParseRfc3339("2026-01-01T02:00:00+02:00");
  ASSERT_TRUE(plus.ok());
  EXPECT_EQ(ToMillis(*plus), base);
  auto minus = ParseRfc3339("2025-12-31T23:30:00-00:30");
  ASSERT_TRUE(minus.ok());
  EXPECT_EQ(ToMillis(*minus), base);
  auto frac = ParseRfc3339("2026-01-01T00:00:00.5Z");
  ASSERT_TRUE(frac.ok());
  EXPECT_EQ(ToMillis(*frac), base + 500);
  auto micro = ParseRfc3339("2026-01-01T00:00:00.123999Z");  // beyond ms: truncated
  ASSERT_TRUE(micro.ok());
  EXPECT_EQ(ToMillis(*micro), base + 123);
  auto lower = ParseRfc3339("2026-01-01t00:00:00z");
  ASSERT_TRUE(lower.ok());
  EXPECT_EQ(ToMillis(*lower), base);
}

TEST(Rfc3339Test, LeapDaysExistOnlyInLeapYears) {
  auto leap = ParseRfc3339("2024-02-29T12:00:00Z");
  ASSERT_TRUE(leap.ok());
  EXPECT_EQ(FormatRfc3339(*leap), "2024-02-29T12:00:00.000Z");
  EXPECT_TRUE(ParseRfc3339("2000-02-29T00:00:00Z").ok());
  EXPECT_TRUE(ParseRfc3339("2026-12-31T23:59:59.999Z").ok());
}

TEST(Rfc3339Test, GarbageIsInvalidArgument) {
  for (std::string_view s :
       {"", "garbage", "2026-01-01", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z", "2026-01-32T00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00Zjunk",
        "2026-01-01T00:00:00+0200", "2026/01/01T00:00:00Z", "-026-01-01T00:00:00Z", "2026-02-29T00:00:00Z",
        "2026-02-31T00:00:00Z", "2026-04-31T00:00:00Z", "2100-02-29T00:00:00Z", "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+01:60"}) {
    auto t = ParseRfc3339(s);
    ASSERT_FALSE(t.ok()) << "'" << s << "' parsed as " << FormatRfc3339(*t);
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(FormatDurationShortTest, PicksAReadableUnit) {
  EXPECT_EQ(FormatDurationShort(milliseconds(850)), "850ms");
  EXPECT_EQ(FormatDurationShort(milliseconds(12'300)), "12.3s");
  EXPECT_EQ(FormatDurationShort(milliseconds(245'000)), "4m05s");
  EXPECT_EQ(FormatDurationShort(minutes(130)), "2h10m");
  EXPECT_EQ(FormatDurationShort(milliseconds(-1500)), "-1.5s");
}

}  // namespace
}  // namespace jobwarden
