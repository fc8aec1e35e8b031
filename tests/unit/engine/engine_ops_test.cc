// Engine operations beyond the transition table: enqueue validation and
// defaults, unique_key, bulk enqueue, fetch parameters, bulk delete, queues.
#include <gtest/gtest.h>

#include "unit/engine/engine_helpers.h"

namespace jobwarden::testing {
namespace {

class EngineOpsTest : public EngineTest {
 protected:
  std::vector<Job> All() {
    auto r = engine().List({.limit = 10'000});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<Job>{};
  }
};

// --- enqueue ---

TEST_F(EngineOpsTest, EnqueueStoresEveryField) {
  const Job j = Enqueue({.kind = "download",
                         .args = R"({ "url" : "https://x" })",
                         .queue = "media",
                         .priority = 3,
                         .timeout = seconds(90),
                         .stall_timeout = seconds(20),
                         .deadline_in = hours(1),
                         .max_attempts = 7,
                         .unique_key = "dl:x",
                         .resource_key = "host:x",
                         .tags = {"a", "b \"quoted\""}});
  const Job got = Get(j.id);
  EXPECT_EQ(got.kind, "download");
  EXPECT_EQ(got.args, R"({"url":"https://x"})");
  EXPECT_EQ(got.queue, "media");
  EXPECT_EQ(got.priority, 3);
  EXPECT_EQ(got.timeout, seconds(90));
  EXPECT_EQ(got.stall_timeout, seconds(20));
  EXPECT_EQ(got.deadline_at, Now() + hours(1));
  EXPECT_EQ(got.max_attempts, 7);
  EXPECT_EQ(got.unique_key, "dl:x");
  EXPECT_EQ(got.resource_key, "host:x");
  EXPECT_EQ(got.batch_id, std::nullopt);
  EXPECT_EQ(got.tags, (std::vector<std::string>{"a", "b \"quoted\""}));
  EXPECT_EQ(got.args, j.args);  // the answer is the stored job
}

TEST_F(EngineOpsTest, EnqueueRefusesABatchIdTheServerDidNotSet) {
  // A job joining a batch on its own would finish the batch early or never.
  EnqueueRequest r;
  r.kind = "k";
  r.batch_id = "1";
  auto result = engine().Enqueue(r);
  ASSERT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().field(), "batch_id");
  EXPECT_TRUE(All().empty());
}

TEST_F(EngineOpsTest, KindDefaultsApplyUnderTheJobsOwnValues) {
  EngineOptions o;
  o.kinds["slow"] = KindDefaults{.queue = "slowq", .timeout = hours(2), .max_attempts = 2};
  EngineBundle b(o);
  auto d = b.engine->Enqueue(MakeJob({.kind = "slow"}));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->job.queue, "slowq");
  EXPECT_EQ(d->job.timeout, hours(2));
  EXPECT_EQ(d->job.max_attempts, 2);
  auto own = b.engine->Enqueue(MakeJob({.kind = "slow", .queue = "mine", .max_attempts = 9}));
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->job.queue, "mine");
  EXPECT_EQ(own->job.max_attempts, 9);
}

TEST_F(EngineOpsTest, InvalidInputIsRefusedNamingTheFieldAndWritesNothing) {
  struct Case {
    EnqueueRequest r;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{.kind = "bad kind"}, "kind"},
      {{.kind = "k", .args = "{oops"}, "args"},
      {{.kind = "k", .queue = ""}, "queue"},
      {{.kind = "k", .timeout = Duration(0)}, "timeout"},
      {{.kind = "k", .stall_timeout = -seconds(1)}, "stall_timeout"},
      {{.kind = "k", .deadline_in = Duration(0)}, "deadline"},
      {{.kind = "k", .delay = -seconds(1)}, "delay"},
      {{.kind = "k", .delay = seconds(1), .run_at = Now()}, "run_at"},
      {{.kind = "k", .max_attempts = 0}, "max_attempts"},
      {{.kind = "k", .unique_key = ""}, "unique_key"},
      {{.kind = "k", .resource_key = "a b"}, "resource_key"},
      {{.kind = "k", .tags = {""}}, "tags"},
  };
  for (const Case& c : cases) {
    auto r = engine().Enqueue(c.r);
    ASSERT_FALSE(r.ok()) << c.field;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(r.status().message().rfind(c.field, 0), 0u) << r.status().message();
  }
  EXPECT_TRUE(All().empty());
}

TEST_F(EngineOpsTest, ArgsOverTheSizeLimitAreRefused) {
  EngineBundle b({.max_args_bytes = 100});
  auto r = b.engine->Enqueue(MakeJob({.args = "\"" + std::string(200, 'a') + "\""}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// --- unique_key ---

TEST_F(EngineOpsTest, UniqueKeyDeduplicatesOnlyWhileTheJobIsNotTerminal) {
  auto first = engine().Enqueue(MakeJob({.unique_key = "order:1"}));
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->deduplicated);
  auto dup = engine().Enqueue(MakeJob({.args = R"({"other":true})", .unique_key = "order:1"}));
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->deduplicated);
  EXPECT_EQ(dup->job.id, first->job.id);
  EXPECT_EQ(dup->job.args, "{}");  // the existing job, unchanged
  // Still deduplicated while running.
  const Job running = FetchOne();
  auto while_running = engine().Enqueue(MakeJob({.unique_key = "order:1"}));
  ASSERT_TRUE(while_running.ok());
  EXPECT_TRUE(while_running->deduplicated);
  EXPECT_EQ(while_running->job.state, JobState::kRunning);
  // Terminal: a new job.
  ASSERT_OK(Complete(running));
  auto fresh = engine().Enqueue(MakeJob({.unique_key = "order:1"}));
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->deduplicated);
  EXPECT_NE(fresh->job.id, first->job.id);
  EXPECT_EQ(All().size(), 2u);
}

TEST_F(EngineOpsTest, UniqueKeyDeduplicatesWithinOneBulkCall) {
  auto r = engine().EnqueueMany({MakeJob({.unique_key = "u"}), MakeJob({.unique_key = "u"}), MakeJob()});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_FALSE((*r)[0].deduplicated);
  EXPECT_TRUE((*r)[1].deduplicated);
  EXPECT_EQ((*r)[1].job.id, (*r)[0].job.id);
  EXPECT_FALSE((*r)[2].deduplicated);
  EXPECT_EQ(All().size(), 2u);
}

TEST_F(EngineOpsTest, RetryOfAJobWhoseUniqueKeyIsTakenAgainIsAConflict) {
  const Job a = Enqueue({.unique_key = "k"});
  ASSERT_TRUE(engine().Cancel(a.id).ok());
  const Job b = Enqueue({.unique_key = "k"});
  ASSERT_NE(a.id, b.id);
  auto r = engine().Retry(a.id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  EXPECT_EQ(Get(a.id).state, JobState::kCancelled);
}

// --- bulk enqueue ---

TEST_F(EngineOpsTest, BulkEnqueueAnswersInInputOrder) {
  std::vector<EnqueueRequest> reqs;
  for (int i = 0; i < 5; ++i) reqs.push_back(MakeJob({.priority = i}));
  auto r = engine().EnqueueMany(reqs);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*r)[i].job.priority, i);
    EXPECT_EQ(Get((*r)[i].job.id).priority, i);
  }
}

