// Pure lifecycle planning (core/lifecycle.h) against DESIGN.md's contract:
// attempt accounting, backoff vs at-once vs failed, deadlines, retry,
// two-phase take-back times and the stall clock.
#include "core/lifecycle.h"

#include <gtest/gtest.h>

namespace jobwarden {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const Timestamp kT0 = FromMillis(1'767'225'600'000);  // 2026-01-01T00:00:00Z

// A running job on its `attempt`-th attempt, leased at kT0 with TTL 10 s and grace 5 s.
Job RunningJob(int attempt = 1, int max_attempts = 5) {
  Job j;
  j.id = 42;
  j.kind = "k";
  j.state = JobState::kRunning;
  j.attempt = attempt;
  j.max_attempts = max_attempts;
  j.timeout = minutes(30);
  j.run_at = kT0;
  j.created_at = kT0;
  j.started_at = kT0;
  j.heartbeat_at = kT0;
  j.lease_token = 7;
  j.lease_ttl = seconds(10);
  j.grace = seconds(5);
  j.lease_expires_at = kT0 + seconds(10);
  j.stall_since = kT0;
  j.worker_id = "w1";
  return j;
}

Job WaitingJob(JobState s) {
  Job j;
  j.id = 43;
  j.kind = "k";
  j.state = s;
  j.timeout = minutes(30);
  j.run_at = kT0;
  j.created_at = kT0;
  return j;
}

Failure Fail(ErrorClass c, std::string message = "boom") {
  Failure f;
  f.error_class = c;
  f.message = std::move(message);
  return f;
}

class PlanFailureTest : public ::testing::Test {
 protected:
  Result<JobChange> Plan(const Job& j, const Failure& f, Timestamp now) {
    return PlanFailure(j, f, now, policy_, rng_);
  }
  // The delay the next draw of an identically seeded generator gives.
  Duration NextBackoff(int attempt) { return BackoffDelay(policy_, attempt, twin_); }

  BackoffPolicy policy_;
  std::mt19937_64 rng_{1234};
  std::mt19937_64 twin_{1234};
};

TEST(EventForFailureTest, MapsEachClassToItsRow) {
  EXPECT_EQ(EventForFailure(ErrorClass::kPermanent), JobEvent::kFailPermanent);
  for (ErrorClass c : {ErrorClass::kTransient, ErrorClass::kTimeout, ErrorClass::kStalled, ErrorClass::kCrashed}) {
    EXPECT_EQ(EventForFailure(c), JobEvent::kFailRetryable) << ToString(c);
  }
  EXPECT_EQ(EventForFailure(ErrorClass::kRateLimited), JobEvent::kFailRateLimited);
  EXPECT_EQ(EventForFailure(ErrorClass::kInterrupted), JobEvent::kFailInterrupted);
  EXPECT_EQ(EventForFailure(ErrorClass::kLeaseExpired), JobEvent::kLeaseLost);
  EXPECT_EQ(EventForFailure(ErrorClass::kWorkerLost), JobEvent::kLeaseLost);
  EXPECT_EQ(EventForFailure(ErrorClass::kCancelled), JobEvent::kCancelAck);
}

TEST(PlanCompleteTest, RunningBecomesSucceededUnderTheLeaseGuard) {
  auto c = PlanComplete(RunningJob(2), kT0 + seconds(3));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->from, JobState::kRunning);
  EXPECT_EQ(c->token, 7);
  EXPECT_EQ(c->to, JobState::kSucceeded);
  EXPECT_EQ(c->attempt, 2);
  EXPECT_EQ(c->finished_at, kT0 + seconds(3));
  EXPECT_TRUE(c->leaves_running);
  EXPECT_FALSE(c->error.has_value());
}

TEST(PlanCompleteTest, NotRunningIsLeaseLost) {
  for (JobState s : {JobState::kAvailable, JobState::kScheduled, JobState::kSucceeded, JobState::kFailed}) {
    auto c = PlanComplete(WaitingJob(s), kT0);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kLeaseLost) << ToString(s);
  }
}

