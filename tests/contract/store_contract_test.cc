// The Store contract (store/store.h), run against every driver: SQLite now,
// PostgreSQL when its driver lands (add a StoreFactory below). STYLE.md §8:
// a new Store method lands with tests here; driver-local tests cover dialect
// quirks only.
#include "store/store.h"
#include "store/store_wrapper.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "store/sqlite/sqlite_store.h"
#include "testutil/temp_dir.h"
#include "testutil/test_store.h"

// Designated initializers that leave members to their defaults are the
// point of the parameter structs; GCC 12's -Wextra flags each one.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace jobwarden {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

using testing::StoreFactory;

const Timestamp kT0 = FromMillis(1'767'225'600'000);
constexpr Duration kTtl = seconds(10);

class StoreContractTest : public testing::StoreContractBase {
 protected:
  static NewJob Job(std::string queue = "default", int priority = 0, Timestamp run_at = kT0) {
    NewJob j;
    j.kind = "k";
    j.queue = std::move(queue);
    j.priority = priority;
    j.run_at = run_at;
    j.state = run_at > kT0 ? JobState::kScheduled : JobState::kAvailable;
    j.timeout = minutes(30);
    return j;
  }

  JobId Insert(NewJob j, Timestamp now = kT0) {
    auto r = store_->JobInsertMany({{std::move(j)}, now});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->front().id : 0;
  }

  std::vector<jobwarden::Job> Fetch(std::vector<std::string> queues, int max, Timestamp now = kT0,
                                    std::string worker = "w1") {
    auto r = store_->JobFetch({std::move(queues), max, now, kTtl, seconds(5), std::move(worker)});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<jobwarden::Job>{};
  }

  jobwarden::Job Get(JobId id) {
    auto r = store_->JobGet(id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : jobwarden::Job{};
  }

  std::vector<Status> Apply(std::vector<JobChange> changes, Timestamp now) {
    auto r = store_->JobApplyMany({std::move(changes), now});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<Status>{};
  }

  static JobChange TakeBack(const jobwarden::Job& j, Timestamp now) {
    Failure f;
    f.error_class = ErrorClass::kLeaseExpired;
    f.message = "lease expired";
    std::mt19937_64 rng(1);
    auto c = PlanFailure(j, f, now, BackoffPolicy{}, rng);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : JobChange{};
  }
};

// --- insert ---

TEST_P(StoreContractTest, InsertAnswersInInputOrderAndGetReadsEveryField) {
  NewJob a = Job("q1", 3);
  a.args = R"({"x":1})";
  a.max_attempts = 9;
  a.stall_timeout = seconds(20);
  a.deadline_at = kT0 + hours(1);
  a.unique_key = "u1";
  a.resource_key = "host:x";
  a.batch_id = "b1";
  a.tags = {"t1", "t\"2"};
  NewJob b = Job("q2", 0, kT0 + minutes(1));
  auto r = store_->JobInsertMany({{a, b}, kT0});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_LT((*r)[0].id, (*r)[1].id);
  EXPECT_FALSE((*r)[0].deduplicated);
  const jobwarden::Job got = Get((*r)[0].id);
  EXPECT_EQ(got.kind, "k");
  EXPECT_EQ(got.queue, "q1");
  EXPECT_EQ(got.priority, 3);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.args, R"({"x":1})");
  EXPECT_EQ(got.attempt, 0);
  EXPECT_EQ(got.max_attempts, 9);
  EXPECT_EQ(got.timeout, minutes(30));
  EXPECT_EQ(got.stall_timeout, seconds(20));
  EXPECT_EQ(got.deadline_at, kT0 + hours(1));
  EXPECT_EQ(got.run_at, kT0);
  EXPECT_EQ(got.created_at, kT0);
  EXPECT_EQ(got.unique_key, "u1");
  EXPECT_EQ(got.resource_key, "host:x");
  EXPECT_EQ(got.batch_id, "b1");
  EXPECT_EQ(got.tags, (std::vector<std::string>{"t1", "t\"2"}));
  EXPECT_FALSE(got.lease_expires_at.has_value());
  EXPECT_TRUE(got.errors.empty());
  EXPECT_EQ(Get((*r)[1].id).state, JobState::kScheduled);
  EXPECT_EQ(store_->JobGet(999'999).status().code(), StatusCode::kNotFound);
}

TEST_P(StoreContractTest, UniqueKeyDeduplicatesAmongNonTerminalJobsIncludingEarlierInTheSameCall) {
  NewJob a = Job();
  a.unique_key = "k";
  auto r = store_->JobInsertMany({{a, a}, kT0});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)[0].deduplicated);
  EXPECT_TRUE((*r)[1].deduplicated);
  EXPECT_EQ((*r)[1].id, (*r)[0].id);
  auto again = store_->JobInsertMany({{a}, kT0});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->front().deduplicated);
  // Terminal: the key is free again.
  auto leased = Fetch({"default"}, 1);
  ASSERT_EQ(leased.size(), 1u);
  auto done = store_->JobCompleteMany({{{leased[0].id, leased[0].lease_token, "null", {}, {}}}, kT0});
  ASSERT_TRUE(done.ok() && done->front().ok());
  auto fresh = store_->JobInsertMany({{a}, kT0});
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->front().deduplicated);
  EXPECT_NE(fresh->front().id, (*r)[0].id);
}

