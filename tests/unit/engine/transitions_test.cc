// Every row of DESIGN.md's transition table, through the real Engine on a
// SQLite file, with a FakeClock (no sleeps: time moves, ReapOnce runs).
#include <gtest/gtest.h>

#include "unit/engine/engine_helpers.h"

namespace jobwarden::testing {
namespace {

class TransitionsTest : public EngineTest {};

// --- enqueue ---

TEST_F(TransitionsTest, EnqueueIsAvailableWithAttemptZero) {
  const Job j = Enqueue();
  const Job got = Get(j.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 0);
  EXPECT_EQ(got.run_at, Now());
  EXPECT_EQ(got.created_at, Now());
  EXPECT_EQ(got.max_attempts, 5);
  EXPECT_EQ(got.timeout, minutes(30));
  EXPECT_EQ(got.queue, "default");
  EXPECT_EQ(got.priority, 0);
}

TEST_F(TransitionsTest, EnqueueWithFutureRunAtIsScheduled) {
  const Job delayed = Enqueue({.delay = seconds(5)});
  EXPECT_EQ(Get(delayed.id).state, JobState::kScheduled);
  EXPECT_EQ(Get(delayed.id).run_at, Now() + seconds(5));
  const Job at = Enqueue({.run_at = Now() + minutes(1)});
  EXPECT_EQ(Get(at.id).state, JobState::kScheduled);
  const Job past = Enqueue({.run_at = Now() - minutes(1)});
  EXPECT_EQ(Get(past.id).state, JobState::kAvailable);
}

TEST_F(TransitionsTest, DeadlineNotAfterRunAtIsInvalidArgument) {
  auto equal = engine().Enqueue(MakeJob({.deadline_at = Now() + seconds(5), .delay = seconds(5)}));
  ASSERT_FALSE(equal.ok());
  EXPECT_EQ(equal.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(equal.status().message().find("deadline"), std::string::npos);
  auto before = engine().Enqueue(MakeJob({.deadline_in = seconds(5), .delay = seconds(10)}));
  ASSERT_FALSE(before.ok());
  EXPECT_EQ(before.status().code(), StatusCode::kInvalidArgument);
  auto past = engine().Enqueue(MakeJob({.deadline_at = Now() - seconds(1)}));
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.status().code(), StatusCode::kInvalidArgument);
  auto all = engine().List({});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());  // nothing written
  EXPECT_TRUE(engine().Enqueue(MakeJob({.deadline_in = seconds(15), .delay = seconds(10)})).ok());
}

// --- scheduled -> available ---

TEST_F(TransitionsTest, FetchTakesDueScheduledJobsDirectly) {
  const Job j = Enqueue({.delay = seconds(5)});
  EXPECT_TRUE(FetchN(1).empty());
  clock().Advance(seconds(5));
  const Job got = FetchOne();
  EXPECT_EQ(got.id, j.id);
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_EQ(got.attempt, 1);
}

TEST_F(TransitionsTest, ReaperPromotesDueScheduledJobs) {
  const Job j = Enqueue({.delay = seconds(5)});
  clock().Advance(seconds(4));
  EXPECT_EQ(Reap().promoted, 0);
  EXPECT_EQ(Get(j.id).state, JobState::kScheduled);
  clock().Advance(seconds(1));
  EXPECT_EQ(Reap().promoted, 1);
  const Job got = Get(j.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 0);
}

// --- available -> running ---

TEST_F(TransitionsTest, FetchStartsAttemptWithANewLease) {
  const Job j = Enqueue();
  const Job got = FetchOne({"default"}, "w7");
  EXPECT_EQ(got.id, j.id);
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_EQ(got.attempt, 1);
  EXPECT_GT(got.lease_token, 0);
  EXPECT_EQ(got.lease_ttl, kLeaseTtl);
  EXPECT_EQ(got.grace, kGrace);
  EXPECT_EQ(got.lease_expires_at, Now() + kLeaseTtl);
  EXPECT_EQ(got.started_at, Now());
  EXPECT_EQ(got.stall_since, Now());
  EXPECT_EQ(got.worker_id, "w7");
  const Job stored = Get(j.id);
  EXPECT_EQ(stored.state, JobState::kRunning);
  EXPECT_EQ(stored.lease_token, got.lease_token);
  EXPECT_TRUE(FetchN(1).empty());  // leased once
}

TEST_F(TransitionsTest, FetchOrderIsPriorityThenRunAtThenId) {
  const Timestamp t = Now();
  const Job a = Enqueue({.run_at = t});
  const Job b = Enqueue({.priority = 5, .run_at = t});
  const Job c = Enqueue({.run_at = t - seconds(10)});
  const Job d = Enqueue({.run_at = t});
  const Job e = Enqueue({.queue = "other", .priority = 1, .run_at = t});
  const Job f = Enqueue({.priority = -1, .run_at = t - minutes(5)});
  std::vector<JobId> order;
  for (int i = 0; i < 6; ++i) order.push_back(FetchOne({"default", "other"}).id);
  EXPECT_EQ(order, (std::vector<JobId>{b.id, e.id, c.id, a.id, d.id, f.id}));
}

TEST_F(TransitionsTest, OneFetchReturnsABatchInFetchOrder) {
  const Job low = Enqueue();
  const Job high = Enqueue({.priority = 9});
  const Job other = Enqueue({.queue = "q2", .priority = 3});
  auto jobs = FetchN(10, {"default", "q2"});
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].id, high.id);
  EXPECT_EQ(jobs[1].id, other.id);
  EXPECT_EQ(jobs[2].id, low.id);
}

