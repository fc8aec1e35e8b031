#include "core/job_state.h"

#include <gtest/gtest.h>

namespace jobwarden {
namespace {

TEST(JobStateTest, NamesRoundTrip) {
  for (JobState s : kAllJobStates) {
    auto parsed = ParseJobState(ToString(s));
    ASSERT_TRUE(parsed.has_value()) << ToString(s);
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_FALSE(ParseJobState("runing").has_value());
  EXPECT_FALSE(ParseJobState("").has_value());
}

TEST(JobStateTest, TerminalStatesAreExactlySucceededFailedCancelled) {
  EXPECT_TRUE(IsTerminal(JobState::kSucceeded));
  EXPECT_TRUE(IsTerminal(JobState::kFailed));
  EXPECT_TRUE(IsTerminal(JobState::kCancelled));
  EXPECT_FALSE(IsTerminal(JobState::kScheduled));
  EXPECT_FALSE(IsTerminal(JobState::kAvailable));
  EXPECT_FALSE(IsTerminal(JobState::kRunning));
}

}  // namespace
}  // namespace jobwarden