TEST_P(StoreContractTest, InsertIsAllOrNothing) {
  NewJob bad = Job();
  bad.max_attempts = 0;  // violates the schema
  auto r = store_->JobInsertMany({{Job(), Job(), bad, Job()}, kT0});
  ASSERT_FALSE(r.ok());
  auto all = store_->JobList({.limit = 100});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST_P(StoreContractTest, InsertTakesAtMostMaxBulkJobs) {
  std::vector<NewJob> jobs(kMaxBulkJobs + 1, Job());
  auto r = store_->JobInsertMany({jobs, kT0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// --- fetch ---

TEST_P(StoreContractTest, FetchLeasesInPriorityRunAtIdOrderAcrossQueues) {
  const JobId a = Insert(Job("q1", 0, kT0));
  const JobId b = Insert(Job("q2", 5, kT0));
  const JobId c = Insert(Job("q1", 0, kT0 - seconds(5)));
  const JobId d = Insert(Job("q2", 0, kT0));
  const JobId e = Insert(Job("q3", 9, kT0));  // not asked for
  auto got = Fetch({"q1", "q2"}, 10);
  std::vector<JobId> ids;
  for (const auto& j : got) ids.push_back(j.id);
  EXPECT_EQ(ids, (std::vector<JobId>{b, c, a, d}));
  EXPECT_EQ(Get(e).state, JobState::kAvailable);
}

TEST_P(StoreContractTest, FetchedJobIsRunningWithANewLease) {
  const JobId id = Insert(Job());
  const Timestamp now = kT0 + seconds(1);
  auto got = store_->JobFetch({{"default"}, 1, now, kTtl, seconds(4), "w9"});
  ASSERT_TRUE(got.ok() && got->size() == 1);
  const jobwarden::Job& j = got->front();
  EXPECT_EQ(j.id, id);
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.attempt, 1);
  EXPECT_GT(j.lease_token, 0);
  EXPECT_EQ(j.lease_expires_at, now + kTtl);
  EXPECT_EQ(j.lease_ttl, kTtl);
  EXPECT_EQ(j.grace, seconds(4));
  EXPECT_EQ(j.started_at, now);
  EXPECT_EQ(j.heartbeat_at, now);
  EXPECT_EQ(j.stall_since, now);
  EXPECT_EQ(j.worker_id, "w9");
  EXPECT_FALSE(j.cancel_requested);
  const jobwarden::Job stored = Get(id);
  EXPECT_EQ(stored.state, JobState::kRunning);
  EXPECT_EQ(stored.lease_token, j.lease_token);
}

TEST_P(StoreContractTest, EveryLeaseOfAJobHasAGreaterToken) {
  const JobId id = Insert(Job());
  std::int64_t last = 0;
  Timestamp now = kT0;
  for (int i = 0; i < 3; ++i) {
    auto got = Fetch({"default"}, 1, now);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_GT(got[0].lease_token, last);
    EXPECT_EQ(got[0].attempt, i + 1);
    last = got[0].lease_token;
    now += kTtl;
    ASSERT_TRUE(Apply({TakeBack(got[0], now)}, now).front().ok());
  }
  EXPECT_EQ(Get(id).attempt, 3);
}

TEST_P(StoreContractTest, FetchTakesDueScheduledJobsAndSkipsPausedQueuesAndPassedDeadlines) {
  const JobId later = Insert(Job("default", 0, kT0 + seconds(30)));
  NewJob late = Job();
  late.deadline_at = kT0 + seconds(5);
  const JobId expired = Insert(late);
  const JobId paused = Insert(Job("p"));
  ASSERT_TRUE(store_->QueueSetPaused("p", true, kT0).ok());
  EXPECT_TRUE(Fetch({"default", "p"}, 10, kT0 + seconds(10)).empty());
  auto got = Fetch({"default", "p"}, 10, kT0 + seconds(30));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, later);
  EXPECT_EQ(Get(expired).state, JobState::kAvailable);
  ASSERT_TRUE(store_->QueueSetPaused("p", false, kT0).ok());
  got = Fetch({"p"}, 10, kT0 + seconds(30));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, paused);
}

TEST_P(StoreContractTest, FetchTakesAtMostMax) {
  for (int i = 0; i < 5; ++i) Insert(Job());
  EXPECT_EQ(Fetch({"default"}, 2).size(), 2u);
  EXPECT_EQ(Fetch({"default"}, 10).size(), 3u);
  EXPECT_TRUE(Fetch({"default"}, 10).empty());
}

// Issue 11: "a fetch of a worker known dead leases nothing". The check is in
// the fetch's own write, so no lease can reach a worker after its stop.
TEST_P(StoreContractTest, FetchLeasesNothingToAStoppedWorker) {
  WorkerRecord w;
  w.id = "dead";
  w.host = "h";
  w.pid = 1;
  w.slots = 1;
  w.started_at = kT0;
  w.last_seen_at = kT0;
  ASSERT_TRUE(store_->WorkerUpsert(w).ok());
  const JobId id = Insert(Job());
  ASSERT_TRUE(store_->WorkerSetStopped("dead", kT0).ok());
  EXPECT_TRUE(Fetch({"default"}, 1, kT0, "dead").empty());
  auto both = store_->JobCompleteManyAndFetch({{}, kT0}, {{"default"}, 1, kT0, kTtl, seconds(5), "dead"});
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_TRUE(both->fetched.empty());
  EXPECT_EQ(Get(id).state, JobState::kAvailable);
  // Live, and unregistered, workers are leased as before.
  auto live = Fetch({"default"}, 1, kT0, "somebody");
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].id, id);
}

// --- heartbeats ---