TEST_F(TransitionsTest, PausedQueuesAreSkipped) {
  const Job a = Enqueue({.queue = "q1", .priority = 10});
  const Job b = Enqueue({.queue = "q2"});
  ASSERT_OK(engine().PauseQueue("q1"));
  EXPECT_EQ(FetchOne({"q1", "q2"}).id, b.id);
  EXPECT_TRUE(FetchN(1, {"q1", "q2"}).empty());
  ASSERT_OK(engine().ResumeQueue("q1"));
  EXPECT_EQ(FetchOne({"q1", "q2"}).id, a.id);
}

TEST_F(TransitionsTest, FetchSkipsJobsPastTheirDeadline) {
  const Job j = Enqueue({.deadline_in = seconds(5)});
  clock().Advance(seconds(5));
  EXPECT_TRUE(FetchN(1).empty());
  EXPECT_EQ(Get(j.id).state, JobState::kAvailable);  // until the reaper fails it
}

// --- running: heartbeat ---

TEST_F(TransitionsTest, HeartbeatExtendsTheLeaseAndAnswersContinue) {
  Enqueue();
  const Job j = FetchOne();
  clock().Advance(seconds(3));
  const HeartbeatResult r = Beat(j);
  EXPECT_EQ(r.id, j.id);
  EXPECT_EQ(r.answer, HeartbeatAnswer::kContinue);
  EXPECT_EQ(r.lease_expires_at, Now() + kLeaseTtl);
  const Job got = Get(j.id);
  EXPECT_EQ(got.lease_expires_at, Now() + kLeaseTtl);
  EXPECT_EQ(got.heartbeat_at, Now());
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_EQ(got.attempt, 1);
}

TEST_F(TransitionsTest, HeartbeatRecordsProgressAndCheckpoint) {
  Enqueue();
  const Job j = FetchOne();
  clock().Advance(seconds(2));
  Beat(j, Progress{3, 10, "page 3", std::nullopt}, R"({ "page" : 3 })");
  const Job got = Get(j.id);
  EXPECT_EQ(got.progress.done, 3);
  EXPECT_EQ(got.progress.total, 10);
  EXPECT_EQ(got.progress.message, "page 3");
  EXPECT_EQ(got.progress.updated_at, Now());
  EXPECT_EQ(got.checkpoint, R"({"page":3})");  // stored compact
  EXPECT_EQ(got.stall_since, Now());
}

TEST_F(TransitionsTest, HeartbeatAnswersCancelWhenACancelWasRequested) {
  Enqueue();
  const Job j = FetchOne();
  ASSERT_TRUE(engine().Cancel(j.id).ok());
  const HeartbeatResult r = Beat(j);
  EXPECT_EQ(r.answer, HeartbeatAnswer::kCancel);
  EXPECT_EQ(r.cancel_reason, CancelReason::kUser);
  EXPECT_EQ(Get(j.id).state, JobState::kRunning);
}

TEST_F(TransitionsTest, HeartbeatOnAJobNoLongerHeldAnswersLost) {
  Enqueue();
  const Job j = FetchOne();
  ASSERT_OK(Complete(j));
  const HeartbeatResult r = Beat(j);
  EXPECT_EQ(r.answer, HeartbeatAnswer::kLost);
  EXPECT_FALSE(r.lease_expires_at.has_value());
}

// --- running: complete ---

TEST_F(TransitionsTest, CompleteSucceedsAndIsIdempotentWithTheSameToken) {
  Enqueue();
  const Job j = FetchOne();
  clock().Advance(seconds(2));
  ASSERT_OK(Complete(j, R"({"n": 1})"));
  const Job done = Get(j.id);
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.result, R"({"n":1})");
  EXPECT_EQ(done.finished_at, Now());
  EXPECT_EQ(done.attempt, 1);
  EXPECT_FALSE(done.lease_expires_at.has_value());

  clock().Advance(seconds(2));
  EXPECT_OK(Complete(j, R"({"n": 2})"));  // the same complete again: 200, no change
  const Job again = Get(j.id);
  EXPECT_EQ(again.state, JobState::kSucceeded);
  EXPECT_EQ(again.result, R"({"n":1})");
  EXPECT_EQ(again.finished_at, done.finished_at);
}

TEST_F(TransitionsTest, CompleteWithoutResultStoresNull) {
  Enqueue();
  const Job j = FetchOne();
  ASSERT_OK(Complete(j));
  EXPECT_EQ(Get(j.id).result, "null");
}