TEST_F(PlanFailureTest, RetryableClassesBackOffAndKeepTheSpentAttempt) {
  for (ErrorClass cls : {ErrorClass::kTransient, ErrorClass::kTimeout, ErrorClass::kStalled, ErrorClass::kCrashed}) {
    SCOPED_TRACE(std::string(ToString(cls)));
    const Timestamp now = kT0 + seconds(20);
    auto c = Plan(RunningJob(2), Fail(cls), now);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->to, JobState::kScheduled);
    EXPECT_EQ(c->attempt, 2);
    EXPECT_EQ(c->run_at, now + NextBackoff(2));
    EXPECT_TRUE(c->leaves_running);
    EXPECT_FALSE(c->finished_at.has_value());
    ASSERT_TRUE(c->error.has_value());
    EXPECT_EQ(c->error->error_class, cls);
    EXPECT_EQ(c->error->attempt, 2);
    EXPECT_TRUE(c->error->counted);
    EXPECT_EQ(c->error->message, "boom");
    EXPECT_EQ(c->error->at, now);
  }
}

TEST_F(PlanFailureTest, RetryableFailsWhenNoAttemptsAreLeft) {
  auto c = Plan(RunningJob(5, 5), Fail(ErrorClass::kTransient), kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kFailed);
  EXPECT_EQ(c->finished_at, kT0);
  EXPECT_EQ(c->attempt, 5);
  ASSERT_TRUE(c->error.has_value());
  EXPECT_NE(c->error->message.find("no attempts left"), std::string::npos) << c->error->message;
}

TEST_F(PlanFailureTest, RetryableFailsWhenTheNextAttemptWouldStartAfterTheDeadline) {
  Job j = RunningJob(1);
  j.deadline_at = kT0 + seconds(2);  // backoff of attempt 1 is at least 2.5 s
  auto c = Plan(j, Fail(ErrorClass::kTransient), kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kFailed);
  EXPECT_NE(c->error->message.find("deadline"), std::string::npos) << c->error->message;

  j.deadline_at = kT0 + minutes(1);  // at most 5 s: fits
  auto later = Plan(j, Fail(ErrorClass::kTransient), kT0);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->to, JobState::kScheduled);
}

TEST_F(PlanFailureTest, PermanentFailsWithAttemptsLeft) {
  auto c = Plan(RunningJob(1, 5), Fail(ErrorClass::kPermanent, "bad input"), kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kFailed);
  EXPECT_EQ(c->finished_at, kT0);
  EXPECT_EQ(c->attempt, 1);
  EXPECT_EQ(c->error->error_class, ErrorClass::kPermanent);
  EXPECT_TRUE(c->error->counted);
}

TEST_F(PlanFailureTest, LeaseLossIsAvailableAtOnceWithTheAttemptSpent) {
  for (ErrorClass cls : {ErrorClass::kLeaseExpired, ErrorClass::kWorkerLost}) {
    SCOPED_TRACE(std::string(ToString(cls)));
    const Timestamp now = kT0 + seconds(11);
    auto c = Plan(RunningJob(3), Fail(cls), now);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->to, JobState::kAvailable);
    EXPECT_EQ(c->run_at, now);  // no backoff: the worker, not the job, failed
    EXPECT_EQ(c->attempt, 3);
    EXPECT_TRUE(c->error->counted);
    EXPECT_EQ(c->error->error_class, cls);
  }
}

TEST_F(PlanFailureTest, LeaseLossFailsWhenAttemptsOrDeadlineRunOut) {
  auto spent = Plan(RunningJob(5, 5), Fail(ErrorClass::kLeaseExpired), kT0);
  ASSERT_TRUE(spent.ok());
  EXPECT_EQ(spent->to, JobState::kFailed);

  Job j = RunningJob(1, 5);
  j.deadline_at = kT0 + seconds(5);
  auto late = Plan(j, Fail(ErrorClass::kWorkerLost), kT0 + seconds(5));
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->to, JobState::kFailed);
}