TEST_P(StoreContractTest, LeaseExtendManyRenewsRecordsProgressAndAnswersPerItem) {
  Insert(Job());
  Insert(Job());
  const JobId waiting = Insert(Job("other"));
  auto jobs = Fetch({"default"}, 2);
  ASSERT_EQ(jobs.size(), 2u);
  const Timestamp now = kT0 + seconds(3);
  LeaseExtendParams p;
  p.now = now;
  p.items.push_back({jobs[0].id, jobs[0].lease_token, Progress{5, 10, "half", std::nullopt}, R"({"c":1})"});
  p.items.push_back({jobs[1].id, jobs[1].lease_token + 1, Progress{9, 9, "zombie", std::nullopt}, R"({"z":1})"});
  p.items.push_back({waiting, 0, std::nullopt, std::nullopt});
  p.items.push_back({424242, 1, std::nullopt, std::nullopt});
  auto r = store_->LeaseExtendMany(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].id, jobs[0].id);
  EXPECT_EQ((*r)[0].answer, HeartbeatAnswer::kContinue);
  EXPECT_EQ((*r)[0].lease_expires_at, now + kTtl);
  EXPECT_EQ((*r)[1].answer, HeartbeatAnswer::kLost);  // stale token
  EXPECT_FALSE((*r)[1].lease_expires_at.has_value());
  EXPECT_EQ((*r)[2].answer, HeartbeatAnswer::kLost);  // not running
  EXPECT_EQ((*r)[3].answer, HeartbeatAnswer::kLost);  // no such job

  const jobwarden::Job a = Get(jobs[0].id);
  EXPECT_EQ(a.lease_expires_at, now + kTtl);
  EXPECT_EQ(a.heartbeat_at, now);
  EXPECT_EQ(a.progress.done, 5);
  EXPECT_EQ(a.progress.total, 10);
  EXPECT_EQ(a.progress.message, "half");
  EXPECT_EQ(a.progress.updated_at, now);
  EXPECT_EQ(a.checkpoint, R"({"c":1})");
  EXPECT_EQ(a.stall_since, now);
  const jobwarden::Job b = Get(jobs[1].id);  // the stale item changed nothing
  EXPECT_EQ(b.lease_expires_at, kT0 + kTtl);
  EXPECT_EQ(b.heartbeat_at, kT0);
  EXPECT_EQ(b.progress.done, 0);
  EXPECT_FALSE(b.checkpoint.has_value());
}

TEST_P(StoreContractTest, StallClockRestartsOnlyOnProgress) {
  Insert(Job());
  auto j = Fetch({"default"}, 1).front();
  auto beat = [&](Timestamp now, std::optional<Progress> p, std::optional<std::string> cp) {
    auto r = store_->LeaseExtendMany({{{j.id, j.lease_token, std::move(p), std::move(cp)}}, now});
    ASSERT_TRUE(r.ok() && r->front().answer == HeartbeatAnswer::kContinue);
  };
  beat(kT0 + seconds(1), Progress{1, std::nullopt, "a", std::nullopt}, std::nullopt);
  EXPECT_EQ(Get(j.id).stall_since, kT0 + seconds(1));
  beat(kT0 + seconds(2), std::nullopt, std::nullopt);                                  // bare heartbeat
  beat(kT0 + seconds(3), Progress{1, std::nullopt, "a", std::nullopt}, std::nullopt);  // same progress
  EXPECT_EQ(Get(j.id).stall_since, kT0 + seconds(1));
  beat(kT0 + seconds(4), std::nullopt, R"({"c":2})");  // new checkpoint
  EXPECT_EQ(Get(j.id).stall_since, kT0 + seconds(4));
  beat(kT0 + seconds(5), Progress{1, std::nullopt, "b", std::nullopt}, std::nullopt);  // new message
  EXPECT_EQ(Get(j.id).stall_since, kT0 + seconds(5));
}