// --- running: fail ---

TEST_F(TransitionsTest, FailPermanentIsFailedAtOnce) {
  Enqueue();
  const Job j = FetchOne();
  ASSERT_OK(Fail(j, ErrorClass::kPermanent, "bad input"));
  const Job got = Get(j.id);
  EXPECT_EQ(got.state, JobState::kFailed);
  EXPECT_EQ(got.finished_at, Now());
  EXPECT_EQ(got.attempt, 1);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kPermanent);
  EXPECT_EQ(got.errors[0].message, "bad input");
}

TEST_F(TransitionsTest, RetryableFailuresAreScheduledWithBackoffKeepingTheAttempt) {
  for (ErrorClass c : {ErrorClass::kTransient, ErrorClass::kTimeout, ErrorClass::kStalled, ErrorClass::kCrashed}) {
    SCOPED_TRACE(std::string(ToString(c)));
    const Job queued = Enqueue({.queue = std::string(ToString(c))});
    const Job j = FetchOne({std::string(ToString(c))});
    ASSERT_OK(Fail(j, c));
    const Job got = Get(queued.id);
    EXPECT_EQ(got.state, JobState::kScheduled);
    EXPECT_EQ(got.attempt, 1);
    // Attempt 1: base 5 s * U(0.5, 1).
    EXPECT_GE(got.run_at, Now() + milliseconds(2500));
    EXPECT_LE(got.run_at, Now() + seconds(5));
    ASSERT_EQ(got.errors.size(), 1u);
    EXPECT_EQ(got.errors[0].error_class, c);
    EXPECT_TRUE(got.errors[0].counted);
  }
}

TEST_F(TransitionsTest, RetryableFailureOnTheLastAttemptIsFailed) {
  const Job queued = Enqueue({.max_attempts = 2});
  for (int attempt = 1; attempt <= 2; ++attempt) {
    clock().Advance(minutes(1));
    const Job j = FetchOne();
    ASSERT_EQ(j.attempt, attempt);
    ASSERT_OK(Fail(j, ErrorClass::kTransient, "try " + std::to_string(attempt)));
  }
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kFailed);
  EXPECT_EQ(got.attempt, 2);
  ASSERT_EQ(got.errors.size(), 2u);
  EXPECT_NE(got.errors[1].message.find("no attempts left"), std::string::npos) << got.errors[1].message;
}

TEST_F(TransitionsTest, BackoffDoublesWithTheAttempt) {
  EngineOptions o;
  o.backoff = {seconds(10), hours(1)};
  EngineBundle b(o);
  auto e = b.engine->Enqueue(MakeJob({.max_attempts = 10}));
  ASSERT_TRUE(e.ok());
  for (int attempt = 1; attempt <= 4; ++attempt) {
    b.clock.Advance(hours(1));
    auto fetched = b.engine->Fetch({.max = 1});
    ASSERT_TRUE(fetched.ok() && fetched->size() == 1);
    const Job& j = fetched->front();
    ASSERT_EQ(j.attempt, attempt);
    ASSERT_OK(b.engine->Fail({j.id, j.lease_token, {ErrorClass::kTransient, "x", {}, {}, {}}, {}, {}}));
    auto got = b.engine->Get(j.id);
    ASSERT_TRUE(got.ok());
    const Duration wait = got->run_at - b.clock.Now();
    const Duration raw = seconds(10) * (1 << (attempt - 1));
    EXPECT_GE(wait, raw / 2) << "attempt " << attempt;
    EXPECT_LE(wait, raw) << "attempt " << attempt;
  }
}

TEST_F(TransitionsTest, RateLimitedWaitsRetryAfterAndDoesNotSpendTheAttempt) {
  const Job queued = Enqueue({.max_attempts = 1});
  const Job j = FetchOne();
  ASSERT_EQ(j.attempt, 1);
  ASSERT_OK(Fail(j, ErrorClass::kRateLimited, "429 from api", seconds(30)));
  const Job waiting = Get(queued.id);
  EXPECT_EQ(waiting.state, JobState::kScheduled);
  EXPECT_EQ(waiting.run_at, Now() + seconds(30));
  EXPECT_EQ(waiting.attempt, 0);
  ASSERT_EQ(waiting.errors.size(), 1u);
  EXPECT_FALSE(waiting.errors[0].counted);
  EXPECT_EQ(waiting.errors[0].attempt, 1);
  clock().Advance(seconds(29));
  EXPECT_TRUE(FetchN(1).empty());
  clock().Advance(seconds(1));
  const Job again = FetchOne();
  EXPECT_EQ(again.attempt, 1);  // the same attempt number again: max_attempts 1 still allows it
}

