// Error classes, status codes and job ids: the names DESIGN.md fixes.
#include "core/error_class.h"

#include <gtest/gtest.h>

#include <set>

#include "core/job.h"
#include "core/status.h"

namespace jobwarden {
namespace {

TEST(ErrorClassTest, NamesAreExactlyDesignsClasses) {
  std::set<std::string_view> names;
  for (ErrorClass c : kAllErrorClasses) names.insert(ToString(c));
  EXPECT_EQ(names, (std::set<std::string_view>{"transient", "permanent", "rate_limited", "timeout", "stalled",
                                               "lease_expired", "worker_lost", "crashed", "interrupted", "cancelled"}));
}

TEST(ErrorClassTest, NamesRoundTrip) {
  for (ErrorClass c : kAllErrorClasses) {
    auto parsed = ParseErrorClass(ToString(c));
    ASSERT_TRUE(parsed.has_value()) << ToString(c);
    EXPECT_EQ(*parsed, c);
  }
  EXPECT_FALSE(ParseErrorClass("").has_value());
  EXPECT_FALSE(ParseErrorClass("Transient").has_value());
  EXPECT_FALSE(ParseErrorClass("rate-limited").has_value());
}

TEST(ErrorClassTest, OnlyRateLimitedAndInterruptedDoNotSpendAnAttempt) {
  for (ErrorClass c : kAllErrorClasses) {
    const bool free = c == ErrorClass::kRateLimited || c == ErrorClass::kInterrupted;
    EXPECT_EQ(SpendsAttempt(c), !free) << ToString(c);
  }
}

TEST(ErrorClassTest, LeaseExpiredAndWorkerLostAreTheServersVerdictsOnly) {
  for (ErrorClass c : kAllErrorClasses) {
    const bool server_only = c == ErrorClass::kLeaseExpired || c == ErrorClass::kWorkerLost;
    EXPECT_EQ(ReportableByWorker(c), !server_only) << ToString(c);
  }
}

TEST(StatusTest, CodeNamesAreDesignsErrorCodes) {
  EXPECT_EQ(StatusCodeName(StatusCode::kInvalidArgument), "invalid_argument");
  EXPECT_EQ(StatusCodeName(StatusCode::kNotFound), "not_found");
  EXPECT_EQ(StatusCodeName(StatusCode::kConflict), "conflict");
  EXPECT_EQ(StatusCodeName(StatusCode::kLeaseLost), "lease_lost");
  EXPECT_EQ(StatusCodeName(StatusCode::kCheckpointTooLarge), "checkpoint_too_large");
  EXPECT_EQ(StatusCodeName(StatusCode::kUnavailable), "unavailable");
  EXPECT_EQ(StatusCodeName(StatusCode::kInternal), "internal");
}

TEST(StatusTest, ToStringAndContext) {
  EXPECT_EQ(Status::Ok().ToString(), "ok");
  const Status s = Status::NotFound("job 12 does not exist").WithContext("get");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "not_found: get: job 12 does not exist");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(CancelReasonTest, NamesRoundTrip) {
  for (CancelReason r : {CancelReason::kNone, CancelReason::kUser, CancelReason::kTimeout, CancelReason::kStalled,
                         CancelReason::kDeadline}) {
    auto parsed = ParseCancelReason(ToString(r));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, r);
  }
  EXPECT_FALSE(ParseCancelReason("bogus").has_value());
}

TEST(JobIdTest, OpaqueStringRoundTrip) {
  EXPECT_EQ(FormatJobId(12), "12");
  auto id = ParseJobId("12");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 12);
  for (std::string_view bad : {"", "0", "-1", "abc", "12x", " 12", "99999999999999999999"}) {
    auto r = ParseJobId(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace jobwarden
