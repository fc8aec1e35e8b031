// Flow control (core/flow_control.h, DESIGN.md "Flow control"): rates, the
// token bucket, the circuit breaker and the limits' validation. Pure code with
// the time passed in, so every test picks its own instants.
#include "core/flow_control.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

// The limits tests set one field of QueueLimits / ResourceLimits and leave the
// rest at their defaults on purpose; GCC 12's -Wextra flags each such
// designated initializer (-Wmissing-field-initializers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace jobwarden {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const Timestamp kT0 = FromMillis(1'700'000'000'000);
constexpr std::string_view kForms = "expected N/s, N/min or N/h with N a positive number";

// --- ParseRate ---------------------------------------------------------------

TEST(ParseRateTest, AcceptsTheThreeUnitsAndNormalizesTheText) {
  struct Case {
    std::string_view in;
    double per_second;
    std::string_view text;
  };
  for (const Case& c : {
           Case{"10/s", 10, "10/s"}, Case{"600/min", 10, "600/min"}, Case{"36/h", 0.01, "36/h"},
           Case{"0.5/s", 0.5, "0.5/s"}, Case{"2.25/h", 2.25 / 3600, "2.25/h"}, Case{"1.50/min", 0.025, "1.5/min"},
           Case{"10.000/s", 10, "10/s"}, Case{"007/s", 7, "7/s"}, Case{"  10/s  ", 10, "10/s"},
           Case{"\t3/min ", 0.05, "3/min"}, Case{"1000000000/s", 1e9, "1000000000/s"},  // the largest accepted
           Case{"3600000000000/h", 1e9, "3600000000000/h"},                             // the same in another unit
           Case{"0.0001/h", 0.0001 / 3600, "0.0001/h"},                                 // small is fine, no exponent
       }) {
    Result<Rate> r = ParseRate(c.in);
    ASSERT_TRUE(r.ok()) << "'" << c.in << "': " << r.status().ToString();
    EXPECT_DOUBLE_EQ(r->per_second, c.per_second) << c.in;
    EXPECT_EQ(r->text, c.text) << c.in;
  }
}

TEST(ParseRateTest, NormalizedTextParsesBackToTheSameRate) {
  for (std::string_view in : {"10/s", "0.5/s", "600/min", "2.25/h", " 1.50/min ", "1000000000/s", "0.0001/h"}) {
    Result<Rate> r = ParseRate(in);
    ASSERT_TRUE(r.ok()) << in;
    Result<Rate> again = ParseRate(r->text);
    ASSERT_TRUE(again.ok()) << r->text << ": " << again.status().ToString();
    EXPECT_EQ(*again, *r) << in;
  }
}

TEST(ParseRateTest, RejectsEverythingElseNamingTheValueAndTheForms) {
  for (std::string_view in : {
           "",      "   ",    "abc",   "10",    "/s",      "s",      "10/",   "10/d",       "10/sec",
           "10/m",  "10/S",   "10/ s", "10 /s", "1 0/s",   "10/s/s", "10//s", "0/s",        "0.0/min",
           "000/h", "-1/s",   "+1/s",  "-0/s",  "nan/s",   "NaN/s",  "inf/s", "infinity/h", "1e3/s",
           "1E3/s", "0x10/s", ".5/s",  "5./s",  "1.2.3/s", "1,5/s",  "ten/s",
       }) {
    Result<Rate> r = ParseRate(in);
    ASSERT_FALSE(r.ok()) << "'" << in << "' was accepted as " << r->text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << in;
    EXPECT_EQ(r.status().message(), "rate \"" + std::string(in) + "\": " + std::string(kForms)) << in;
  }
  const std::string huge = std::string(400, '9') + "/s";  // out of a double's range
  EXPECT_FALSE(ParseRate(huge).ok());
  const std::string tiny = "0." + std::string(400, '0') + "1/s";  // underflows to 0
  EXPECT_FALSE(ParseRate(tiny).ok());
}

TEST(ParseRateTest, RejectsMoreThanABillionPerSecond) {
  for (std::string_view in : {"1000000001/s", "60000000001/min", "3600000000001/h", "99999999999999999999/s"}) {
    Result<Rate> r = ParseRate(in);
    ASSERT_FALSE(r.ok()) << in;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(),
              "rate \"" + std::string(in) + "\": more than 1000000000 per second; " + std::string(kForms));
  }
}