TEST_F(TransitionsTest, InterruptedIsAvailableAtOnceWithTheAttemptGivenBackAndTheCheckpointKept) {
  const Job queued = Enqueue();
  const Job j = FetchOne();
  Beat(j, std::nullopt, R"({"page": 7})");
  ASSERT_OK(Fail(j, ErrorClass::kInterrupted, "worker draining"));
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 0);
  EXPECT_EQ(got.checkpoint, R"({"page":7})");
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kInterrupted);
  EXPECT_FALSE(got.errors[0].counted);
  const Job next = FetchOne();
  EXPECT_EQ(next.attempt, 1);
  EXPECT_EQ(next.checkpoint, R"({"page":7})");  // the next worker resumes from it
}

TEST_F(TransitionsTest, InterruptedWithACheckpointStoresIt) {
  const Job queued = Enqueue();
  const Job j = FetchOne();
  ASSERT_OK(Fail(j, ErrorClass::kInterrupted, "drain", std::nullopt, R"({"item": 21595})"));
  EXPECT_EQ(Get(queued.id).checkpoint, R"({"item":21595})");
}

TEST_F(TransitionsTest, WorkerMayNotReportTheServersVerdicts) {
  Enqueue();
  const Job j = FetchOne();
  for (ErrorClass c : {ErrorClass::kLeaseExpired, ErrorClass::kWorkerLost}) {
    const Status s = Fail(j, c);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << ToString(c);
  }
  EXPECT_EQ(Fail(j, ErrorClass::kTransient, "").code(), StatusCode::kInvalidArgument);  // empty message
  EXPECT_EQ(Get(j.id).state, JobState::kRunning);
}

TEST_F(TransitionsTest, TheSameFailAgainWithTheSameTokenIsOk) {
  Enqueue();
  const Job j = FetchOne();
  ASSERT_OK(Fail(j, ErrorClass::kPermanent, "bad"));
  EXPECT_OK(Fail(j, ErrorClass::kPermanent, "bad"));
  EXPECT_EQ(Get(j.id).errors.size(), 1u);
  EXPECT_EQ(Fail(j, ErrorClass::kTransient, "other").code(), StatusCode::kLeaseLost);
}

// --- running: lease expiry ---

TEST_F(TransitionsTest, LeaseExpiryMakesTheJobAvailableAtOnceWithTheAttemptSpent) {
  const Job queued = Enqueue();
  const Job j = FetchOne({"default"}, "w9");
  clock().Advance(kLeaseTtl + seconds(1));
  EXPECT_EQ(Reap().taken_back, 1);
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 1);
  EXPECT_EQ(got.run_at, Now());
  EXPECT_FALSE(got.lease_expires_at.has_value());
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kLeaseExpired);
  EXPECT_TRUE(got.errors[0].counted);
  EXPECT_EQ(got.errors[0].attempt, 1);
  EXPECT_NE(got.errors[0].message.find("w9"), std::string::npos) << got.errors[0].message;
  EXPECT_EQ(FetchOne().attempt, 2);
}

TEST_F(TransitionsTest, LeaseExpiryOnTheLastAttemptIsFailed) {
  const Job queued = Enqueue({.max_attempts = 1});
  FetchOne();
  clock().Advance(kLeaseTtl);
  Reap();
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kFailed);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kLeaseExpired);
}

// --- cancel ---

TEST_F(TransitionsTest, CancelOfAWaitingJobIsImmediate) {
  const Job a = Enqueue();
  const Job s = Enqueue({.delay = minutes(5)});
  for (const Job& j : {a, s}) {
    auto r = engine().Cancel(j.id);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->state, JobState::kCancelled);
    EXPECT_EQ(r->finished_at, Now());
    EXPECT_EQ(r->attempt, 0);
  }
  EXPECT_TRUE(FetchN(5).empty());
}

TEST_F(TransitionsTest, CancelOfARunningJobIsTwoPhaseAndTakenBackAsCancelled) {
  const Job queued = Enqueue();
  const Job j = FetchOne();
  clock().Advance(seconds(1));
  auto r = engine().Cancel(j.id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kRunning);
  EXPECT_TRUE(r->cancel_requested);
  EXPECT_EQ(r->cancel_reason, CancelReason::kUser);
  const Timestamp takeback = Now() + kGrace + kTtlThird;
  EXPECT_EQ(r->takeback_at, takeback);
  // The worker ignores it but keeps heartbeating: still running until take-back.
  while (Now() + seconds(1) < takeback) {
    clock().Advance(seconds(1));
    EXPECT_EQ(Beat(j).answer, HeartbeatAnswer::kCancel);
    Reap();
    ASSERT_EQ(Get(j.id).state, JobState::kRunning);
  }
  clock().Set(takeback);
  EXPECT_EQ(Reap().taken_back, 1);
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kCancelled);
  EXPECT_EQ(got.attempt, 1);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kCancelled);
  EXPECT_EQ(Beat(j).answer, HeartbeatAnswer::kLost);
}

// The worker drains (or its handler fails) before it acts on the cancel: the
// job still ends cancelled, and never runs again.
TEST_F(TransitionsTest, FailureReportedAfterAUsersCancelEndsCancelledNotRetried) {
  const Job queued = Enqueue();
  const Job j = FetchOne();
  ASSERT_TRUE(engine().Cancel(j.id).ok());
  ASSERT_TRUE(Fail(j, ErrorClass::kInterrupted, "the worker is shutting down").ok());
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kCancelled);
  EXPECT_EQ(got.attempt, 1);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kInterrupted);
  EXPECT_TRUE(FetchN(5).empty());
}