// Issue 11: a lease that never reached a live handler spends nothing, even on
// the last attempt (a max_attempts = 1 job must not fail without running).
TEST_F(PlanFailureTest, NeverStartedIsAvailableAtOnceAndGivesTheAttemptBack) {
  EXPECT_EQ(EventForFailure(Failure{ErrorClass::kWorkerLost, "x", {}, {}, {}, true}), JobEvent::kLeaseUndelivered);
  EXPECT_EQ(EventForFailure(Failure{ErrorClass::kWorkerLost, "x", {}, {}, {}, false}), JobEvent::kLeaseLost);
  Failure f = Fail(ErrorClass::kWorkerLost, "never started");
  f.never_started = true;
  const Timestamp now = kT0 + milliseconds(100);
  auto c = Plan(RunningJob(1, 1), f, now);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kAvailable);
  EXPECT_EQ(c->run_at, now);
  EXPECT_EQ(c->attempt, 0);
  EXPECT_TRUE(c->leaves_running);
  ASSERT_TRUE(c->error.has_value());
  EXPECT_EQ(c->error->error_class, ErrorClass::kWorkerLost);
  EXPECT_EQ(c->error->attempt, 1);
  EXPECT_FALSE(c->error->counted);
  EXPECT_EQ(c->error->message, "never started");
}

TEST_F(PlanFailureTest, NeverStartedKeepsTheDeadlineAndTheUsersCancel) {
  Failure f = Fail(ErrorClass::kWorkerLost, "never started");
  f.never_started = true;
  Job late = RunningJob(2);
  late.deadline_at = kT0;
  auto c = Plan(late, f, kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kFailed);

  Job cancelled = RunningJob(2);
  cancelled.cancel_requested = true;
  cancelled.cancel_reason = CancelReason::kUser;
  auto k = Plan(cancelled, f, kT0);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->to, JobState::kCancelled);
  EXPECT_FALSE(k->error->counted);

  Job done = RunningJob(1);
  done.state = JobState::kSucceeded;
  EXPECT_EQ(Plan(done, f, kT0).status().code(), StatusCode::kLeaseLost);
}

TEST_F(PlanFailureTest, RateLimitedWaitsRetryAfterAndGivesTheAttemptBack) {
  Failure f = Fail(ErrorClass::kRateLimited, "429");
  f.retry_after = seconds(30);
  // Even on the last attempt: a rate-limited run does not spend one.
  auto c = Plan(RunningJob(5, 5), f, kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kScheduled);
  EXPECT_EQ(c->run_at, kT0 + seconds(30));
  EXPECT_EQ(c->attempt, 4);
  EXPECT_EQ(c->error->attempt, 5);
  EXPECT_FALSE(c->error->counted);
}

TEST_F(PlanFailureTest, RateLimitedIsBoundedByTheDeadline) {
  Failure f = Fail(ErrorClass::kRateLimited, "429");
  f.retry_after = minutes(2);
  Job j = RunningJob(1);
  j.deadline_at = kT0 + minutes(1);
  auto c = Plan(j, f, kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kFailed);
  EXPECT_EQ(c->finished_at, kT0);
}

TEST_F(PlanFailureTest, InterruptedIsAvailableAtOnceAndGivesTheAttemptBack) {
  auto c = Plan(RunningJob(2), Fail(ErrorClass::kInterrupted, "drain"), kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kAvailable);
  EXPECT_EQ(c->run_at, kT0);
  EXPECT_EQ(c->attempt, 1);
  EXPECT_FALSE(c->error->counted);
  EXPECT_FALSE(c->checkpoint.has_value());  // nothing overwrites the stored checkpoint
}

TEST_F(PlanFailureTest, InterruptedDoesNotStartAnAttemptAfterTheDeadline) {
  Job j = RunningJob(2);
  j.deadline_at = kT0;
  auto c = Plan(j, Fail(ErrorClass::kInterrupted, "drain"), kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kFailed);
}

TEST_F(PlanFailureTest, CancelledIsTheWorkersAcknowledgement) {
  auto c = Plan(RunningJob(2), Fail(ErrorClass::kCancelled, "stopped"), kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kCancelled);
  EXPECT_EQ(c->finished_at, kT0);
  EXPECT_EQ(c->attempt, 2);
}