TEST_F(EngineOpsTest, BulkEnqueueIsAllOrNothing) {
  std::vector<EnqueueRequest> reqs(100, MakeJob());
  reqs[57].args = "{not json";
  auto r = engine().EnqueueMany(reqs);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("jobs[57]"), std::string::npos) << r.status().message();
  EXPECT_TRUE(All().empty());
}

TEST_F(EngineOpsTest, BulkEnqueueTakesAtMost10000Jobs) {
  std::vector<EnqueueRequest> reqs(kMaxBulkJobs + 1, MakeJob());
  auto over = engine().EnqueueMany(reqs);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(over.status().message().find("10000"), std::string::npos) << over.status().message();
  EXPECT_TRUE(All().empty());
  reqs.pop_back();
  auto full = engine().EnqueueMany(reqs);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full->size(), 10'000u);
  EXPECT_EQ(All().size(), 10'000u);
  auto empty = engine().EnqueueMany({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// --- fetch parameters ---

TEST_F(EngineOpsTest, LeaseTtlIsClampedToOneSecondAndTenMinutes) {
  Enqueue();
  Enqueue();
  Enqueue();
  auto shortest = engine().Fetch({.max = 1, .lease_ttl = milliseconds(100)});
  ASSERT_TRUE(shortest.ok() && shortest->size() == 1);
  EXPECT_EQ(shortest->front().lease_ttl, seconds(1));
  EXPECT_EQ(shortest->front().lease_expires_at, Now() + seconds(1));
  auto longest = engine().Fetch({.max = 1, .lease_ttl = hours(1)});
  ASSERT_TRUE(longest.ok() && longest->size() == 1);
  EXPECT_EQ(longest->front().lease_ttl, minutes(10));
  auto deflt = engine().Fetch({.max = 1});
  ASSERT_TRUE(deflt.ok() && deflt->size() == 1);
  EXPECT_EQ(deflt->front().lease_ttl, seconds(10));
  EXPECT_EQ(deflt->front().grace, seconds(5));
  EXPECT_EQ(deflt->front().worker_id, "local");
}

TEST_F(EngineOpsTest, GraceOverHalfTheTtlIsRefused) {
  Enqueue();
  auto r = engine().Fetch({.max = 1, .lease_ttl = seconds(10), .grace = seconds(6)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Get(1).state, JobState::kAvailable);
  auto ok = engine().Fetch({.max = 1, .lease_ttl = seconds(10), .grace = seconds(5)});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 1u);
}

TEST_F(EngineOpsTest, FetchValidatesMaxAndQueues) {
  EXPECT_EQ(engine().Fetch({.max = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine().Fetch({.max = 1001}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine().Fetch({.queues = {"no spaces"}, .max = 1}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EngineOpsTest, FetchTakesAtMostMax) {
  for (int i = 0; i < 5; ++i) Enqueue();
  EXPECT_EQ(FetchN(3).size(), 3u);
  EXPECT_EQ(FetchN(3).size(), 2u);
  EXPECT_TRUE(FetchN(3).empty());
}

TEST_F(EngineOpsTest, LeaseTokensGrowWithEveryLeaseOfAJob) {
  Enqueue();
  std::int64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    const Job j = FetchOne();
    EXPECT_GT(j.lease_token, last);
    last = j.lease_token;
    ASSERT_OK(Fail(j, ErrorClass::kInterrupted, "drain"));
  }
}

// --- bulk delete ---

TEST_F(EngineOpsTest, DeleteManyNeverTouchesRunningJobs) {
  Enqueue();
  Enqueue();
  const Job running = FetchOne();
  auto n = engine().DeleteMany({});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(Get(running.id).state, JobState::kRunning);
  auto refused = engine().DeleteMany({.state = JobState::kRunning});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(All().size(), 1u);
}

TEST_F(EngineOpsTest, DeleteManyFiltersByStateQueueAndAge) {
  const Job old_done = Enqueue();
  ASSERT_OK(Complete(FetchOne()));
  clock().Advance(hours(2));
  const Job new_done = Enqueue();
  ASSERT_OK(Complete(FetchOne()));
  const Job other_queue = Enqueue({.queue = "q"});
  ASSERT_TRUE(engine().Cancel(other_queue.id).ok());
  const Job waiting = Enqueue();

  auto aged = engine().DeleteMany({.state = JobState::kSucceeded, .older_than = hours(1)});
  ASSERT_TRUE(aged.ok());
  EXPECT_EQ(*aged, 1);
  EXPECT_EQ(engine().Get(old_done.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(engine().Get(new_done.id).ok());

  auto by_queue = engine().DeleteMany({.queue = "q"});
  ASSERT_TRUE(by_queue.ok());
  EXPECT_EQ(*by_queue, 1);
  EXPECT_TRUE(engine().Get(waiting.id).ok());
  EXPECT_EQ(engine().DeleteMany({.older_than = -seconds(1)}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EngineOpsTest, DeleteManyWorksThroughMoreThanOneChunk) {
  std::vector<EnqueueRequest> reqs(2500, MakeJob());
  ASSERT_TRUE(engine().EnqueueMany(reqs).ok());
  auto n = engine().DeleteMany({.state = JobState::kAvailable});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2500);
  EXPECT_TRUE(All().empty());
}

// --- queues ---

TEST_F(EngineOpsTest, QueuesReportDepthByStateOldestAvailableAndPause) {
  const Timestamp t0 = Now();
  Enqueue({.queue = "a"});
  clock().Advance(seconds(5));
  Enqueue({.queue = "a"});
  Enqueue({.queue = "a", .delay = minutes(1)});
  Enqueue({.queue = "b"});
  FetchOne({"b"});
  ASSERT_OK(engine().PauseQueue("c"));
  auto qs = engine().Queues();
  ASSERT_TRUE(qs.ok());
  std::map<std::string, QueueInfo> by_name;
  for (const QueueInfo& q : *qs) by_name[q.name] = q;
  ASSERT_EQ(by_name.size(), 3u);
  const auto count = [](const QueueInfo& q, JobState s) { return q.counts[static_cast<std::size_t>(s)]; };
  EXPECT_EQ(count(by_name["a"], JobState::kAvailable), 2);
  EXPECT_EQ(count(by_name["a"], JobState::kScheduled), 1);
  EXPECT_EQ(by_name["a"].oldest_available_run_at, t0);
  EXPECT_FALSE(by_name["a"].paused);
  EXPECT_EQ(count(by_name["b"], JobState::kRunning), 1);
  EXPECT_FALSE(by_name["b"].oldest_available_run_at.has_value());
  EXPECT_TRUE(by_name["c"].paused);
  ASSERT_OK(engine().ResumeQueue("c"));
  EXPECT_EQ(engine().PauseQueue("bad name").code(), StatusCode::kInvalidArgument);
}

// --- listing ---

TEST_F(EngineOpsTest, ListFiltersAndPagesByIdCursor) {
  for (int i = 0; i < 5; ++i) Enqueue({.kind = i % 2 ? "odd" : "even"});
  auto odd = engine().List({.kind = "odd"});
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->size(), 2u);
  auto page = engine().List({.after_id = 2, .limit = 2});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, 3);
  EXPECT_EQ((*page)[1].id, 4);
  EXPECT_EQ(engine().List({.limit = 0}).status().code(), StatusCode::kInvalidArgument);
}

// --- events (G6) ---

TEST_F(EngineOpsTest, EveryStateChangeIsAnEvent) {
  std::vector<JobEventRecord> events;
  EngineBundle b;
  b.engine->AddListener([&](const JobEventRecord& e) { events.push_back(e); });
  auto e = b.engine->Enqueue(MakeJob());
  ASSERT_TRUE(e.ok());
  auto f = b.engine->Fetch({.max = 1});
  ASSERT_TRUE(f.ok() && f->size() == 1);
  ASSERT_OK(b.engine->Fail({f->front().id, f->front().lease_token, {ErrorClass::kTransient, "x", {}, {}, {}}, {}, {}}));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_FALSE(events[0].from.has_value());
  EXPECT_EQ(events[0].to, JobState::kAvailable);
  EXPECT_EQ(events[1].from, JobState::kAvailable);
  EXPECT_EQ(events[1].to, JobState::kRunning);
  EXPECT_EQ(events[2].from, JobState::kRunning);
  EXPECT_EQ(events[2].to, JobState::kScheduled);
  EXPECT_EQ(events[2].error_class, ErrorClass::kTransient);
  EXPECT_EQ(events[2].message, "x");
}

// A worker's settle-and-lease in one call: each success and each lease is an
// event, as when made apart; invalid input in either part writes nothing.
TEST_F(EngineOpsTest, CompleteManyAndFetchEmitsBothAndRefusesBadInputWhole) {
  std::vector<JobEventRecord> events;
  EngineBundle b;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.engine->Enqueue(MakeJob()).ok());
  auto first = b.engine->Fetch({.max = 1});
  ASSERT_TRUE(first.ok() && first->size() == 1);
  const Job& held = first->front();
  b.engine->AddListener([&](const JobEventRecord& e) { events.push_back(e); });

  // A result that is not JSON refuses the whole call: nothing settled, nothing leased.
  auto bad = b.engine->CompleteManyAndFetch({{held.id, held.lease_token, "not json", {}, {}}}, {.max = 2});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  auto refused_fetch = b.engine->CompleteManyAndFetch({{held.id, held.lease_token, {}, {}, {}}}, {.max = 0});
  EXPECT_EQ(refused_fetch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(b.engine->Get(held.id)->state, JobState::kRunning);

  auto both = b.engine->CompleteManyAndFetch({{held.id, held.lease_token, R"({"n":1})", {}, {}}}, {.max = 2});
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  ASSERT_EQ(both->completed.size(), 1u);
  EXPECT_TRUE(both->completed[0].ok());
  ASSERT_EQ(both->fetched.size(), 2u);
  EXPECT_EQ(b.engine->Get(held.id)->state, JobState::kSucceeded);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].id, held.id);
  EXPECT_EQ(events[0].from, JobState::kRunning);
  EXPECT_EQ(events[0].to, JobState::kSucceeded);
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(events[i].id, both->fetched[i - 1].id);
    EXPECT_EQ(events[i].from, JobState::kAvailable);
    EXPECT_EQ(events[i].to, JobState::kRunning);
  }
}

}  // namespace
}  // namespace jobwarden::testing