TEST_F(TransitionsTest, CancelAfterALimitStopIsTakenBackAsCancelledNotRetried) {
  const Job queued = Enqueue({.timeout = seconds(6)});
  const Job j = FetchOne();
  clock().Advance(seconds(3));
  Beat(j);
  clock().Advance(seconds(3));
  Reap();  // timeout reached: stop requested, take-back at +6 s + grace + TTL/3
  const Timestamp takeback = *Get(queued.id).takeback_at;
  ASSERT_EQ(Get(queued.id).cancel_reason, CancelReason::kTimeout);
  clock().Advance(seconds(1));
  auto r = engine().Cancel(j.id);  // the user gives up on it
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cancel_reason, CancelReason::kUser);
  EXPECT_EQ(r->takeback_at, takeback);  // not postponed
  const HeartbeatResult hb = Beat(j);
  EXPECT_EQ(hb.answer, HeartbeatAnswer::kCancel);
  EXPECT_EQ(hb.cancel_reason, CancelReason::kUser);
  clock().Set(takeback);
  EXPECT_EQ(Reap().taken_back, 1);
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kCancelled);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kCancelled);
}

TEST_F(TransitionsTest, WorkerAcknowledgesACancel) {
  const Job queued = Enqueue();
  const Job j = FetchOne();
  ASSERT_TRUE(engine().Cancel(j.id).ok());
  ASSERT_EQ(Beat(j).answer, HeartbeatAnswer::kCancel);
  ASSERT_OK(Fail(j, ErrorClass::kCancelled, "stopped on request"));
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kCancelled);
  EXPECT_EQ(got.attempt, 1);
  EXPECT_FALSE(got.cancel_requested);
}

TEST_F(TransitionsTest, CancelOfAFinishedJobIsAConflictAndChangesNothing) {
  Enqueue();
  const Job j = FetchOne();
  ASSERT_OK(Complete(j));
  auto r = engine().Cancel(j.id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  EXPECT_EQ(Get(j.id).state, JobState::kSucceeded);
  auto missing = engine().Cancel(9999);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

// --- limits on a running job (two-phase) ---

TEST_F(TransitionsTest, AttemptTimeoutRequestsAStopThenTakesBackAsTimeout) {
  const Job queued = Enqueue({.timeout = seconds(20)});
  const Job j = FetchOne();
  const Timestamp limit = Now() + seconds(20);
  clock().Advance(seconds(19));
  Beat(j);
  EXPECT_EQ(Reap().cancel_requested, 0);
  clock().Set(limit);
  EXPECT_EQ(Reap().cancel_requested, 1);
  Job got = Get(queued.id);
  EXPECT_TRUE(got.cancel_requested);
  EXPECT_EQ(got.cancel_reason, CancelReason::kTimeout);
  EXPECT_EQ(got.takeback_at, limit + kGrace + kTtlThird);
  const HeartbeatResult r = Beat(j);
  EXPECT_EQ(r.answer, HeartbeatAnswer::kCancel);
  EXPECT_EQ(r.cancel_reason, CancelReason::kTimeout);
  clock().Set(limit + kGrace + kTtlThird - milliseconds(1));
  EXPECT_EQ(Reap().taken_back, 0);
  clock().Advance(milliseconds(1));
  EXPECT_EQ(Reap().taken_back, 1);
  got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kScheduled);  // backoff: attempts are left
  EXPECT_EQ(got.attempt, 1);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kTimeout);
  EXPECT_EQ(got.errors[0].limit, "timeout");
  EXPECT_TRUE(got.errors[0].counted);
}

TEST_F(TransitionsTest, WorkerSettlingAfterAStopRequestWins) {
  const Job queued = Enqueue({.timeout = seconds(20)});
  const Job j = FetchOne();
  for (int s = 0; s < 20; s += 4) {
    clock().Advance(seconds(4));
    Beat(j);
  }
  Reap();
  ASSERT_TRUE(Get(queued.id).cancel_requested);
  ASSERT_OK(Fail(j, ErrorClass::kTimeout, "killed at the limit"));
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kScheduled);
  EXPECT_FALSE(got.cancel_requested);
  clock().Advance(minutes(1));
  Reap();
  EXPECT_EQ(Get(queued.id).errors.size(), 1u);  // no second take-back
}