// A user's cancel decides how the run ends: a failure reported or seen after
// it never leads to another run, and is recorded as it happened.
TEST_F(PlanFailureTest, AfterAUsersCancelEveryRetryableEndIsCancelled) {
  Job j = RunningJob(2);
  j.cancel_requested = true;
  j.cancel_reason = CancelReason::kUser;
  for (ErrorClass k :
       {ErrorClass::kTransient, ErrorClass::kTimeout, ErrorClass::kStalled, ErrorClass::kCrashed,
        ErrorClass::kRateLimited, ErrorClass::kInterrupted, ErrorClass::kLeaseExpired, ErrorClass::kWorkerLost}) {
    auto c = Plan(j, Fail(k, "what happened"), kT0);
    ASSERT_TRUE(c.ok()) << ToString(k);
    EXPECT_EQ(c->to, JobState::kCancelled) << ToString(k);
    EXPECT_EQ(c->finished_at, kT0) << ToString(k);
    EXPECT_EQ(c->attempt, 2) << ToString(k);
    ASSERT_TRUE(c->error.has_value());
    EXPECT_EQ(c->error->error_class, k);
    EXPECT_EQ(c->error->message, "what happened (final: the job was cancelled while it ran)");
  }
  // A permanent failure is final already: it stays `failed`.
  auto p = Plan(j, Fail(ErrorClass::kPermanent, "bad input"), kT0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->to, JobState::kFailed);
}

// A limit's stop request (not the user's) leaves the ordinary rows alone.
TEST_F(PlanFailureTest, AfterALimitStopAFailureRetriesAsUsual) {
  Job j = RunningJob(2);
  j.cancel_requested = true;
  j.cancel_reason = CancelReason::kTimeout;
  auto c = Plan(j, Fail(ErrorClass::kTimeout, "killed at the timeout"), kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kScheduled);
}

TEST_F(PlanFailureTest, TimeLimitsRecordWhichLimit) {
  Failure f = Fail(ErrorClass::kTimeout, "too slow");
  f.limit = "timeout";
  f.output_tail = "last lines";
  auto c = Plan(RunningJob(1), f, kT0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->error->limit, "timeout");
  EXPECT_EQ(c->error->output_tail, "last lines");
}

TEST_F(PlanFailureTest, NotRunningIsLeaseLost) {
  for (JobState s : {JobState::kAvailable, JobState::kScheduled, JobState::kFailed, JobState::kCancelled}) {
    auto c = Plan(WaitingJob(s), Fail(ErrorClass::kTransient), kT0);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kLeaseLost) << ToString(s);
  }
}

TEST(PlanCancelTest, WaitingJobsAreCancelledAtOnceWithAnUncountedEntry) {
  for (JobState s : {JobState::kAvailable, JobState::kScheduled}) {
    auto c = PlanCancel(WaitingJob(s), kT0);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->from, s);
    EXPECT_EQ(c->to, JobState::kCancelled);
    EXPECT_EQ(c->finished_at, kT0);
    ASSERT_TRUE(c->error.has_value());
    EXPECT_EQ(c->error->error_class, ErrorClass::kCancelled);
    EXPECT_FALSE(c->error->counted);
  }
}

TEST(PlanCancelTest, RunningIsAskedToStopAndTakenBackAtNowPlusGracePlusTtlThird) {
  const Timestamp now = kT0 + seconds(4);
  auto c = PlanCancel(RunningJob(), now);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kRunning);
  EXPECT_FALSE(c->leaves_running);
  EXPECT_TRUE(c->request_cancel);
  EXPECT_EQ(c->cancel_reason, CancelReason::kUser);
  EXPECT_EQ(c->takeback_at, now + seconds(5) + milliseconds(10'000 / 3));
  EXPECT_FALSE(c->finished_at.has_value());
}

TEST(PlanCancelTest, AnEarlierLimitStopKeepsItsTakebackButTheCancelDecidesTheOutcome) {
  Job j = RunningJob();
  j.cancel_requested = true;
  j.cancel_reason = CancelReason::kTimeout;
  j.takeback_at = kT0 + seconds(1);
  auto c = PlanCancel(j, kT0 + seconds(2));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->cancel_reason, CancelReason::kUser);  // taken back as cancelled, not retried as a timeout
  EXPECT_EQ(c->takeback_at, kT0 + seconds(1));
}

