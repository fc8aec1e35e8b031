// Backoff: min(cap, base * 2^(attempt-1)) * U(0.5, 1) (DESIGN.md defaults table).
#include "core/backoff.h"

#include <gtest/gtest.h>

namespace jobwarden {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(BackoffTest, DefaultsAreBase5sCap10min) {
  BackoffPolicy p;
  EXPECT_EQ(p.base, seconds(5));
  EXPECT_EQ(p.cap, minutes(10));
}

TEST(BackoffTest, DoublesPerAttemptBeforeJitter) {
  BackoffPolicy p;
  // unit 1 -> factor 1: the raw exponential.
  EXPECT_EQ(BackoffDelay(p, 1, 1.0), seconds(5));
  EXPECT_EQ(BackoffDelay(p, 2, 1.0), seconds(10));
  EXPECT_EQ(BackoffDelay(p, 3, 1.0), seconds(20));
  EXPECT_EQ(BackoffDelay(p, 7, 1.0), seconds(320));
  // unit 0 -> factor 0.5.
  EXPECT_EQ(BackoffDelay(p, 1, 0.0), milliseconds(2500));
  EXPECT_EQ(BackoffDelay(p, 3, 0.0), seconds(10));
  EXPECT_EQ(BackoffDelay(p, 2, 0.5), milliseconds(7500));
}

TEST(BackoffTest, CapAppliesBeforeJitter) {
  BackoffPolicy p;
  EXPECT_EQ(BackoffDelay(p, 8, 1.0), minutes(10));  // 5 s * 128 = 640 s > 600 s
  EXPECT_EQ(BackoffDelay(p, 8, 0.0), minutes(5));
  EXPECT_EQ(BackoffDelay(p, 1000, 1.0), minutes(10));  // no overflow for huge attempts
  EXPECT_EQ(BackoffDelay(p, std::numeric_limits<int>::max(), 0.0), minutes(5));
}

TEST(BackoffTest, CustomPolicy) {
  BackoffPolicy p{milliseconds(100), seconds(1)};
  EXPECT_EQ(BackoffDelay(p, 1, 1.0), milliseconds(100));
  EXPECT_EQ(BackoffDelay(p, 4, 1.0), milliseconds(800));
  EXPECT_EQ(BackoffDelay(p, 5, 1.0), seconds(1));
}

TEST(BackoffTest, NonPositiveAttemptCountsAsTheFirst) {
  BackoffPolicy p;
  EXPECT_EQ(BackoffDelay(p, 0, 1.0), seconds(5));
  EXPECT_EQ(BackoffDelay(p, -3, 1.0), seconds(5));
}

TEST(BackoffTest, UnitOutsideZeroOneIsClamped) {
  BackoffPolicy p;
  EXPECT_EQ(BackoffDelay(p, 1, -1.0), milliseconds(2500));
  EXPECT_EQ(BackoffDelay(p, 1, 7.0), seconds(5));
}

TEST(BackoffTest, SeededGeneratorIsDeterministic) {
  BackoffPolicy p;
  std::mt19937_64 a(99), b(99), c(100);
  std::vector<Duration> da, db, dc;
  for (int attempt = 1; attempt <= 10; ++attempt) {
    da.push_back(BackoffDelay(p, attempt, a));
    db.push_back(BackoffDelay(p, attempt, b));
    dc.push_back(BackoffDelay(p, attempt, c));
  }
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
}

TEST(BackoffTest, JitterStaysWithinHalfToFullOfTheCappedDelay) {
  BackoffPolicy p;
  std::mt19937_64 rng(7);
  Duration lo = Duration::max(), hi = Duration::min();
  for (int i = 0; i < 2000; ++i) {
    const Duration d = BackoffDelay(p, 3, rng);  // raw 20 s
    ASSERT_GE(d, seconds(10));
    ASSERT_LE(d, seconds(20));
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  // The draw is spread over the range, not a constant.
  EXPECT_LT(lo, seconds(11));
  EXPECT_GT(hi, seconds(19));
}

}  // namespace
}  // namespace jobwarden