TEST_P(StoreContractTest, HeartbeatAnswersCancelAfterAStopRequest) {
  Insert(Job());
  auto j = Fetch({"default"}, 1).front();
  auto stop = PlanLimitReached(j, {CancelReason::kStalled, kT0 + seconds(1)}, kT0 + seconds(1));
  ASSERT_TRUE(stop.ok());
  ASSERT_TRUE(Apply({*stop}, kT0 + seconds(1)).front().ok());
  const jobwarden::Job stored = Get(j.id);
  EXPECT_TRUE(stored.cancel_requested);
  EXPECT_EQ(stored.cancel_reason, CancelReason::kStalled);
  EXPECT_EQ(stored.takeback_at, stop->takeback_at);
  auto r = store_->LeaseExtendMany({{{j.id, j.lease_token, {}, {}}}, kT0 + seconds(2)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->front().answer, HeartbeatAnswer::kCancel);
  EXPECT_EQ(r->front().cancel_reason, CancelReason::kStalled);
  EXPECT_EQ(r->front().lease_expires_at, kT0 + seconds(2) + kTtl);  // still renewed
}

// --- complete ---

TEST_P(StoreContractTest, JobCompleteManyIsIdempotentForTheSameTokenAndFencedOtherwise) {
  Insert(Job());
  Insert(Job());
  auto jobs = Fetch({"default"}, 2);
  ASSERT_EQ(jobs.size(), 2u);
  const Timestamp t1 = kT0 + seconds(1);
  JobCompleteParams p;
  p.now = t1;
  p.items.push_back({jobs[0].id, jobs[0].lease_token, R"({"ok":1})", R"({"c":9})", Progress{7, 7, "done", {}}});
  p.items.push_back({jobs[1].id, jobs[1].lease_token - 1, R"({"zombie":1})", {}, {}});
  p.items.push_back({777'777, 1, {}, {}, {}});
  auto r = store_->JobCompleteMany(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_TRUE((*r)[0].ok());
  EXPECT_EQ((*r)[1].code(), StatusCode::kLeaseLost);
  EXPECT_EQ((*r)[2].code(), StatusCode::kNotFound);
  const jobwarden::Job done = Get(jobs[0].id);
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.finished_at, t1);
  EXPECT_EQ(done.result, R"({"ok":1})");
  EXPECT_EQ(done.checkpoint, R"({"c":9})");
  EXPECT_EQ(done.progress.done, 7);
  EXPECT_FALSE(done.lease_expires_at.has_value());
  EXPECT_EQ(Get(jobs[1].id).state, JobState::kRunning);

  // The same complete again: OK, nothing changes.
  auto again = store_->JobCompleteMany({{{jobs[0].id, jobs[0].lease_token, R"({"ok":2})", {}, {}}}, t1 + seconds(5)});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->front().ok());
  const jobwarden::Job same = Get(jobs[0].id);
  EXPECT_EQ(same.result, R"({"ok":1})");
  EXPECT_EQ(same.finished_at, t1);
}

// A worker settles its batch and leases the next in one call: each complete
// answered as JobCompleteMany answers it (a stale token refused, nothing
// changed), and the fetch leases as JobFetch does.
TEST_P(StoreContractTest, JobCompleteManyAndFetchSettlesThenLeasesAndFencesStaleTokens) {
  for (int i = 0; i < 5; ++i) Insert(Job());
  auto first = Fetch({"default"}, 2);
  ASSERT_EQ(first.size(), 2u);
  const Timestamp t1 = kT0 + seconds(1);
  JobCompleteParams complete;
  complete.now = t1;
  complete.items.push_back({first[0].id, first[0].lease_token, R"({"ok":1})", R"({"at":3})", {}});
  complete.items.push_back({first[1].id, first[1].lease_token + 1, R"({"zombie":1})", {}, {}});
  auto r = store_->JobCompleteManyAndFetch(complete, {{"default"}, 2, t1, kTtl, seconds(5), "w1"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->completed.size(), 2u);
  EXPECT_TRUE(r->completed[0].ok());
  EXPECT_EQ(r->completed[1].code(), StatusCode::kLeaseLost);
  ASSERT_EQ(r->fetched.size(), 2u);
  for (const jobwarden::Job& j : r->fetched) {
    EXPECT_NE(j.id, first[0].id);
    EXPECT_NE(j.id, first[1].id);
    EXPECT_EQ(j.state, JobState::kRunning);
    EXPECT_EQ(j.lease_expires_at, t1 + kTtl);
    EXPECT_EQ(Get(j.id).state, JobState::kRunning);
  }
  const jobwarden::Job done = Get(first[0].id);
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.result, R"({"ok":1})");
  EXPECT_EQ(done.checkpoint, R"({"at":3})");
  const jobwarden::Job fenced = Get(first[1].id);
  EXPECT_EQ(fenced.state, JobState::kRunning);  // G5: the stale token changed nothing
  EXPECT_EQ(fenced.lease_token, first[1].lease_token);
  EXPECT_FALSE(fenced.result.has_value());

  // Nothing left to lease but one: the completes still happen.
  auto last = store_->JobCompleteManyAndFetch({{{r->fetched[0].id, r->fetched[0].lease_token, {}, {}, {}}}, t1},
                                              {{"default"}, 4, t1, kTtl, seconds(5), "w1"});
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_TRUE(last->completed.front().ok());
  EXPECT_EQ(last->fetched.size(), 1u);
  EXPECT_EQ(Get(r->fetched[0].id).state, JobState::kSucceeded);
}

TEST_P(StoreContractTest, CompleteAfterTakeBackIsLeaseLost) {
  Insert(Job());
  auto j = Fetch({"default"}, 1).front();
  ASSERT_TRUE(Apply({TakeBack(j, kT0 + kTtl)}, kT0 + kTtl).front().ok());
  auto r = store_->JobCompleteMany({{{j.id, j.lease_token, {}, {}, {}}}, kT0 + kTtl});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->front().code(), StatusCode::kLeaseLost);
  EXPECT_EQ(Get(j.id).state, JobState::kAvailable);
}

TEST_P(StoreContractTest, JobErrorsSinceReadsTheUnsuccessfulRunsNewestFirst) {
  NewJob a = Job();
  a.kind = "resize";
  Insert(a);
  auto j = Fetch({"default"}, 1).front();
  ASSERT_TRUE(Apply({TakeBack(j, kT0 + kTtl)}, kT0 + kTtl).front().ok());
  j = Fetch({"default"}, 1, kT0 + 2 * kTtl).front();
  ASSERT_TRUE(Apply({TakeBack(j, kT0 + 3 * kTtl)}, kT0 + 3 * kTtl).front().ok());

  auto all = store_->JobErrorsSince(kT0, 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].at, kT0 + 3 * kTtl);
  EXPECT_EQ((*all)[1].at, kT0 + kTtl);
  EXPECT_EQ((*all)[0].job_id, j.id);
  EXPECT_EQ((*all)[0].kind, "resize");
  EXPECT_EQ((*all)[0].error_class, ErrorClass::kLeaseExpired);
  EXPECT_EQ((*all)[0].message.rfind("lease expired", 0), 0u) << (*all)[0].message;
  auto later = store_->JobErrorsSince(kT0 + 2 * kTtl, 100);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->size(), 1u);
  auto one = store_->JobErrorsSince(kT0, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

// --- guarded changes ---

TEST_P(StoreContractTest, JobApplyManyAppliesUnderItsGuardAndAppendsTheErrorEntry) {
  Insert(Job());
  auto j = Fetch({"default"}, 1).front();
  const Timestamp now = kT0 + kTtl;
  ASSERT_TRUE(Apply({TakeBack(j, now)}, now).front().ok());
  const jobwarden::Job got = Get(j.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.run_at, now);
  EXPECT_FALSE(got.lease_expires_at.has_value());
  EXPECT_EQ(got.lease_token, j.lease_token);  // kept as a record of the last lease
  EXPECT_EQ(got.worker_id, "w1");
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kLeaseExpired);
  EXPECT_EQ(got.errors[0].attempt, 1);
  EXPECT_EQ(got.errors[0].message, "lease expired");
  EXPECT_EQ(got.errors[0].at, now);
  EXPECT_TRUE(got.errors[0].counted);
}