TEST(PlanCancelTest, ARepeatedCancelDoesNotPostponeTheTakeback) {
  Job j = RunningJob();
  auto first = PlanCancel(j, kT0);
  ASSERT_TRUE(first.ok());
  j.cancel_requested = true;
  j.cancel_reason = CancelReason::kUser;
  j.takeback_at = first->takeback_at;
  auto again = PlanCancel(j, kT0 + seconds(3));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->takeback_at, first->takeback_at);
}

TEST(PlanCancelTest, FinishedJobsAreRefusedAsConflict) {
  for (JobState s : {JobState::kSucceeded, JobState::kFailed, JobState::kCancelled}) {
    auto c = PlanCancel(WaitingJob(s), kT0);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kConflict) << ToString(s);
  }
}

TEST(PlanRetryTest, RaisesMaxAttemptsToAtLeastAttemptPlusOne) {
  Job j = WaitingJob(JobState::kFailed);
  j.attempt = 5;
  j.max_attempts = 5;
  j.finished_at = kT0;
  auto c = PlanRetry(j, kT0 + seconds(9));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kAvailable);
  EXPECT_EQ(c->attempt, 5);
  EXPECT_EQ(c->max_attempts, 6);
  EXPECT_EQ(c->run_at, kT0 + seconds(9));
  EXPECT_FALSE(c->finished_at.has_value());

  j.state = JobState::kCancelled;
  j.attempt = 1;
  auto keep = PlanRetry(j, kT0);
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(keep->max_attempts, 5);  // already enough
}

TEST(PlanRetryTest, OnlyFailedAndCancelledCanBeRetried) {
  for (JobState s : {JobState::kSucceeded, JobState::kAvailable, JobState::kScheduled}) {
    auto c = PlanRetry(WaitingJob(s), kT0);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), StatusCode::kConflict) << ToString(s);
  }
  auto running = PlanRetry(RunningJob(), kT0);
  ASSERT_FALSE(running.ok());
  EXPECT_EQ(running.status().code(), StatusCode::kConflict);
}

TEST(PlanDeadlinePassedTest, WaitingJobFailsAsTimeoutWithLimitDeadline) {
  Job j = WaitingJob(JobState::kScheduled);
  j.deadline_at = kT0 + seconds(10);
  auto early = PlanDeadlinePassed(j, kT0 + seconds(9));
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().code(), StatusCode::kConflict);

  auto c = PlanDeadlinePassed(j, kT0 + seconds(10));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kFailed);
  EXPECT_EQ(c->attempt, 0);
  EXPECT_EQ(c->error->error_class, ErrorClass::kTimeout);
  EXPECT_EQ(c->error->limit, "deadline");
  EXPECT_FALSE(c->error->counted);

  Job r = RunningJob();
  r.deadline_at = kT0;
  EXPECT_FALSE(PlanDeadlinePassed(r, kT0 + seconds(1)).ok());  // running jobs hit it as a limit
}

// --- time limits of a running attempt (two-phase) ---