// --- token bucket ------------------------------------------------------------

TEST(TokenBucketTest, FullBucketHoldsTheBurstAtNow) { EXPECT_EQ(FullBucket(20, kT0), (TokenBucket{20, kT0})); }

TEST(TokenBucketTest, RefillEarnsRateTimesElapsedUpToTheBurst) {
  TokenBucket b{0, kT0};
  Refill(b, 2, 10, kT0 + milliseconds(1500));
  EXPECT_DOUBLE_EQ(b.tokens, 3);
  EXPECT_EQ(b.updated_at, kT0 + milliseconds(1500));
  Refill(b, 2, 10, kT0 + milliseconds(1750));
  EXPECT_DOUBLE_EQ(b.tokens, 3.5);
  Refill(b, 2, 10, kT0 + minutes(10));  // would be 1200 tokens: capped
  EXPECT_DOUBLE_EQ(b.tokens, 10);
  EXPECT_EQ(b.updated_at, kT0 + minutes(10));
}

TEST(TokenBucketTest, RefillPaysOffDebt) {
  TokenBucket b{-3, kT0};
  Refill(b, 1, 2, kT0 + seconds(2));
  EXPECT_DOUBLE_EQ(b.tokens, -1);
  Refill(b, 1, 2, kT0 + seconds(10));
  EXPECT_DOUBLE_EQ(b.tokens, 2);
}

TEST(TokenBucketTest, RefillAtTheSameInstantChangesNothing) {
  TokenBucket b{1.25, kT0};
  Refill(b, 5, 10, kT0);
  EXPECT_EQ(b, (TokenBucket{1.25, kT0}));
}

TEST(TokenBucketTest, BackwardsClockChangesNothingAndLosesNothing) {
  const TokenBucket before{3, kT0 + seconds(10)};
  TokenBucket b = before;
  Refill(b, 1, 10, kT0);  // 10 s back
  EXPECT_EQ(b, before);   // neither the tokens nor updated_at move
  EXPECT_FALSE(TryTake(b, 1, 10, 4, kT0 + seconds(5)));
  EXPECT_EQ(b, before);
  // Earnings resume from the latest instant seen, not from the backwards one.
  Refill(b, 1, 10, kT0 + seconds(11));
  EXPECT_EQ(b, (TokenBucket{4, kT0 + seconds(11)}));
}

TEST(TokenBucketTest, BackwardsClockStillLetsHeldTokensBeTaken) {
  TokenBucket b{3, kT0 + seconds(10)};
  EXPECT_TRUE(TryTake(b, 1, 10, 2, kT0));
  EXPECT_EQ(b, (TokenBucket{1, kT0 + seconds(10)}));
}

TEST(TokenBucketTest, TryTakeSpendsTheCostWhileTokensLast) {
  TokenBucket b = FullBucket(5, kT0);
  EXPECT_TRUE(TryTake(b, 1, 5, 2, kT0));
  EXPECT_DOUBLE_EQ(b.tokens, 3);
  EXPECT_TRUE(TryTake(b, 1, 5, 2, kT0));
  EXPECT_DOUBLE_EQ(b.tokens, 1);
  EXPECT_FALSE(TryTake(b, 1, 5, 2, kT0));
  EXPECT_DOUBLE_EQ(b.tokens, 1);  // a refusal spends nothing
  EXPECT_TRUE(TryTake(b, 1, 5, 1, kT0));
  EXPECT_DOUBLE_EQ(b.tokens, 0);
  EXPECT_FALSE(TryTake(b, 1, 5, 1, kT0 + milliseconds(999)));
  EXPECT_DOUBLE_EQ(b.tokens, 0.999);  // the refill is kept
  EXPECT_EQ(b.updated_at, kT0 + milliseconds(999));
  EXPECT_TRUE(TryTake(b, 1, 5, 1, kT0 + seconds(1)));
  EXPECT_NEAR(b.tokens, 0, 1e-12);
}

TEST(TokenBucketTest, FractionalCosts) {
  TokenBucket b = FullBucket(1, kT0);
  EXPECT_TRUE(TryTake(b, 1, 1, 0.25, kT0));
  EXPECT_TRUE(TryTake(b, 1, 1, 0.25, kT0));
  EXPECT_TRUE(TryTake(b, 1, 1, 0.5, kT0));
  EXPECT_FALSE(TryTake(b, 1, 1, 0.25, kT0));
}