TEST_F(TransitionsTest, StallWithoutProgressRequestsAStopThenTakesBackAsStalled) {
  const Job queued = Enqueue({.stall_timeout = seconds(15)});
  const Job j = FetchOne();
  const Timestamp start = Now();
  // Progress at +6 s moves the stall limit to +21 s; bare heartbeats do not.
  for (int s = 1; s <= 20; ++s) {
    clock().Set(start + seconds(s));
    if (s == 6) {
      Beat(j, Progress{1, 10, "", std::nullopt});
    } else if (s % 3 == 0) {
      Beat(j);
    }
    Reap();
    ASSERT_FALSE(Get(queued.id).cancel_requested) << "at +" << s << " s";
  }
  clock().Set(start + seconds(21));
  EXPECT_EQ(Reap().cancel_requested, 1);
  Job got = Get(queued.id);
  EXPECT_EQ(got.cancel_reason, CancelReason::kStalled);
  EXPECT_EQ(got.takeback_at, start + seconds(21) + kGrace + kTtlThird);
  clock().Set(*got.takeback_at);
  Beat(j);  // still alive, still no progress
  EXPECT_EQ(Reap().taken_back, 1);
  got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kScheduled);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kStalled);
  EXPECT_EQ(got.errors[0].limit, "stall_timeout");
}

TEST_F(TransitionsTest, ProgressMessageOrCheckpointChangeResetsTheStallClock) {
  const Job queued = Enqueue({.stall_timeout = seconds(10)});
  const Job j = FetchOne();
  clock().Advance(seconds(5));
  Beat(j, Progress{0, std::nullopt, "connecting", std::nullopt});
  EXPECT_EQ(Get(queued.id).stall_since, Now());
  clock().Advance(seconds(5));
  Beat(j, std::nullopt, R"({"cursor": "abc"})");
  EXPECT_EQ(Get(queued.id).stall_since, Now());
  const Timestamp reset = Now();
  clock().Advance(seconds(5));
  Beat(j, Progress{0, std::nullopt, "connecting", std::nullopt}, R"({"cursor": "abc"})");  // nothing new
  EXPECT_EQ(Get(queued.id).stall_since, reset);
}

TEST_F(TransitionsTest, DeadlineWhileRunningRequestsAStopThenFailsAsTimeoutDeadline) {
  const Job queued = Enqueue({.deadline_in = seconds(30)});
  const Job j = FetchOne();
  const Timestamp deadline = *Get(queued.id).deadline_at;
  for (int s = 3; s < 30; s += 3) {
    clock().Advance(seconds(3));
    Beat(j);
    Reap();
  }
  EXPECT_FALSE(Get(queued.id).cancel_requested);
  clock().Set(deadline);
  Beat(j);
  EXPECT_EQ(Reap().cancel_requested, 1);
  Job got = Get(queued.id);
  EXPECT_EQ(got.cancel_reason, CancelReason::kDeadline);
  EXPECT_EQ(got.takeback_at, deadline + kGrace + kTtlThird);
  clock().Set(deadline + kGrace + kTtlThird);
  Beat(j);
  EXPECT_EQ(Reap().taken_back, 1);
  got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kFailed);  // no new attempt after the deadline
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kTimeout);
  EXPECT_EQ(got.errors[0].limit, "deadline");
}

// --- waiting jobs past their deadline ---

TEST_F(TransitionsTest, DeadlinePassedWhileWaitingFailsAsTimeoutDeadline) {
  const Job avail = Enqueue({.queue = "paused", .deadline_in = seconds(10)});
  const Job sched = Enqueue({.deadline_in = minutes(2), .delay = minutes(1)});
  ASSERT_OK(engine().PauseQueue("paused"));
  clock().Advance(seconds(9));
  EXPECT_EQ(Reap().deadline_failed, 0);
  clock().Advance(seconds(1));
  EXPECT_EQ(Reap().deadline_failed, 1);
  clock().Advance(minutes(2));
  ReapStats st = Reap();
  EXPECT_EQ(st.deadline_failed, 1);
  EXPECT_EQ(st.promoted, 0);
  for (JobId id : {avail.id, sched.id}) {
    const Job got = Get(id);
    EXPECT_EQ(got.state, JobState::kFailed);
    EXPECT_EQ(got.attempt, 0);
    ASSERT_EQ(got.errors.size(), 1u);
    EXPECT_EQ(got.errors[0].error_class, ErrorClass::kTimeout);
    EXPECT_EQ(got.errors[0].limit, "deadline");
  }
}

// --- retry ---

TEST_F(TransitionsTest, RetryOfAFailedJobRaisesMaxAttempts) {
  const Job queued = Enqueue({.max_attempts = 1});
  const Job j = FetchOne();
  ASSERT_OK(Fail(j, ErrorClass::kTransient, "nope"));
  ASSERT_EQ(Get(queued.id).state, JobState::kFailed);
  clock().Advance(minutes(1));
  auto r = engine().Retry(queued.id);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state, JobState::kAvailable);
  EXPECT_EQ(r->attempt, 1);
  EXPECT_EQ(r->max_attempts, 2);
  EXPECT_EQ(r->run_at, Now());
  EXPECT_FALSE(r->finished_at.has_value());
  const Job again = FetchOne();
  EXPECT_EQ(again.attempt, 2);
  EXPECT_GT(again.lease_token, j.lease_token);
}