TEST(LimitsTest, FirstLimitReachedPicksTheEarliestReachedLimit) {
  Job j = RunningJob();
  j.timeout = seconds(60);
  j.stall_timeout = seconds(20);
  j.stall_since = kT0 + seconds(5);  // progress at +5 s: stall at +25 s
  j.deadline_at = kT0 + seconds(40);
  EXPECT_FALSE(FirstLimitReached(j, kT0 + seconds(24)).has_value());
  auto stall = FirstLimitReached(j, kT0 + seconds(25));
  ASSERT_TRUE(stall.has_value());
  EXPECT_EQ(stall->reason, CancelReason::kStalled);
  EXPECT_EQ(stall->at, kT0 + seconds(25));
  auto all = FirstLimitReached(j, kT0 + seconds(100));  // every limit passed: the earliest wins
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->reason, CancelReason::kStalled);

  j.stall_timeout.reset();
  auto deadline = FirstLimitReached(j, kT0 + seconds(100));
  ASSERT_TRUE(deadline.has_value());
  EXPECT_EQ(deadline->reason, CancelReason::kDeadline);
  EXPECT_EQ(deadline->at, kT0 + seconds(40));

  j.deadline_at.reset();
  auto timeout = FirstLimitReached(j, kT0 + seconds(60));
  ASSERT_TRUE(timeout.has_value());
  EXPECT_EQ(timeout->reason, CancelReason::kTimeout);
  EXPECT_EQ(timeout->at, kT0 + seconds(60));

  EXPECT_FALSE(FirstLimitReached(WaitingJob(JobState::kAvailable), kT0 + minutes(90)).has_value());
}

TEST(LimitsTest, AttemptDeadlineIsTheNearerOfTimeoutAndDeadline) {
  Job j = RunningJob();
  j.timeout = seconds(60);
  EXPECT_EQ(AttemptDeadline(j), kT0 + seconds(60));
  j.deadline_at = kT0 + seconds(30);
  EXPECT_EQ(AttemptDeadline(j), kT0 + seconds(30));
  j.deadline_at = kT0 + seconds(90);
  EXPECT_EQ(AttemptDeadline(j), kT0 + seconds(60));
}

TEST(LimitsTest, LimitStopIsTakenBackAtLimitPlusGracePlusTtlThird) {
  Job j = RunningJob();
  const LimitHit hit{CancelReason::kTimeout, kT0 + seconds(60)};
  auto c = PlanLimitReached(j, hit, kT0 + seconds(61));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->to, JobState::kRunning);
  EXPECT_TRUE(c->request_cancel);
  EXPECT_FALSE(c->leaves_running);
  EXPECT_EQ(c->cancel_reason, CancelReason::kTimeout);
  // From the limit, not from when the reaper noticed it.
  EXPECT_EQ(c->takeback_at, kT0 + seconds(60) + seconds(5) + milliseconds(3333));
  EXPECT_EQ(TakebackTime(j, kT0), kT0 + seconds(5) + milliseconds(3333));
}

// --- the reaper's decision for one running job ---

TEST(DecideReapTest, HealthyLeaseIsLeftAlone) {
  EXPECT_EQ(DecideReap(RunningJob(), kT0 + seconds(9)).action, ReapVerdict::Action::kNone);
  EXPECT_EQ(DecideReap(WaitingJob(JobState::kAvailable), kT0 + minutes(99)).action, ReapVerdict::Action::kNone);
}

TEST(DecideReapTest, ExpiredLeaseIsTakenBackAsLeaseExpired) {
  auto v = DecideReap(RunningJob(), kT0 + seconds(10));
  ASSERT_EQ(v.action, ReapVerdict::Action::kTakeBack);
  ASSERT_TRUE(v.failure.has_value());
  EXPECT_EQ(v.failure->error_class, ErrorClass::kLeaseExpired);
  EXPECT_NE(v.failure->message.find("no heartbeat"), std::string::npos) << v.failure->message;
}

TEST(DecideReapTest, ReachedLimitGetsAStopRequest) {
  Job j = RunningJob();
  j.timeout = seconds(5);
  auto v = DecideReap(j, kT0 + seconds(6));
  ASSERT_EQ(v.action, ReapVerdict::Action::kRequestCancel);
  EXPECT_EQ(v.limit->reason, CancelReason::kTimeout);
  EXPECT_EQ(v.limit->at, kT0 + seconds(5));
}