TEST(TokenBucketTest, CostAboveTheBurstIsTakenFromAFullBucketIntoDebt) {
  // burst 2, cost 5: never holdable, so a full bucket pays and goes to -3.
  TokenBucket b{1.5, kT0};
  EXPECT_FALSE(TryTake(b, 1, 2, 5, kT0));
  EXPECT_FALSE(TryTake(b, 1, 2, 5, kT0 + milliseconds(499)));
  EXPECT_TRUE(TryTake(b, 1, 2, 5, kT0 + milliseconds(500)));
  EXPECT_EQ(b, (TokenBucket{-3, kT0 + milliseconds(500)}));
  // The debt slows what comes next: a cost-1 job waits 4 s, not 0.
  EXPECT_FALSE(TryTake(b, 1, 2, 1, kT0 + milliseconds(4499)));
  EXPECT_TRUE(TryTake(b, 1, 2, 1, kT0 + milliseconds(4500)));
  EXPECT_DOUBLE_EQ(b.tokens, 0);
}

TEST(WhenAvailableTest, NowWhenTakeableNow) {
  EXPECT_EQ(WhenAvailable(FullBucket(3, kT0), 1, 3, 3, kT0), kT0);
  EXPECT_EQ(WhenAvailable(TokenBucket{0, kT0}, 1, 3, 1, kT0 + seconds(1)), kT0 + seconds(1));
  EXPECT_EQ(WhenAvailable(FullBucket(2, kT0), 1, 2, 50, kT0), kT0);  // full pays for a cost above the burst
}

TEST(WhenAvailableTest, ExactTimes) {
  // rate 10/s, empty: 100 ms.
  EXPECT_EQ(WhenAvailable(TokenBucket{0, kT0}, 10, 10, 1, kT0), kT0 + milliseconds(100));
  // 1/3 s per token: 333.33 ms rounds up to 334.
  EXPECT_EQ(WhenAvailable(TokenBucket{0, kT0}, 3, 3, 1, kT0), kT0 + milliseconds(334));
  // Measured from updated_at, not from now.
  EXPECT_EQ(WhenAvailable(TokenBucket{0, kT0}, 1, 5, 2, kT0 + milliseconds(300)), kT0 + seconds(2));
  // Debt first: -3 at 1/s, cost 1.
  EXPECT_EQ(WhenAvailable(TokenBucket{-3, kT0}, 1, 2, 1, kT0), kT0 + seconds(4));
  // A cost above the burst waits for a full bucket: from 1 to 2 at 1/s.
  EXPECT_EQ(WhenAvailable(TokenBucket{1, kT0}, 1, 2, 5, kT0), kT0 + seconds(1));
  // 1/h: an hour.
  EXPECT_EQ(WhenAvailable(TokenBucket{0, kT0}, 1.0 / 3600, 1, 1, kT0), kT0 + minutes(60));
  // Sub-millisecond waits round up to one millisecond.
  EXPECT_EQ(WhenAvailable(TokenBucket{0.9999999, kT0}, 1000, 10, 1, kT0), kT0 + milliseconds(1));
}

