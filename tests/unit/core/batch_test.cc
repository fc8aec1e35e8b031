#include "core/batch.h"

#include <gtest/gtest.h>

namespace jobwarden {
namespace {

using std::chrono::seconds;

const Timestamp kNow = FromMillis(1'767'225'600'000);

BatchRequest Three() {
  BatchRequest r;
  for (int p : {0, 5, 2}) {
    EnqueueRequest j;
    j.kind = "fetch";
    j.priority = p;
    r.jobs.push_back(j);
  }
  r.deadline_in = seconds(10);
  r.callback = BatchCallback{};
  r.callback->kind = "summarize";
  return r;
}

TEST(BatchTest, BadBatchesNameTheField) {
  EXPECT_TRUE(ValidateBatch(Three(), kNow, 10'000).ok());
  BatchRequest r = Three();
  r.jobs.clear();
  EXPECT_EQ(ValidateBatch(r, kNow, 10'000).message(), "jobs: must not be empty");
  EXPECT_EQ(ValidateBatch(Three(), kNow, 2).message(), "jobs: at most 2 members, got 3");
  r = Three();
  r.deadline_in.reset();
  r.deadline_at = kNow - seconds(1);
  EXPECT_NE(ValidateBatch(r, kNow, 10'000).message().find("deadline_at: "), std::string::npos);
  EXPECT_NE(ValidateBatch(r, kNow, 10'000).message().find(" is in the past"), std::string::npos);
  r.deadline_in = seconds(5);
  EXPECT_EQ(ValidateBatch(r, kNow, 10'000).message(), "deadline_s, deadline_at: give one, not both");
  r = Three();
  r.min_succeeded = 4;
  EXPECT_EQ(ValidateBatch(r, kNow, 10'000).message(), "min_succeeded: must be 1-3 (the number of members)");
  r = Three();
  r.callback->kind = "";
  EXPECT_EQ(ValidateBatch(r, kNow, 10'000).message(), "callback.kind: required");
  EXPECT_EQ(ValidateBatch(r, kNow, 10'000).code(), StatusCode::kInvalidArgument);
}

TEST(BatchTest, AMembersDeadlineIsTheEarliestOfItsOwnTheBatchsAndTheParents) {
  const Timestamp a = kNow + seconds(5), b = kNow + seconds(10), c = kNow + seconds(20);
  EXPECT_EQ(MemberDeadline(c, b, std::nullopt), b);
  EXPECT_EQ(MemberDeadline(std::nullopt, c, a), a);
  EXPECT_EQ(MemberDeadline(a, c, b), a);
  EXPECT_EQ(MemberDeadline(std::nullopt, std::nullopt, std::nullopt), std::nullopt);
  EXPECT_EQ(BatchDeadline(Three(), kNow), kNow + seconds(10));
}

TEST(BatchTest, TheCallbackRunsAheadOfItsMembersUnlessItSaysOtherwise) {
  EXPECT_EQ(CallbackPriority(Three()), 6);
  BatchRequest r = Three();
  r.callback->priority = -3;
  EXPECT_EQ(CallbackPriority(r), -3);
}

TEST(BatchTest, TheBatchFinishesWhenEveryMemberIsTerminalOrAtItsDeadline) {
  StateCounts c{};
  c[static_cast<std::size_t>(JobState::kSucceeded)] = 4;
  c[static_cast<std::size_t>(JobState::kRunning)] = 1;
  EXPECT_EQ(DecideBatch(c, 5, false), BatchState::kRunning);
  EXPECT_EQ(DecideBatch(c, 4, true), BatchState::kSucceeded) << "4 results and the deadline: enough";
  EXPECT_EQ(DecideBatch(c, 5, true), BatchState::kFailed);
  c[static_cast<std::size_t>(JobState::kRunning)] = 0;
  c[static_cast<std::size_t>(JobState::kFailed)] = 1;
  EXPECT_EQ(DecideBatch(c, 4, false), BatchState::kSucceeded);
  EXPECT_EQ(DecideBatch(c, 5, false), BatchState::kFailed);
  EXPECT_EQ(ParseBatchState(ToString(BatchState::kFailed)), BatchState::kFailed);
}

}  // namespace
}  // namespace jobwarden