TEST_F(TransitionsTest, RetryOfACancelledJob) {
  const Job queued = Enqueue();
  ASSERT_TRUE(engine().Cancel(queued.id).ok());
  auto r = engine().Retry(queued.id);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, JobState::kAvailable);
  EXPECT_EQ(r->max_attempts, 5);
  EXPECT_EQ(FetchOne().id, queued.id);
}

TEST_F(TransitionsTest, RetryOfSucceededOrUnfinishedJobsIsAConflict) {
  const Job a = Enqueue();
  const Job j = FetchOne();
  ASSERT_OK(Complete(j));
  const Job waiting = Enqueue();
  const Job running_q = Enqueue({.queue = "r"});
  const Job running = FetchOne({"r"});
  for (JobId id : {a.id, waiting.id, running.id}) {
    auto r = engine().Retry(id);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  }
  EXPECT_EQ(Get(a.id).state, JobState::kSucceeded);
  EXPECT_EQ(Get(waiting.id).state, JobState::kAvailable);
  EXPECT_EQ(Get(running_q.id).state, JobState::kRunning);
}

// --- delete ---

TEST_F(TransitionsTest, DeleteRemovesAnyJobButARunningOne) {
  const Job avail = Enqueue();
  const Job sched = Enqueue({.delay = minutes(1)});
  const Job done_q = Enqueue({.queue = "d"});
  ASSERT_OK(Complete(FetchOne({"d"})));
  const Job run_q = Enqueue({.queue = "r"});
  const Job running = FetchOne({"r"});
  for (JobId id : {avail.id, sched.id, done_q.id}) {
    EXPECT_OK(engine().Delete(id));
    EXPECT_EQ(engine().Get(id).status().code(), StatusCode::kNotFound);
  }
  const Status s = engine().Delete(running.id);
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(Get(run_q.id).state, JobState::kRunning);
  EXPECT_EQ(engine().Delete(avail.id).code(), StatusCode::kNotFound);
}

// --- reset-stuck ---

TEST_F(TransitionsTest, ResetStuckTakesBackOldHeartbeatsAsLeaseExpiryAndSaysSo) {
  EngineOptions o;
  o.max_lease_ttl = hours(1);
  EngineBundle b(o);
  std::vector<JobId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(b.engine->Enqueue(MakeJob()).value().job.id);
  auto leased = b.engine->Fetch({.max = 3, .lease_ttl = hours(1), .worker_id = "w"});
  ASSERT_TRUE(leased.ok() && leased->size() == 3);
  b.clock.Advance(minutes(10));
  // The second job heartbeats: it is alive.
  ASSERT_TRUE(b.engine->Heartbeat({"", {{(*leased)[1].id, (*leased)[1].lease_token, {}, {}}}}).ok());
  b.clock.Advance(minutes(1));
  auto r = b.engine->ResetStuck(minutes(5));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->reset_count, 2);
  EXPECT_EQ(r->job_ids, (std::vector<JobId>{(*leased)[0].id, (*leased)[2].id}));
  for (JobId id : r->job_ids) {
    auto j = b.engine->Get(id);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(j->state, JobState::kAvailable);
    EXPECT_EQ(j->attempt, 1);
    ASSERT_EQ(j->errors.size(), 1u);
    EXPECT_EQ(j->errors[0].error_class, ErrorClass::kLeaseExpired);
    EXPECT_NE(j->errors[0].message.find("admin"), std::string::npos) << j->errors[0].message;
    EXPECT_NE(j->errors[0].message.find("reset"), std::string::npos) << j->errors[0].message;
  }
  EXPECT_EQ(b.engine->Get((*leased)[1].id)->state, JobState::kRunning);
  EXPECT_EQ(b.engine->ResetStuck(minutes(-1)).status().code(), StatusCode::kInvalidArgument);
}

// --- fencing (G5) ---

TEST_F(TransitionsTest, StaleTokenIsRefusedOnHeartbeatCompleteAndFailAndChangesNothing) {
  const Job queued = Enqueue();
  const Job zombie = FetchOne({"default"}, "zombie");
  clock().Advance(kLeaseTtl);
  Reap();
  const Job current = FetchOne({"default"}, "w2");
  ASSERT_GT(current.lease_token, zombie.lease_token);
  clock().Advance(seconds(1));
  const Job before = Get(queued.id);

  const HeartbeatResult hb = Beat(zombie, Progress{99, 100, "zombie", std::nullopt}, R"({"z":1})");
  EXPECT_EQ(hb.answer, HeartbeatAnswer::kLost);
  const Status complete = Complete(zombie, R"({"from":"zombie"})");
  EXPECT_EQ(complete.code(), StatusCode::kLeaseLost) << complete.ToString();
  for (ErrorClass c : {ErrorClass::kTransient, ErrorClass::kPermanent, ErrorClass::kInterrupted,
                       ErrorClass::kRateLimited, ErrorClass::kCancelled}) {
    const Status fail = Fail(zombie, c, "zombie");
    EXPECT_EQ(fail.code(), StatusCode::kLeaseLost) << ToString(c) << ": " << fail.ToString();
  }
  const Job after = Get(queued.id);
  EXPECT_EQ(after.state, JobState::kRunning);
  EXPECT_EQ(after.lease_token, current.lease_token);
  EXPECT_EQ(after.lease_expires_at, before.lease_expires_at);
  EXPECT_EQ(after.heartbeat_at, before.heartbeat_at);
  EXPECT_EQ(after.progress.done, 0);
  EXPECT_FALSE(after.checkpoint.has_value());
  EXPECT_FALSE(after.result.has_value());
  EXPECT_EQ(after.errors.size(), before.errors.size());
  EXPECT_EQ(after.worker_id, "w2");
  ASSERT_OK(Complete(current));  // the current holder still can
}