TEST(WhenAvailableTest, TryTakeSucceedsThenAndNotOneMillisecondEarlier) {
  int checked = 0;
  for (double rate : {1e9, 1000.0, 10.0, 7.0, 3.0, 10.0 / 3, 1.0, 0.5, 0.1, 1.0 / 60, 1.0 / 3600, 0.7 / 3600}) {
    for (double burst : {1.0, 2.5, 10.0}) {
      for (double cost : {0.1, 1.0, 2.0, 7.0}) {
        for (double tokens : {-4.75, -1.0, 0.0, 0.3, 0.999, 1.7}) {
          for (Duration since : {milliseconds(0), milliseconds(1), milliseconds(333), milliseconds(7000)}) {
            const TokenBucket b{tokens, kT0};
            const Timestamp now = kT0 + since;
            const Timestamp at = WhenAvailable(b, rate, burst, cost, now);
            ASSERT_GE(at, now);
            ASSERT_LT(at, Timestamp::max());
            TokenBucket at_copy = b;
            EXPECT_TRUE(TryTake(at_copy, rate, burst, cost, at))
                << "rate " << rate << " burst " << burst << " cost " << cost << " tokens " << tokens;
            if (at > now) {
              TokenBucket early = b;
              EXPECT_FALSE(TryTake(early, rate, burst, cost, at - milliseconds(1)))
                  << "rate " << rate << " burst " << burst << " cost " << cost << " tokens " << tokens;
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 500);  // the loop really exercised waits, not only "now"
}

TEST(WhenAvailableTest, BackwardsClockWaitsFromTheLatestInstantSeen) {
  const TokenBucket b{0, kT0 + seconds(10)};
  const Timestamp at = WhenAvailable(b, 1, 5, 1, kT0);
  EXPECT_EQ(at, kT0 + seconds(11));
  TokenBucket copy = b;
  EXPECT_TRUE(TryTake(copy, 1, 5, 1, at));
}

TEST(WhenAvailableTest, DoesNotChangeTheBucketAndNeverWithoutARate) {
  const TokenBucket b{0.5, kT0};
  EXPECT_EQ(WhenAvailable(b, 0, 5, 1, kT0), Timestamp::max());
  EXPECT_EQ(WhenAvailable(b, -1, 5, 1, kT0), Timestamp::max());
  EXPECT_EQ(WhenAvailable(b, 0, 5, 0.5, kT0), kT0);  // held tokens need no rate
}

// --- breaker: names ----------------------------------------------------------

TEST(BreakerStateTest, NamesRoundTripAndNumbersOrderBySeverity) {
  EXPECT_EQ(ToString(BreakerState::kClosed), "closed");
  EXPECT_EQ(ToString(BreakerState::kOpen), "open");
  EXPECT_EQ(ToString(BreakerState::kHalfOpen), "half_open");
  for (BreakerState s : {BreakerState::kClosed, BreakerState::kOpen, BreakerState::kHalfOpen}) {
    EXPECT_EQ(ParseBreakerState(ToString(s)), s);
  }
  for (std::string_view bad : {"", "Closed", "half-open", "halfopen", "opened", " open"}) {
    EXPECT_FALSE(ParseBreakerState(bad).has_value()) << bad;
  }
  EXPECT_EQ(BreakerStateNumber(BreakerState::kClosed), 0);
  EXPECT_EQ(BreakerStateNumber(BreakerState::kHalfOpen), 1);
  EXPECT_EQ(BreakerStateNumber(BreakerState::kOpen), 2);
}

TEST(BreakerOutcomeTest, OnlyTheServicesFaultsCount) {
  for (ErrorClass c : kAllErrorClasses) {
    const bool counts = c == ErrorClass::kTransient || c == ErrorClass::kTimeout || c == ErrorClass::kStalled ||
                        c == ErrorClass::kCrashed || c == ErrorClass::kRateLimited;
    EXPECT_EQ(BreakerOutcomeFor(c), counts ? BreakerOutcome::kFailure : BreakerOutcome::kNeutral) << ToString(c);
  }
}

// --- breaker: the state machine ----------------------------------------------

constexpr BreakerConfig kConfig{3, seconds(30)};
constexpr auto kOk = BreakerOutcome::kSuccess;
constexpr auto kFail = BreakerOutcome::kFailure;
constexpr auto kNeutral = BreakerOutcome::kNeutral;

Breaker OpenedAt(Timestamp t) {
  Breaker b;
  for (int i = 0; i < kConfig.failures; ++i) (void)OnBreakerOutcome(b, kConfig, kFail, 100 + i, t);
  EXPECT_EQ(b.state, BreakerState::kOpen);
  return b;
}

Breaker HalfOpen() {
  Breaker b = OpenedAt(kT0);
  EXPECT_TRUE(AdvanceBreaker(b, kT0 + kConfig.cooldown));
  return b;
}

TEST(BreakerTest, DefaultIsClosedAndLetsEverythingThrough) {
  const Breaker b;
  EXPECT_EQ(b.state, BreakerState::kClosed);
  EXPECT_EQ(b.failures, 0);
  EXPECT_FALSE(b.open_until.has_value());
  EXPECT_FALSE(b.probe_job.has_value());
  EXPECT_TRUE(BreakerAllowsLease(b, false));
  EXPECT_TRUE(BreakerAllowsLease(b, true));
}

TEST(BreakerTest, FullCycleClosedOpenHalfOpenClosed) {
  Breaker b;
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kFail, 1, kT0));
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kFail, 2, kT0 + seconds(1)));
  EXPECT_EQ(b.failures, 2);
  EXPECT_EQ(b.state, BreakerState::kClosed);
  EXPECT_TRUE(BreakerAllowsLease(b, false));

  // The threshold-th failure opens it until now + cooldown.
  EXPECT_TRUE(OnBreakerOutcome(b, kConfig, kFail, 3, kT0 + seconds(2)));
  EXPECT_EQ(b.state, BreakerState::kOpen);
  EXPECT_EQ(b.failures, 3);
  EXPECT_EQ(b.open_until, kT0 + seconds(32));
  EXPECT_FALSE(BreakerAllowsLease(b, false));

  // Still open a millisecond before the end.
  EXPECT_FALSE(AdvanceBreaker(b, kT0 + seconds(32) - milliseconds(1)));
  EXPECT_EQ(b.state, BreakerState::kOpen);
  EXPECT_FALSE(BreakerAllowsLease(b, false));

  // At the end: half-open, one probe allowed.
  EXPECT_TRUE(AdvanceBreaker(b, kT0 + seconds(32)));
  EXPECT_EQ(b.state, BreakerState::kHalfOpen);
  EXPECT_FALSE(b.open_until.has_value());
  EXPECT_FALSE(b.probe_job.has_value());
  EXPECT_TRUE(BreakerAllowsLease(b, false));
  OnBreakerLease(b, 42);
  EXPECT_EQ(b.probe_job, 42);
  EXPECT_FALSE(BreakerAllowsLease(b, true));

  // The probe's success closes it and clears everything.
  EXPECT_TRUE(OnBreakerOutcome(b, kConfig, kOk, 42, kT0 + seconds(40)));
  EXPECT_EQ(b, Breaker{});
  EXPECT_TRUE(BreakerAllowsLease(b, false));
}

TEST(BreakerTest, ProbeFailureOpensForAnotherCooldown) {
  Breaker b = HalfOpen();
  OnBreakerLease(b, 7);
  const Timestamp failed_at = kT0 + minutes(5);
  EXPECT_TRUE(OnBreakerOutcome(b, kConfig, kFail, 7, failed_at));
  EXPECT_EQ(b.state, BreakerState::kOpen);
  EXPECT_EQ(b.open_until, failed_at + kConfig.cooldown);
  EXPECT_EQ(b.failures, kConfig.failures + 1);
  EXPECT_FALSE(b.probe_job.has_value());
  EXPECT_FALSE(BreakerAllowsLease(b, false));
  // And around again: half-open after the new cooldown, closed on success.
  EXPECT_FALSE(AdvanceBreaker(b, failed_at + kConfig.cooldown - milliseconds(1)));
  EXPECT_TRUE(AdvanceBreaker(b, failed_at + kConfig.cooldown));
  EXPECT_EQ(b.state, BreakerState::kHalfOpen);
  OnBreakerLease(b, 8);
  EXPECT_TRUE(OnBreakerOutcome(b, kConfig, kOk, 8, failed_at + minutes(1)));
  EXPECT_EQ(b, Breaker{});
}

TEST(BreakerTest, HalfOpenLetsExactlyOneProbeRun) {
  Breaker b = HalfOpen();
  ASSERT_TRUE(BreakerAllowsLease(b, false));
  OnBreakerLease(b, 7);
  // While the probe runs, nobody else.
  EXPECT_FALSE(BreakerAllowsLease(b, true));
  // A probe lost without an outcome (its lease gone) frees the slot...
  EXPECT_TRUE(BreakerAllowsLease(b, false));
  // ...and the next lease is the new probe.
  OnBreakerLease(b, 9);
  EXPECT_EQ(b.probe_job, 9);
  EXPECT_FALSE(BreakerAllowsLease(b, true));
  // The old probe's late outcome no longer counts.
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kOk, 7, kT0 + minutes(1)));
  EXPECT_EQ(b.state, BreakerState::kHalfOpen);
  EXPECT_EQ(b.probe_job, 9);
}