TEST(DecideReapTest, RequestedStopWaitsForItsTakebackThenUsesTheReasonsClass) {
  struct Case {
    CancelReason reason;
    ErrorClass cls;
    std::optional<std::string> limit;
  };
  for (const Case& k : {Case{CancelReason::kUser, ErrorClass::kCancelled, std::nullopt},
                        Case{CancelReason::kTimeout, ErrorClass::kTimeout, "timeout"},
                        Case{CancelReason::kStalled, ErrorClass::kStalled, "stall_timeout"},
                        Case{CancelReason::kDeadline, ErrorClass::kTimeout, "deadline"}}) {
    SCOPED_TRACE(std::string(ToString(k.reason)));
    Job j = RunningJob();
    j.timeout = seconds(1);
    j.stall_timeout = seconds(1);
    j.deadline_at = kT0 + seconds(1);
    j.lease_expires_at = kT0 + minutes(5);
    j.cancel_requested = true;
    j.cancel_reason = k.reason;
    j.takeback_at = kT0 + seconds(8);
    EXPECT_EQ(DecideReap(j, kT0 + seconds(7)).action, ReapVerdict::Action::kNone);  // no second request
    auto v = DecideReap(j, kT0 + seconds(8));
    ASSERT_EQ(v.action, ReapVerdict::Action::kTakeBack);
    EXPECT_EQ(v.failure->error_class, k.cls);
    EXPECT_EQ(v.failure->limit, k.limit);
    // An expired lease after a stop request is classified by the request.
    j.takeback_at = kT0 + minutes(60);
    auto expired = DecideReap(j, kT0 + minutes(5));
    ASSERT_EQ(expired.action, ReapVerdict::Action::kTakeBack);
    EXPECT_EQ(expired.failure->error_class, k.cls);
  }
}

// --- the stall clock ---

TEST(StallClockTest, ResetsOnlyWhenDoneGrowsOrMessageOrCheckpointChanges) {
  Progress old{10, 100, "step a", std::nullopt};
  const std::optional<std::string> cp = R"({"page":3})";
  auto with = [](std::int64_t done, std::string msg) { return std::optional<Progress>(Progress{done, 100, msg, {}}); };
  EXPECT_TRUE(ResetsStallClock(old, cp, with(11, "step a"), std::nullopt));
  EXPECT_FALSE(ResetsStallClock(old, cp, with(10, "step a"), std::nullopt));
  EXPECT_FALSE(ResetsStallClock(old, cp, with(9, "step a"), std::nullopt));  // going back is no progress
  EXPECT_TRUE(ResetsStallClock(old, cp, with(10, "step b"), std::nullopt));
  EXPECT_TRUE(ResetsStallClock(old, cp, std::nullopt, std::string(R"({"page":4})")));
  EXPECT_FALSE(ResetsStallClock(old, cp, std::nullopt, cp));
  EXPECT_TRUE(ResetsStallClock(old, std::nullopt, std::nullopt, cp));
  EXPECT_FALSE(ResetsStallClock(old, cp, std::nullopt, std::nullopt));  // a bare heartbeat is not progress
}

TEST(LimitNameTest, NamesMatchTheErrorEntryLimitField) {
  EXPECT_EQ(LimitName(CancelReason::kTimeout), "timeout");
  EXPECT_EQ(LimitName(CancelReason::kStalled), "stall_timeout");
  EXPECT_EQ(LimitName(CancelReason::kDeadline), "deadline");
}

}  // namespace
}  // namespace jobwarden