TEST_P(StoreContractTest, JobApplyManyWithAStaleGuardChangesNothing) {
  Insert(Job());
  const JobId waiting = Insert(Job("w"));
  auto first = Fetch({"default"}, 1).front();
  // Taken back and leased again: a change planned from the first lease is stale.
  ASSERT_TRUE(Apply({TakeBack(first, kT0 + kTtl)}, kT0 + kTtl).front().ok());
  auto second = Fetch({"default"}, 1, kT0 + kTtl).front();
  ASSERT_GT(second.lease_token, first.lease_token);
  const jobwarden::Job before = Get(first.id);

  JobChange stale = TakeBack(first, kT0 + kTtl + seconds(1));
  // A change planned for an available job that was fetched meanwhile.
  jobwarden::Job snapshot = Get(waiting);
  auto cancel = PlanCancel(snapshot, kT0);
  ASSERT_TRUE(cancel.ok());
  ASSERT_EQ(Fetch({"w"}, 1).size(), 1u);
  auto r = Apply({stale, *cancel}, kT0 + kTtl + seconds(1));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].code(), StatusCode::kLeaseLost) << r[0].ToString();
  EXPECT_EQ(r[1].code(), StatusCode::kConflict) << r[1].ToString();

  const jobwarden::Job after = Get(first.id);
  EXPECT_EQ(after.state, JobState::kRunning);
  EXPECT_EQ(after.lease_token, second.lease_token);
  EXPECT_EQ(after.lease_expires_at, before.lease_expires_at);
  EXPECT_EQ(after.errors.size(), before.errors.size());  // no entry for the refused change
  EXPECT_EQ(Get(waiting).state, JobState::kRunning);
  EXPECT_TRUE(Get(waiting).errors.empty());
}

TEST_P(StoreContractTest, JobApplyManyAnswersEachChangeOnItsOwn) {
  Insert(Job());
  Insert(Job());
  auto jobs = Fetch({"default"}, 2);
  const Timestamp now = kT0 + kTtl;
  JobChange good = TakeBack(jobs[0], now);
  JobChange bad = TakeBack(jobs[1], now);
  bad.token += 5;
  auto r = Apply({bad, good}, now);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].code(), StatusCode::kLeaseLost);
  EXPECT_TRUE(r[1].ok());
  EXPECT_EQ(Get(jobs[0].id).state, JobState::kAvailable);
  EXPECT_EQ(Get(jobs[1].id).state, JobState::kRunning);
  auto missing = Apply({TakeBack(jobs[0], now)}, now);  // planned from running, now available
  EXPECT_EQ(missing.front().code(), StatusCode::kLeaseLost);
}

TEST_P(StoreContractTest, LeaseExpiryTakeBackLosesToARenewalThatCameFirst) {
  Insert(Job());
  Insert(Job());
  auto jobs = Fetch({"default"}, 2);
  ASSERT_EQ(jobs.size(), 2u);
  const Timestamp now = kT0 + kTtl;
  // The reaper read both leases as expired and planned their take-back...
  JobChange renewed = TakeBack(jobs[0], now);
  renewed.lease_expired_by = now;
  JobChange silent = TakeBack(jobs[1], now);
  silent.lease_expired_by = now;
  // ...then a heartbeat renewed the first one before the reaper's write.
  auto hb = store_->LeaseExtendMany({{{jobs[0].id, jobs[0].lease_token, {}, {}}}, now + milliseconds(1)});
  ASSERT_TRUE(hb.ok());
  ASSERT_EQ(hb->front().answer, HeartbeatAnswer::kContinue);
  auto r = Apply({renewed, silent}, now + milliseconds(2));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].code(), StatusCode::kConflict) << r[0].ToString();
  EXPECT_TRUE(r[1].ok()) << r[1].ToString();
  const jobwarden::Job kept = Get(jobs[0].id);
  EXPECT_EQ(kept.state, JobState::kRunning);
  EXPECT_EQ(kept.lease_expires_at, now + milliseconds(1) + kTtl);
  EXPECT_TRUE(kept.errors.empty());
  EXPECT_EQ(Get(jobs[1].id).state, JobState::kAvailable);
}

TEST_P(StoreContractTest, TheSameTakeBackTwiceAppliesOnce) {
  Insert(Job());
  auto j = Fetch({"default"}, 1).front();
  const JobChange c = TakeBack(j, kT0 + kTtl);
  EXPECT_TRUE(Apply({c}, kT0 + kTtl).front().ok());
  EXPECT_FALSE(Apply({c}, kT0 + kTtl).front().ok());  // a second reaper with the same plan
  EXPECT_EQ(Get(j.id).errors.size(), 1u);
}

// --- scheduled promotion ---

TEST_P(StoreContractTest, JobPromoteScheduledPromotesDueJobsUpToTheLimit) {
  const JobId a = Insert(Job("default", 0, kT0 + seconds(5)));
  const JobId b = Insert(Job("default", 0, kT0 + seconds(6)));
  const JobId c = Insert(Job("default", 0, kT0 + seconds(60)));
  NewJob late = Job("default", 0, kT0 + seconds(5));
  late.deadline_at = kT0 + seconds(7);
  const JobId d = Insert(late);
  auto n = store_->JobPromoteScheduled(kT0 + seconds(10), 1);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  n = store_->JobPromoteScheduled(kT0 + seconds(10), 100);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(Get(a).state, JobState::kAvailable);
  EXPECT_EQ(Get(b).state, JobState::kAvailable);
  EXPECT_EQ(Get(c).state, JobState::kScheduled);
  EXPECT_EQ(Get(d).state, JobState::kScheduled);  // past its deadline: left for the reaper to fail
  auto deadline = store_->JobListDeadlinePassed(kT0 + seconds(10), 10);
  ASSERT_TRUE(deadline.ok());
  ASSERT_EQ(deadline->size(), 1u);
  EXPECT_EQ(deadline->front().id, d);
}