TEST(BreakerTest, NeutralProbeOutcomeFreesTheSlot) {
  Breaker b = HalfOpen();
  OnBreakerLease(b, 7);
  const Breaker leased = b;
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kNeutral, 7, kT0 + minutes(1)));  // the state stays half_open
  EXPECT_EQ(b.state, BreakerState::kHalfOpen);
  EXPECT_FALSE(b.probe_job.has_value());
  EXPECT_EQ(b.failures, leased.failures);
  EXPECT_NE(b, leased);  // changed all the same: the caller must persist it
  EXPECT_TRUE(BreakerAllowsLease(b, true));
  OnBreakerLease(b, 8);
  EXPECT_EQ(b.probe_job, 8);
}

TEST(BreakerTest, HalfOpenIgnoresOutcomesOfOtherJobs) {
  Breaker b = HalfOpen();
  // No probe yet: nothing counts.
  for (BreakerOutcome o : {kOk, kFail, kNeutral}) {
    const Breaker before = b;
    EXPECT_FALSE(OnBreakerOutcome(b, kConfig, o, 5, kT0 + minutes(1)));
    EXPECT_EQ(b, before);
  }
  OnBreakerLease(b, 7);
  for (BreakerOutcome o : {kOk, kFail, kNeutral}) {
    const Breaker before = b;
    EXPECT_FALSE(OnBreakerOutcome(b, kConfig, o, 99, kT0 + minutes(1)));
    EXPECT_EQ(b, before);
  }
}