namespace jobwarden {
namespace {

// Flow control: a failure of a job with a resource_key tells its breaker how
// the run went, and a rate_limited one with retry_after holds the resource.
TEST(PlanFailureResourceTest, ARunOfAKeyedJobCarriesItsBreakerOutcomeAndHold) {
  Job j = RunningJob();
  j.resource_key = "host:imx";
  std::mt19937_64 rng(1);
  const std::pair<ErrorClass, BreakerOutcome> cases[] = {
      {ErrorClass::kTransient, BreakerOutcome::kFailure},   {ErrorClass::kCrashed, BreakerOutcome::kFailure},
      {ErrorClass::kTimeout, BreakerOutcome::kFailure},     {ErrorClass::kRateLimited, BreakerOutcome::kFailure},
      {ErrorClass::kPermanent, BreakerOutcome::kNeutral},   {ErrorClass::kWorkerLost, BreakerOutcome::kNeutral},
      {ErrorClass::kInterrupted, BreakerOutcome::kNeutral}, {ErrorClass::kLeaseExpired, BreakerOutcome::kNeutral},
  };
  for (const auto& [c, outcome] : cases) {
    Failure f;
    f.error_class = c;
    f.message = "x";
    auto change = PlanFailure(j, f, kT0, BackoffPolicy{}, rng);
    ASSERT_TRUE(change.ok()) << change.status().ToString();
    ASSERT_TRUE(change->resource) << ToString(c);
    EXPECT_EQ(change->resource->key, "host:imx");
    EXPECT_EQ(change->resource->outcome, outcome) << ToString(c);
    EXPECT_FALSE(change->resource->hold_until) << ToString(c);
  }
  Failure limited;
  limited.error_class = ErrorClass::kRateLimited;
  limited.message = "429";
  limited.retry_after = seconds(30);
  auto change = PlanFailure(j, limited, kT0, BackoffPolicy{}, rng);
  ASSERT_TRUE(change.ok());
  EXPECT_EQ(change->resource->hold_until, kT0 + seconds(30));

  Failure undelivered;
  undelivered.error_class = ErrorClass::kWorkerLost;
  undelivered.message = "never reached";
  undelivered.never_started = true;
  change = PlanFailure(j, undelivered, kT0, BackoffPolicy{}, rng);
  ASSERT_TRUE(change.ok());
  EXPECT_EQ(change->resource->outcome, BreakerOutcome::kNeutral);

  j.resource_key.reset();
  change = PlanFailure(j, limited, kT0, BackoffPolicy{}, rng);
  ASSERT_TRUE(change.ok());
  EXPECT_FALSE(change->resource) << "a job without a key touches no resource";
}

}  // namespace
}  // namespace jobwarden

namespace jobwarden {
namespace {

// DESIGN.md "At risk": the projected finish, from this attempt's progress
// rate, against the nearest limit.
TEST(ProjectAtRiskTest, ABehindPaceJobIsAtRiskOfItsNearestLimit) {
  Job j = RunningJob(1, 5);
  j.timeout = minutes(10);
  j.progress = {10, 100, "pages", kT0 + minutes(2)};  // 10 of 100 in 2 min: 20 min in all
  auto risk = ProjectAtRisk(j);
  ASSERT_TRUE(risk);
  EXPECT_EQ(risk->limit, "timeout");
  EXPECT_EQ(risk->limit_at, kT0 + minutes(10));
  EXPECT_EQ(risk->projected_finish_at, kT0 + minutes(20));

  // A deadline before the timeout is the nearest limit.
  j.deadline_at = kT0 + minutes(5);
  risk = ProjectAtRisk(j);
  ASSERT_TRUE(risk);
  EXPECT_EQ(risk->limit, "deadline");
  EXPECT_EQ(risk->limit_at, kT0 + minutes(5));
}

TEST(ProjectAtRiskTest, OnPaceUnknownOrFinishedProgressIsNotAtRisk) {
  Job j = RunningJob(1, 5);
  j.timeout = minutes(30);
  j.progress = {50, 100, "", kT0 + minutes(10)};  // 20 min in all: within 30
  EXPECT_FALSE(ProjectAtRisk(j));
  j.progress = {0, 100, "", kT0 + minutes(10)};  // no rate yet
  EXPECT_FALSE(ProjectAtRisk(j));
  j.progress = {5, std::nullopt, "", kT0 + minutes(10)};  // no total
  EXPECT_FALSE(ProjectAtRisk(j));
  j.progress = {100, 100, "", kT0 + minutes(10)};  // done
  EXPECT_FALSE(ProjectAtRisk(j));
  j.progress = {1, 1'000'000'000, "", kT0 + minutes(10)};  // capped, still a time
  auto far = ProjectAtRisk(j);
  ASSERT_TRUE(far);
  EXPECT_GT(far->projected_finish_at, far->limit_at);
  Job waiting = WaitingJob(JobState::kAvailable);
  waiting.progress = {10, 100, "", kT0 + minutes(2)};
  EXPECT_FALSE(ProjectAtRisk(waiting));
}

}  // namespace
}  // namespace jobwarden