// --- delete ---

TEST_P(StoreContractTest, JobDeleteRefusesRunningJobs) {
  const JobId a = Insert(Job());
  const JobId b = Insert(Job());
  Fetch({"default"}, 1);  // leases a
  EXPECT_EQ(store_->JobDelete(a, kT0).code(), StatusCode::kConflict);
  EXPECT_TRUE(store_->JobDelete(b, kT0).ok());
  EXPECT_EQ(store_->JobDelete(b, kT0).code(), StatusCode::kNotFound);
  EXPECT_EQ(Get(a).state, JobState::kRunning);
}

TEST_P(StoreContractTest, JobDeleteManyDeletesAtMostLimitAndNeverRunningJobs) {
  for (int i = 0; i < 5; ++i) Insert(Job());
  const JobId running = Fetch({"default"}, 1).front().id;
  auto n = store_->JobDeleteMany({.states = {JobState::kAvailable, JobState::kRunning}, .limit = 3});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3);
  n = store_->JobDeleteMany({.states = {JobState::kRunning}, .limit = 100});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
  n = store_->JobDeleteMany({.limit = 100});  // empty = every state but running
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  auto all = store_->JobList({.limit = 100});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().id, running);
}

TEST_P(StoreContractTest, JobDeleteManyFiltersByQueueAndAge) {
  Insert(Job("a"), kT0);
  Insert(Job("a"), kT0 + hours(2));
  Insert(Job("b"), kT0);
  auto n = store_->JobDeleteMany({.queue = "a", .before = kT0 + hours(1), .limit = 100});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  auto left = store_->JobList({.limit = 100});
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->size(), 2u);
}

// The retention path (terminal states and an age): by finished_at, not created_at, so a job that
// waited long but finished recently is kept; waiting jobs are never touched; oldest first.
TEST_P(StoreContractTest, JobDeleteManyOfTerminalStatesGoesByFinishTimeOldestFirst) {
  const JobId old_finished = Insert(Job("a"), kT0);
  const JobId late_finished = Insert(Job("a"), kT0);
  const JobId other_queue = Insert(Job("b"), kT0);
  const JobId waiting = Insert(Job("a"), kT0);
  auto leased = Fetch({"a", "b"}, 3);
  ASSERT_EQ(leased.size(), 3u);
  const std::map<JobId, Timestamp> finish = {
      {old_finished, kT0 + hours(1)}, {late_finished, kT0 + hours(5)}, {other_queue, kT0 + minutes(30)}};
  for (const auto& j : leased) {
    auto done = store_->JobCompleteMany({{{j.id, j.lease_token, "null", {}, {}}}, finish.at(j.id)});
    ASSERT_TRUE(done.ok() && done->front().ok());
  }
  ASSERT_EQ(Get(old_finished).finished_at, kT0 + hours(1));
  const std::vector<JobState> terminal = {JobState::kSucceeded, JobState::kFailed, JobState::kCancelled};
  const auto remaining = [&] {
    std::set<JobId> ids;
    auto all = store_->JobList({.limit = 100});
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    if (all.ok()) {
      for (const auto& j : *all) ids.insert(j.id);
    }
    return ids;
  };
  // Every job was created at kT0, but only two finished before kT0 + 2 h; the limit takes the oldest.
  auto n = store_->JobDeleteMany({.states = terminal, .before = kT0 + hours(2), .limit = 1});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(remaining(), (std::set<JobId>{old_finished, late_finished, waiting}));
  n = store_->JobDeleteMany({.states = terminal, .queue = "a", .before = kT0 + hours(2), .limit = 100});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1);
  // late_finished finished after the cut-off; waiting is not terminal.
  EXPECT_EQ(remaining(), (std::set<JobId>{late_finished, waiting}));
}

// --- list ---

TEST_P(StoreContractTest, JobListFiltersAndPages) {
  for (int i = 0; i < 4; ++i) Insert(Job(i < 2 ? "a" : "b"));
  Fetch({"a"}, 1, kT0, "wx");
  auto by_state = store_->JobList({.state = JobState::kRunning, .limit = 10});
  ASSERT_TRUE(by_state.ok());
  ASSERT_EQ(by_state->size(), 1u);
  auto by_worker = store_->JobList({.worker_id = "wx", .limit = 10});
  ASSERT_TRUE(by_worker.ok());
  EXPECT_EQ(by_worker->size(), 1u);
  auto by_queue = store_->JobList({.queue = "b", .limit = 10});
  ASSERT_TRUE(by_queue.ok());
  EXPECT_EQ(by_queue->size(), 2u);
  auto both = store_->JobList({.state = JobState::kAvailable, .queue = "a", .limit = 10});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->size(), 1u);
  auto page1 = store_->JobList({.limit = 3});
  ASSERT_TRUE(page1.ok() && page1->size() == 3);
  auto page2 = store_->JobList({.after_id = page1->back().id, .limit = 3});
  ASSERT_TRUE(page2.ok());
  ASSERT_EQ(page2->size(), 1u);
  EXPECT_GT(page2->front().id, page1->back().id);
}