TEST(BreakerTest, OpenIgnoresEveryOutcome) {
  Breaker b = OpenedAt(kT0);
  for (BreakerOutcome o : {kOk, kFail, kNeutral}) {
    const Breaker before = b;
    EXPECT_FALSE(OnBreakerOutcome(b, kConfig, o, 100, kT0 + seconds(1)));
    EXPECT_EQ(b, before);
  }
  // Even past the cooldown, the outcome itself does not advance it.
  const Breaker before = b;
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kOk, 100, kT0 + minutes(5)));
  EXPECT_EQ(b, before);
}

TEST(BreakerTest, SuccessResetsTheCountWhileClosed) {
  Breaker b;
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kFail, 1, kT0));
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kFail, 2, kT0));
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kOk, 3, kT0));  // the state did not change
  EXPECT_EQ(b.failures, 0);
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kFail, 4, kT0));
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kFail, 5, kT0));
  EXPECT_EQ(b.state, BreakerState::kClosed);  // 2 consecutive, not 4
  EXPECT_TRUE(OnBreakerOutcome(b, kConfig, kFail, 6, kT0));
  EXPECT_EQ(b.state, BreakerState::kOpen);
}

TEST(BreakerTest, NeutralOutcomesNeitherCountNorReset) {
  Breaker b;
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kFail, 1, kT0));
  EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kFail, 2, kT0));
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(OnBreakerOutcome(b, kConfig, kNeutral, 10 + i, kT0));
  EXPECT_EQ(b.failures, 2);
  EXPECT_EQ(b.state, BreakerState::kClosed);
  EXPECT_TRUE(OnBreakerOutcome(b, kConfig, kFail, 3, kT0));
}

TEST(BreakerTest, ThresholdOneOpensOnTheFirstFailure) {
  Breaker b;
  EXPECT_TRUE(OnBreakerOutcome(b, BreakerConfig{1, seconds(5)}, kFail, 1, kT0));
  EXPECT_EQ(b.state, BreakerState::kOpen);
  EXPECT_EQ(b.open_until, kT0 + seconds(5));
}

TEST(BreakerTest, ZeroFailuresMeansNoBreaker) {
  const BreakerConfig off{0, seconds(30)};
  Breaker b;
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(OnBreakerOutcome(b, off, kFail, i, kT0));
  EXPECT_EQ(b, Breaker{});
  // Not even a success moves the count.
  Breaker counted;
  counted.failures = 2;
  const Breaker before = counted;
  EXPECT_FALSE(OnBreakerOutcome(counted, off, kOk, 1, kT0));
  EXPECT_EQ(counted, before);
  // A breaker left half-open by an earlier config is not driven either.
  Breaker half = HalfOpen();
  OnBreakerLease(half, 7);
  const Breaker half_before = half;
  EXPECT_FALSE(OnBreakerOutcome(half, off, kOk, 7, kT0 + minutes(1)));
  EXPECT_EQ(half, half_before);
}

