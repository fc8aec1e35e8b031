#include "core/job_state.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <utility>

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

TEST(JobStateTest, StateNamesAreDesignsSix) {
  std::vector<std::string_view> names;
  for (JobState s : kAllJobStates) names.push_back(ToString(s));
  EXPECT_EQ(names,
            (std::vector<std::string_view>{"scheduled", "available", "running", "succeeded", "failed", "cancelled"}));
}

TEST(JobStateTest, TerminalStatesAreExactlySucceededFailedCancelled) {
  EXPECT_TRUE(IsTerminal(JobState::kSucceeded));
  EXPECT_TRUE(IsTerminal(JobState::kFailed));
  EXPECT_TRUE(IsTerminal(JobState::kCancelled));
  EXPECT_FALSE(IsTerminal(JobState::kScheduled));
  EXPECT_FALSE(IsTerminal(JobState::kAvailable));
  EXPECT_FALSE(IsTerminal(JobState::kRunning));
}

TEST(JobStateTest, EventNamesAreDistinct) {
  std::map<std::string_view, JobEvent> seen;
  for (JobEvent e : kAllJobEvents) {
    EXPECT_NE(ToString(e), "unknown");
    EXPECT_TRUE(seen.emplace(ToString(e), e).second) << "duplicate event name " << ToString(e);
  }
  EXPECT_EQ(seen.size(), kJobEventCount);
}

// ---------------------------------------------------------------------------
// The transition table, written out from DESIGN.md "Job states and transitions"
// (not copied from job_state.cc). Every pair not listed below must be a typed
// refusal: `lease_lost` for the calls only a lease holder makes (and for the
// reaper's lease take-back) on a job that is not running, `conflict` otherwise.

using S = JobState;
using E = JobEvent;

struct Expected {
  Outcome outcome;
  std::optional<JobState> to;  // only for kMoveTo
  AttemptEffect attempt = AttemptEffect::kKeep;
};

std::map<std::pair<S, E>, Expected> DesignTable() {
  const auto move = [](S to, AttemptEffect a = AttemptEffect::kKeep) { return Expected{Outcome::kMoveTo, to, a}; };
  const auto act = [](Outcome o, AttemptEffect a = AttemptEffect::kKeep) { return Expected{o, std::nullopt, a}; };
  std::map<std::pair<S, E>, Expected> t;
  // scheduled: run_at reached -> available (=); fetch sees due jobs directly -> running (+1).
  t[{S::kScheduled, E::kRunAtReached}] = move(S::kAvailable);
  t[{S::kScheduled, E::kFetch}] = move(S::kRunning, AttemptEffect::kIncrement);
  // available: fetch -> running (+1).
  t[{S::kAvailable, E::kFetch}] = move(S::kRunning, AttemptEffect::kIncrement);
  // running, by the lease holder.
  t[{S::kRunning, E::kHeartbeat}] = act(Outcome::kStay);
  t[{S::kRunning, E::kComplete}] = move(S::kSucceeded);
  t[{S::kRunning, E::kFailPermanent}] = move(S::kFailed);
  t[{S::kRunning, E::kFailRetryable}] = act(Outcome::kRetryWithBackoff);
  t[{S::kRunning, E::kFailRateLimited}] = act(Outcome::kRetryAfter, AttemptEffect::kGiveBack);
  t[{S::kRunning, E::kFailInterrupted}] = move(S::kAvailable, AttemptEffect::kGiveBack);
  t[{S::kRunning, E::kCancelAck}] = move(S::kCancelled);
  // running, by the server: lease expiry / death seen / reset-stuck; cancel and limits are two-phase.
  t[{S::kRunning, E::kLeaseLost}] = act(Outcome::kRetryAtOnce);
  // running: the lease never reached a live handler -> available at once, attempt not spent.
  t[{S::kRunning, E::kLeaseUndelivered}] = move(S::kAvailable, AttemptEffect::kGiveBack);
  t[{S::kRunning, E::kCancel}] = act(Outcome::kRequestCancel);
  t[{S::kRunning, E::kLimitReached}] = act(Outcome::kRequestCancel);
  // waiting jobs: cancel, deadline.
  for (S s : {S::kAvailable, S::kScheduled}) {
    t[{s, E::kCancel}] = move(S::kCancelled);
    t[{s, E::kDeadlinePassed}] = move(S::kFailed);
  }
  // finished jobs: retry of failed/cancelled.
  t[{S::kFailed, E::kRetry}] = move(S::kAvailable);
  t[{S::kCancelled, E::kRetry}] = move(S::kAvailable);
  // delete: any state but running.
  for (S s : kAllJobStates) {
    if (s != S::kRunning) t[{s, E::kDelete}] = act(Outcome::kRemove);
  }
  return t;
}