TEST_F(TransitionsTest, StaleTokenAfterCompletionIsLeaseLost) {
  const Job queued = Enqueue();
  const Job j = FetchOne();
  Job wrong = j;
  wrong.lease_token = j.lease_token + 1;
  EXPECT_EQ(Complete(wrong).code(), StatusCode::kLeaseLost);
  EXPECT_EQ(Beat(wrong).answer, HeartbeatAnswer::kLost);
  EXPECT_EQ(Get(queued.id).state, JobState::kRunning);
  ASSERT_OK(Complete(j));
  wrong.lease_token = j.lease_token - 1;
  EXPECT_EQ(Complete(wrong).code(), StatusCode::kLeaseLost);
}

// --- checkpoints ---

TEST_F(TransitionsTest, CheckpointOver256KiBIsRefusedEverywhere) {
  const Job queued = Enqueue();
  const Job j = FetchOne();
  const std::string big = "\"" + std::string(256 * 1024, 'x') + "\"";       // 256 KiB + 2 quotes
  const std::string fits = "\"" + std::string(256 * 1024 - 2, 'x') + "\"";  // exactly 256 KiB
  HeartbeatRequest hb;
  hb.jobs.push_back({j.id, j.lease_token, std::nullopt, big});
  auto h = engine().Heartbeat(hb);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kCheckpointTooLarge);
  EXPECT_EQ(engine().Complete({j.id, j.lease_token, std::nullopt, big, std::nullopt}).code(),
            StatusCode::kCheckpointTooLarge);
  EXPECT_EQ(Fail(j, ErrorClass::kInterrupted, "drain", std::nullopt, big).code(), StatusCode::kCheckpointTooLarge);
  Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_FALSE(got.checkpoint.has_value());
  hb.jobs[0].checkpoint = fits;
  ASSERT_TRUE(engine().Heartbeat(hb).ok());
  EXPECT_EQ(Get(queued.id).checkpoint->size(), 256u * 1024u);
}

TEST_F(TransitionsTest, CheckpointMustBeJson) {
  Enqueue();
  const Job j = FetchOne();
  HeartbeatRequest hb;
  hb.jobs.push_back({j.id, j.lease_token, std::nullopt, "{not json"});
  auto h = engine().Heartbeat(hb);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
}

// --- the error history ---

TEST_F(TransitionsTest, ErrorHistoryHasOneEntryPerUnsuccessfulRun) {
  const Job queued = Enqueue({.timeout = seconds(30), .max_attempts = 3});
  // Run 1: rate limited (not counted).
  Job j = FetchOne();
  ASSERT_OK(Fail(j, ErrorClass::kRateLimited, "429", seconds(1)));
  // Run 2: transient.
  clock().Advance(seconds(1));
  j = FetchOne();
  ASSERT_OK(Fail(j, ErrorClass::kTransient, "connection reset"));
  // Run 3: the lease expires.
  clock().Advance(minutes(1));
  j = FetchOne();
  clock().Advance(kLeaseTtl);
  Reap();
  // Run 4: attempt timeout, taken back by the server.
  j = FetchOne();
  for (int s = 0; s < 40; ++s) {
    clock().Advance(seconds(1));
    Beat(j);
    Reap();
  }
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kFailed);  // three counted attempts used
  ASSERT_EQ(got.errors.size(), 4u);
  struct Want {
    ErrorClass cls;
    int attempt;
    bool counted;
    std::optional<std::string> limit;
  };
  const Want want[] = {{ErrorClass::kRateLimited, 1, false, std::nullopt},
                       {ErrorClass::kTransient, 1, true, std::nullopt},
                       {ErrorClass::kLeaseExpired, 2, true, std::nullopt},
                       {ErrorClass::kTimeout, 3, true, "timeout"}};
  for (std::size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(got.errors[i].error_class, want[i].cls);
    EXPECT_EQ(got.errors[i].attempt, want[i].attempt);
    EXPECT_EQ(got.errors[i].counted, want[i].counted);
    EXPECT_EQ(got.errors[i].limit, want[i].limit);
    EXPECT_FALSE(got.errors[i].message.empty());
  }
  EXPECT_EQ(got.errors[0].message, "429");
  EXPECT_EQ(got.errors[1].message, "connection reset");
  EXPECT_LT(got.errors[0].at, got.errors[1].at);
}

}  // namespace
}  // namespace jobwarden::testing