TEST(BreakerTest, LeasesMakeAProbeOnlyWhenHalfOpen) {
  Breaker closed;
  OnBreakerLease(closed, 7);
  EXPECT_EQ(closed, Breaker{});
  Breaker open = OpenedAt(kT0);
  const Breaker open_before = open;
  OnBreakerLease(open, 7);
  EXPECT_EQ(open, open_before);
}

TEST(BreakerTest, AdvanceMovesOnlyAnOpenBreakerPastItsCooldown) {
  Breaker closed;
  EXPECT_FALSE(AdvanceBreaker(closed, kT0 + minutes(60)));
  EXPECT_EQ(closed, Breaker{});

  Breaker half = HalfOpen();
  OnBreakerLease(half, 7);
  const Breaker half_before = half;
  EXPECT_FALSE(AdvanceBreaker(half, kT0 + minutes(60)));
  EXPECT_EQ(half, half_before);  // the probe stays

  Breaker open = OpenedAt(kT0);
  EXPECT_FALSE(AdvanceBreaker(open, kT0));
  EXPECT_TRUE(AdvanceBreaker(open, kT0 + minutes(60)));  // long past: still one step
  EXPECT_EQ(open.state, BreakerState::kHalfOpen);
  EXPECT_EQ(open.failures, kConfig.failures);  // kept for display until a success closes it
  EXPECT_FALSE(AdvanceBreaker(open, kT0 + minutes(61)));
}

// --- limits ------------------------------------------------------------------

Rate MustRate(std::string_view text) {
  Result<Rate> r = ParseRate(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : Rate{};
}

TEST(LimitsTest, EmptyMeansNothingSet) {
  EXPECT_TRUE(QueueLimits{}.empty());
  EXPECT_FALSE(QueueLimits{.concurrency = 1}.empty());
  EXPECT_FALSE(QueueLimits{.warn_depth = 50}.empty());
  EXPECT_FALSE(QueueLimits{.warn_age = minutes(5)}.empty());
  EXPECT_TRUE(ResourceLimits{}.empty());
  EXPECT_FALSE(ResourceLimits{.concurrency = 2}.empty());
  EXPECT_FALSE(ResourceLimits{.rate = MustRate("10/s")}.empty());
  EXPECT_FALSE((ResourceLimits{.breaker = {5, seconds(30)}}).empty());
  EXPECT_TRUE((ResourceLimits{.breaker = {0, seconds(60)}}).empty());  // a cooldown alone is no breaker
}

TEST(LimitsTest, EffectiveBurstIsTheBurstElseTheRatesN) {
  EXPECT_EQ(ResourceLimits{}.EffectiveBurst(), 0);
  EXPECT_EQ(ResourceLimits{.rate = MustRate("10/s")}.EffectiveBurst(), 10);
  EXPECT_EQ(ResourceLimits{.rate = MustRate("600/min")}.EffectiveBurst(), 600);
  EXPECT_EQ(ResourceLimits{.rate = MustRate("2.5/h")}.EffectiveBurst(), 2.5);
  EXPECT_EQ(ResourceLimits{.rate = MustRate("0.1/min")}.EffectiveBurst(), 0.1);  // exactly, not 0.1/60*60
  EXPECT_EQ(ResourceLimits{.rate = MustRate("0.5/s")}.EffectiveBurst(), 0.5);
  EXPECT_EQ((ResourceLimits{.rate = MustRate("600/min"), .burst = 20}).EffectiveBurst(), 20);
}

TEST(LimitsTest, ValidQueueLimits) {
  EXPECT_TRUE(ValidateQueueLimits({}).ok());
  EXPECT_TRUE(ValidateQueueLimits({.concurrency = 1, .warn_depth = 1, .warn_age = milliseconds(1)}).ok());
  EXPECT_TRUE(ValidateQueueLimits({.concurrency = 64, .warn_depth = 1'000'000, .warn_age = minutes(5)}).ok());
}

void ExpectInvalid(const Status& s, std::string_view message) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << message;
  EXPECT_EQ(s.message(), message);
}