// Listing by state alone reads each queue's run in id order and merges them
// (SQLite); the pages must be the state's jobs of every queue, in id order,
// with no gap and no repeat, whatever the number of queues.
TEST_P(StoreContractTest, JobListByStateMergesTheQueuesInIdOrder) {
  for (const int queues : {3, 70}) {  // 70: more queues than the SQLite driver merges
    SCOPED_TRACE(std::to_string(queues) + " queues");
    std::set<JobId> mine;   // available jobs of this round, queues interleaved
    std::set<JobId> other;  // those of them of kind "other"
    std::vector<std::string> names;
    for (int q = 0; q < queues; ++q) names.push_back("list-" + std::to_string(queues) + "-" + std::to_string(q));
    for (int i = 0; i < 3 * queues; ++i) {
      NewJob j = Job(names[static_cast<std::size_t>((i * 7) % queues)]);
      const bool is_other = i % 5 == 0;
      if (is_other) j.kind = "other";
      const JobId id = Insert(std::move(j));
      mine.insert(id);
      if (is_other) other.insert(id);
    }
    // A running job of this round's first queue: in that queue's run, not in the state's.
    Fetch({names[0]}, 1, kT0, "wx");
    auto running = store_->JobList({.state = JobState::kRunning, .limit = 1000});
    ASSERT_TRUE(running.ok());
    for (const auto& j : *running) {
      mine.erase(j.id);
      other.erase(j.id);
    }

    std::vector<JobId> seen;
    JobId after = 0;
    while (true) {
      auto page = store_->JobList({.state = JobState::kAvailable, .after_id = after, .limit = 7});
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      ASSERT_LE(page->size(), 7u);
      for (const auto& j : *page) {
        EXPECT_EQ(j.state, JobState::kAvailable);
        EXPECT_GT(j.id, after);
        if (!seen.empty()) {
          EXPECT_GT(j.id, seen.back());
        }
        seen.push_back(j.id);
        after = j.id;
      }
      if (page->size() < 7u) break;
    }
    std::set<JobId> listed;
    for (JobId id : seen) {
      if (mine.count(id) != 0) listed.insert(id);
    }
    EXPECT_EQ(listed, mine);

    auto by_kind = store_->JobList({.state = JobState::kAvailable, .kind = "other", .limit = 1000});
    ASSERT_TRUE(by_kind.ok());
    std::set<JobId> listed_other;
    for (const auto& j : *by_kind) {
      EXPECT_EQ(j.kind, "other");
      if (mine.count(j.id) != 0) listed_other.insert(j.id);
    }
    EXPECT_EQ(listed_other, other);
  }
}

// --- queues ---

TEST_P(StoreContractTest, QueueListCountsByStateAndReportsPauseAndOldestAvailable) {
  Insert(Job("a", 0, kT0 - seconds(30)));
  Insert(Job("a", 0, kT0));
  Insert(Job("a", 0, kT0 + minutes(1)));
  Insert(Job("b"));
  Fetch({"b"}, 1);
  ASSERT_TRUE(store_->QueueSetPaused("c", true, kT0).ok());
  auto qs = store_->QueueList();
  ASSERT_TRUE(qs.ok());
  std::map<std::string, QueueInfo> by;
  for (const auto& q : *qs) by[q.name] = q;
  ASSERT_EQ(by.size(), 3u);
  auto n = [](const QueueInfo& q, JobState s) { return q.counts[static_cast<std::size_t>(s)]; };
  EXPECT_EQ(n(by["a"], JobState::kAvailable), 2);
  EXPECT_EQ(n(by["a"], JobState::kScheduled), 1);
  EXPECT_EQ(n(by["a"], JobState::kRunning), 0);
  EXPECT_EQ(by["a"].oldest_available_run_at, kT0 - seconds(30));
  EXPECT_EQ(n(by["b"], JobState::kRunning), 1);
  EXPECT_TRUE(by["c"].paused);
  EXPECT_FALSE(by["a"].paused);
  ASSERT_TRUE(store_->QueueSetPaused("c", false, kT0).ok());
  qs = store_->QueueList();
  ASSERT_TRUE(qs.ok());
  for (const auto& q : *qs) EXPECT_FALSE(q.paused) << q.name;
}

// --- workers ---

TEST_P(StoreContractTest, WorkerUpsertTouchStopListAndGet) {
  WorkerRecord w;
  w.id = "w1";
  w.host = "h";
  w.pid = 12;
  w.pid_start_time = 34;
  w.boot_id = "boot";
  w.pid_namespace = "pid:[1]";
  w.queues = {"a", "b"};
  w.slots = 4;
  w.started_at = kT0;
  w.last_seen_at = kT0;
  ASSERT_TRUE(store_->WorkerUpsert(w).ok());
  WorkerRecord w2 = w;
  w2.id = "w2";
  w2.started_at = kT0 + seconds(1);
  w2.last_seen_at = kT0 + seconds(1);
  ASSERT_TRUE(store_->WorkerUpsert(w2).ok());
  ASSERT_TRUE(store_->WorkerTouch("w1", 3, kT0 + seconds(5)).ok());

  auto got = store_->WorkerGet("w1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->host, "h");
  EXPECT_EQ(got->pid, 12);
  EXPECT_EQ(got->pid_start_time, 34);
  EXPECT_EQ(got->boot_id, "boot");
  EXPECT_EQ(got->pid_namespace, "pid:[1]");
  EXPECT_EQ(got->queues, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(got->slots, 4);
  EXPECT_EQ(got->busy, 3);
  EXPECT_EQ(got->started_at, kT0);
  EXPECT_EQ(got->last_seen_at, kT0 + seconds(5));
  EXPECT_FALSE(got->stopped_at.has_value());
  EXPECT_EQ(store_->WorkerGet("nobody").status().code(), StatusCode::kNotFound);

  auto live = store_->WorkerList(false);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 2u);
  EXPECT_EQ((*live)[0].id, "w2");  // newest first

  ASSERT_TRUE(store_->WorkerSetStopped("w1", kT0 + seconds(9)).ok());
  live = store_->WorkerList(false);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].id, "w2");
  auto all = store_->WorkerList(true);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  got = store_->WorkerGet("w1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->stopped_at, kT0 + seconds(9));
  EXPECT_EQ(got->busy, 0);

  // Registering again (a restarted worker with the same id) revives it, as a new life.
  w.started_at = kT0 + seconds(20);
  ASSERT_TRUE(store_->WorkerUpsert(w).ok());
  got = store_->WorkerGet("w1");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->stopped_at.has_value());
  EXPECT_EQ(got->started_at, kT0 + seconds(20));
}