bool IsLeaseHolderEvent(E e) {
  switch (e) {
    case E::kHeartbeat:
    case E::kComplete:
    case E::kFailPermanent:
    case E::kFailRetryable:
    case E::kFailRateLimited:
    case E::kFailInterrupted:
    case E::kLeaseLost:
    case E::kLeaseUndelivered:
    case E::kCancelAck: return true;
    default: return false;
  }
}

TEST(TransitionTableTest, EveryPairIsDesignsTransitionOrATypedRefusal) {
  const auto design = DesignTable();
  int defined = 0, refused = 0;
  for (S s : kAllJobStates) {
    for (E e : kAllJobEvents) {
      SCOPED_TRACE(std::string(ToString(s)) + " x " + std::string(ToString(e)));
      const Transition got = Lookup(s, e);
      auto it = design.find({s, e});
      if (it != design.end()) {
        ++defined;
        EXPECT_EQ(got.outcome, it->second.outcome);
        if (it->second.to) {
          EXPECT_EQ(got.to, *it->second.to);
        }
        EXPECT_EQ(got.attempt, it->second.attempt);
        EXPECT_TRUE(Allows(s, e));
        EXPECT_TRUE(Refusal(s, e, "job 1").ok());
        continue;
      }
      ++refused;
      EXPECT_EQ(got.outcome, Outcome::kRefused);
      EXPECT_FALSE(Allows(s, e));
      const StatusCode want =
          (s != S::kRunning && IsLeaseHolderEvent(e)) ? StatusCode::kLeaseLost : StatusCode::kConflict;
      EXPECT_EQ(got.refusal, want);
      const Status st = Refusal(s, e, "job 7");
      EXPECT_EQ(st.code(), want);
      EXPECT_NE(st.message().find("job 7 is " + std::string(ToString(s))), std::string::npos) << st.message();
    }
  }
  EXPECT_EQ(defined + refused, static_cast<int>(kJobStateCount * kJobEventCount));
  EXPECT_EQ(defined, static_cast<int>(design.size()));
}

TEST(TransitionTableTest, TerminalStatesOnlyAllowRetryOfFailedOrCancelledAndDelete) {
  for (S s : {S::kSucceeded, S::kFailed, S::kCancelled}) {
    for (E e : kAllJobEvents) {
      const bool allowed = e == E::kDelete || (e == E::kRetry && s != S::kSucceeded);
      EXPECT_EQ(Allows(s, e), allowed) << ToString(s) << " x " << ToString(e);
    }
  }
}

TEST(TransitionTableTest, RefusalsNameTheReason) {
  EXPECT_NE(Refusal(S::kRunning, E::kDelete, "job 3").message().find("cancel it first"), std::string::npos);
  EXPECT_NE(Refusal(S::kSucceeded, E::kRetry, "job 3").message().find("only failed or cancelled"), std::string::npos);
  EXPECT_NE(Refusal(S::kAvailable, E::kRetry, "job 3").message().find("has not finished"), std::string::npos);
  EXPECT_NE(Refusal(S::kSucceeded, E::kCancel, "job 3").message().find("cannot be cancelled"), std::string::npos);
  EXPECT_NE(Refusal(S::kFailed, E::kComplete, "job 3").message().find("lease is no longer held"), std::string::npos);
}

}  // namespace
}  // namespace jobwarden