TEST(LimitsTest, BadQueueLimitsNameTheField) {
  ExpectInvalid(ValidateQueueLimits({.concurrency = 0}),
                "concurrency: must be at least 1 (got 0); omit it for unlimited");
  ExpectInvalid(ValidateQueueLimits({.concurrency = -3}),
                "concurrency: must be at least 1 (got -3); omit it for unlimited");
  ExpectInvalid(ValidateQueueLimits({.warn_depth = 0}), "warn_depth: must be at least 1 (got 0)");
  ExpectInvalid(ValidateQueueLimits({.warn_depth = -1}), "warn_depth: must be at least 1 (got -1)");
  ExpectInvalid(ValidateQueueLimits({.warn_age = Duration(0)}), "warn_age: must be at least 1ms (got 0ms)");
  ExpectInvalid(ValidateQueueLimits({.warn_age = milliseconds(-5)}), "warn_age: must be at least 1ms (got -5ms)");
}

TEST(LimitsTest, ValidResourceLimits) {
  EXPECT_TRUE(ValidateResourceLimits({}).ok());
  EXPECT_TRUE(ValidateResourceLimits({.concurrency = 1}).ok());
  EXPECT_TRUE(ValidateResourceLimits({.rate = MustRate("0.5/s")}).ok());  // N below 1 without a burst is fine
  EXPECT_TRUE(ValidateResourceLimits({.rate = MustRate("10/s"), .burst = 1}).ok());
  EXPECT_TRUE(ValidateResourceLimits({.rate = MustRate("10/s"), .burst = 2.5}).ok());
  EXPECT_TRUE(ValidateResourceLimits({.breaker = {0, seconds(1)}}).ok());
  EXPECT_TRUE(ValidateResourceLimits({.breaker = {5, seconds(1)}}).ok());
}

TEST(LimitsTest, BadResourceLimitsNameTheField) {
  const Rate ten = MustRate("10/s");
  ExpectInvalid(ValidateResourceLimits({.concurrency = 0}),
                "concurrency: must be at least 1 (got 0); omit it for unlimited");
  ExpectInvalid(ValidateResourceLimits({.burst = 5}), "burst: needs a rate");
  ExpectInvalid(ValidateResourceLimits({.rate = ten, .burst = 0.5}), "burst: must be at least 1 (got 0.5)");
  ExpectInvalid(ValidateResourceLimits({.rate = ten, .burst = 0}), "burst: must be at least 1 (got 0)");
  ExpectInvalid(ValidateResourceLimits({.rate = ten, .burst = -2}), "burst: must be at least 1 (got -2)");
  ExpectInvalid(ValidateResourceLimits({.rate = ten, .burst = std::numeric_limits<double>::infinity()}),
                "burst: must be a finite number");
  ExpectInvalid(ValidateResourceLimits({.rate = ten, .burst = std::numeric_limits<double>::quiet_NaN()}),
                "burst: must be a finite number");
  ExpectInvalid(ValidateResourceLimits({.breaker = {-1, seconds(30)}}),
                "breaker_failures: must be at least 0 (got -1); 0 turns the breaker off");
  ExpectInvalid(ValidateResourceLimits({.breaker = {5, milliseconds(500)}}),
                "breaker_cooldown: must be at least 1s (got 500ms)");
  ExpectInvalid(ValidateResourceLimits({.breaker = {0, Duration(0)}}),
                "breaker_cooldown: must be at least 1s (got 0ms)");
  // A Rate not made by ParseRate gets ParseRate's verdict.
  ExpectInvalid(ValidateResourceLimits({.rate = Rate{}}), "rate \"\": " + std::string(kForms));
  ExpectInvalid(ValidateResourceLimits({.rate = Rate{10, "10/d"}}), "rate \"10/d\": " + std::string(kForms));
}

TEST(LimitsTest, FirstBadFieldIsReported) {
  const Status s = ValidateResourceLimits({.concurrency = 0, .burst = 5, .breaker = {-1, Duration(0)}});
  EXPECT_EQ(s.message(), "concurrency: must be at least 1 (got 0); omit it for unlimited");
}

TEST(LimitsTest, WarningReasons) {
  EXPECT_EQ(kWarnDepth, "depth");
  EXPECT_EQ(kWarnAge, "age");
}

}  // namespace
}  // namespace jobwarden