// --- reaper tick and restart grace ---

TEST_P(StoreContractTest, ReaperTickGivesLiveLeasesOneTtlAfterAGapLongerThanTheirTtl) {
  Insert(Job());
  auto j = Fetch({"default"}, 1).front();
  auto first = store_->ReaperTick({kT0});
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->previous_tick.has_value());
  EXPECT_EQ(first->graced, 0);
  auto second = store_->ReaperTick({kT0 + kTtl});  // a gap of exactly one TTL: no grace
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->previous_tick, kT0);
  EXPECT_EQ(second->graced, 0);
  EXPECT_EQ(Get(j.id).lease_expires_at, kT0 + kTtl);
  const Timestamp back = kT0 + kTtl + minutes(5);
  auto third = store_->ReaperTick({back});
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->previous_tick, kT0 + kTtl);
  EXPECT_EQ(third->graced, 1);
  EXPECT_EQ(Get(j.id).lease_expires_at, back + kTtl);
  EXPECT_EQ(Get(j.id).state, JobState::kRunning);
}

TEST_P(StoreContractTest, ReaperTickIsSharedByEveryStoreOnTheDatabase) {
  auto other = Open();
  ASSERT_TRUE(store_->ReaperTick({kT0}).ok());
  auto r = other->ReaperTick({kT0 + seconds(1)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->previous_tick, kT0);
}

// --- several processes on one database ---

TEST_P(StoreContractTest, TwoStoresOnOneDatabaseWriteConcurrentlyWithoutSurfacingBusy) {
  auto other = Open();
  constexpr int kPerThread = 300;
  std::atomic<int> failures{0};
  std::atomic<int> completed{0};
  std::mutex msg_mu;
  std::string first_failure;
  auto work = [&](Store* s, const std::string& queue) {
    for (int i = 0; i < kPerThread; ++i) {
      NewJob j = Job(queue);
      auto ins = s->JobInsertMany({{j}, kT0});
      auto got = s->JobFetch({{queue}, 1, kT0, kTtl, seconds(5), queue});
      Status st = !ins.ok() ? ins.status() : !got.ok() ? got.status() : Status::Ok();
      if (st.ok() && !got->empty()) {
        auto done = s->JobCompleteMany({{{got->front().id, got->front().lease_token, {}, {}, {}}}, kT0});
        st = !done.ok() ? done.status() : done->front();
        if (st.ok()) ++completed;
      }
      if (!st.ok()) {
        ++failures;
        std::lock_guard<std::mutex> lock(msg_mu);
        if (first_failure.empty()) first_failure = st.ToString();
      }
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(work, store_.get(), "s1a");
  threads.emplace_back(work, store_.get(), "s1b");
  threads.emplace_back(work, other.get(), "s2a");
  threads.emplace_back(work, other.get(), "s2b");
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_EQ(completed.load(), 4 * kPerThread);
  auto qs = other->QueueList();
  ASSERT_TRUE(qs.ok());
  std::int64_t succeeded = 0;
  for (const auto& q : *qs) succeeded += q.counts[static_cast<std::size_t>(JobState::kSucceeded)];
  EXPECT_EQ(succeeded, 4 * kPerThread);
}

TEST_P(StoreContractTest, StoresOpeningOneNewDatabaseAtOnceAllSucceed) {
  testing::TempDir fresh;
  std::vector<Result<std::unique_ptr<Store>>> opened;
  for (int i = 0; i < 4; ++i) opened.emplace_back(Status::Internal("not opened"));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { opened[static_cast<std::size_t>(i)] = GetParam().open(fresh); });
  }
  for (auto& t : threads) t.join();
  for (auto& s : opened) {
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto r = (*s)->JobInsertMany({{Job()}, kT0});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  }
  auto all = (*opened[0])->JobList({.limit = 10});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);
}

TEST_P(StoreContractTest, AWriteByOneStoreIsSeenByAnother) {
  auto other = Open();
  const JobId id = Insert(Job());
  auto got = other->JobGet(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kAvailable);
  auto leased = other->JobFetch({{"default"}, 1, kT0, kTtl, seconds(5), "w"});
  ASSERT_TRUE(leased.ok() && leased->size() == 1);
  EXPECT_EQ(Get(id).state, JobState::kRunning);
}

// --- drivers ---

// A StoreWrapper that owns the store it forwards to.
class OwningWrapper : public StoreWrapper {
 public:
  explicit OwningWrapper(std::unique_ptr<Store> inner) : StoreWrapper(*inner), inner_(std::move(inner)) {}

 private:
  std::unique_ptr<Store> inner_;
};

INSTANTIATE_TEST_SUITE_P(
    Drivers, StoreContractTest,
    ::testing::Values(testing::SqliteStoreFactory(),
                      // Every call through a StoreWrapper: the wrapper forwards each one
                      // unchanged, so the whole contract holds through it.
                      StoreFactory{"SqliteThroughWrapper",
                                   [](const testing::TempDir& dir) -> Result<std::unique_ptr<Store>> {
                                     JW_ASSIGN_OR_RETURN(std::unique_ptr<Store> inner,
                                                         testing::SqliteStoreFactory().open(dir));
                                     return std::unique_ptr<Store>(std::make_unique<OwningWrapper>(std::move(inner)));
                                   }}),
    [](const ::testing::TestParamInfo<StoreFactory>& p) { return p.param.name; });

}  // namespace
}  // namespace jobwarden
