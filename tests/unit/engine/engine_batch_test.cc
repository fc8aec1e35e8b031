// The engine's batches (DESIGN.md "Batches"): validation that names the
// field and writes nothing, deadline propagation, the callback's priority,
// the batch deadline enforced by the reaper (waiting members at once, running
// ones through the two-phase stop, limit batch_deadline), a fan-out fenced by
// the parent's lease, and the batch listeners.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "unit/engine/engine_helpers.h"

namespace jobwarden::testing {
namespace {

class EngineBatchTest : public EngineTest {
 protected:
  void SetUp() override {
    engine().AddBatchListener([this](const BatchInfo& b) { seen_.push_back(b); });
  }

  static BatchRequest Request(int members, Duration deadline = seconds(60)) {
    BatchRequest r;
    for (int i = 0; i < members; ++i) r.jobs.push_back(MakeJob({.kind = "fetch"}));
    r.deadline_in = deadline;
    BatchCallback cb;
    cb.kind = "summarize";
    cb.args = R"({"query":"q"})";
    r.callback = cb;
    return r;
  }

  BatchInfo Submit(const BatchRequest& r) {
    auto b = engine().SubmitBatch(r);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? *b : BatchInfo{};
  }

  BatchInfo Read(const std::string& id) {
    auto b = engine().Batch(id);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? *b : BatchInfo{};
  }

  void ExpectNothingWritten() {
    auto jobs = engine().List({.limit = 100});
    ASSERT_TRUE(jobs.ok());
    EXPECT_TRUE(jobs->empty());
    auto batches = engine().Batches({});
    ASSERT_TRUE(batches.ok());
    EXPECT_TRUE(batches->empty());
  }

  std::vector<BatchInfo> seen_;
};

TEST_F(EngineBatchTest, BadInputNamesTheFieldAndWritesNothing) {
  struct Case {
    std::string what;
    std::function<void(BatchRequest&)> spoil;
    std::string field_text;
  };
  const std::vector<Case> cases = {
      {"no members", [](BatchRequest& r) { r.jobs.clear(); }, "jobs: must not be empty"},
      {"an invalid member", [](BatchRequest& r) { r.jobs[1].timeout = seconds(-1); }, "jobs[1]"},
      {"a member with an empty kind", [](BatchRequest& r) { r.jobs[2].kind = ""; }, "jobs[2]"},
      {"a member that sets batch_id", [](BatchRequest& r) { r.jobs[0].batch_id = "7"; }, "jobs[0]"},
      {"a deadline in the past", [](BatchRequest& r) { r.deadline_in = seconds(-5); }, "deadline_s"},
      {"an empty callback kind", [](BatchRequest& r) { r.callback->kind = ""; }, "callback.kind"},
      {"callback args that are not an object", [](BatchRequest& r) { r.callback->args = "[1]"; }, "callback.args"},
      {"min_succeeded above the members", [](BatchRequest& r) { r.min_succeeded = 4; }, "min_succeeded"},
      {"a parent that does not exist", [](BatchRequest& r) { r.parent_id = 999; }, "parent_id"},
  };
  for (const Case& c : cases) {
    BatchRequest r = Request(3);
    c.spoil(r);
    auto b = engine().SubmitBatch(r);
    ASSERT_EQ(b.status().code(), StatusCode::kInvalidArgument) << c.what << ": " << b.status().ToString();
    EXPECT_NE(b.status().message().find(c.field_text), std::string::npos) << c.what << ": " << b.status().message();
    ExpectNothingWritten();
  }
  EXPECT_TRUE(seen_.empty());
}

TEST_F(EngineBatchTest, AMembersDeadlineIsTheEarliestOfItsOwnTheBatchsAndTheParents) {
  const Job parent = Enqueue({.kind = "plan", .deadline_in = seconds(30)});
  BatchRequest r = Request(3, seconds(60));
  r.jobs[0].deadline_in = seconds(10);   // its own is the earliest
  r.jobs[1].deadline_in = seconds(300);  // the parent's (30 s) is
  r.parent_id = parent.id;
  const BatchInfo b = Submit(r);
  ASSERT_EQ(b.members.size(), 3u);
  EXPECT_EQ(Get(b.members[0].id).deadline_at, Now() + seconds(10));
  EXPECT_EQ(Get(b.members[1].id).deadline_at, Now() + seconds(30));
  EXPECT_EQ(Get(b.members[2].id).deadline_at, Now() + seconds(30));
  EXPECT_EQ(b.deadline_at, Now() + seconds(60));
  EXPECT_EQ(b.parent_id, parent.id);

  BatchRequest no_parent = Request(1, seconds(60));
  const BatchInfo b2 = Submit(no_parent);
  EXPECT_EQ(Get(b2.members[0].id).deadline_at, Now() + seconds(60));
}

TEST_F(EngineBatchTest, TheCallbackRunsAboveItsMembersUnlessItSetsAPriority) {
  BatchRequest r = Request(2);
  r.jobs[0].priority = 5;
  r.jobs[1].priority = -2;
  BatchInfo b = Submit(r);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Complete(FetchOne()).ok());
  b = Read(b.id);
  ASSERT_TRUE(b.callback_job_id);
  EXPECT_EQ(Get(*b.callback_job_id).priority, 6);

  BatchRequest explicit_priority = Request(1);
  explicit_priority.callback->priority = -10;
  BatchInfo b2 = Submit(explicit_priority);
  // The earlier callback (priority 6) is fetched first; then b2's member.
  const Job first = FetchOne();
  EXPECT_EQ(first.kind, "summarize");
  ASSERT_TRUE(Complete(first).ok());
  ASSERT_TRUE(Complete(FetchOne()).ok());
  b2 = Read(b2.id);
  ASSERT_TRUE(b2.callback_job_id);
  EXPECT_EQ(Get(*b2.callback_job_id).priority, -10);
}

TEST_F(EngineBatchTest, AtTheDeadlineEveryOpenMemberEndsAsBatchDeadlineAndTheCallbackRuns) {
  const BatchInfo submitted = Submit(Request(3, seconds(10)));
  const Job done = FetchOne();
  ASSERT_TRUE(Complete(done, R"({"rows":1})").ok());
  const Job hung = FetchOne();  // runs past the deadline
  // The third waits (available) when the deadline passes.

  // Its worker heartbeats (the lease stays live), but never stops it.
  clock().Advance(seconds(5));
  Beat(hung);
  clock().Advance(seconds(5));
  ReapStats s = Reap();
  EXPECT_EQ(s.deadline_failed, 1);
  EXPECT_EQ(s.cancel_requested, 1);
  BatchInfo b = Read(submitted.id);
  EXPECT_EQ(b.state, BatchState::kRunning) << "the running member is still being stopped";
  EXPECT_TRUE(Get(hung.id).cancel_requested);

  // Phase two: the worker never settles it; the server takes it back.
  clock().Advance(seconds(2));
  EXPECT_EQ(Beat(hung).answer, HeartbeatAnswer::kCancel);
  clock().Advance(kGrace + kTtlThird - seconds(1));
  s = Reap();
  EXPECT_EQ(s.taken_back, 1);
  b = Read(submitted.id);
  EXPECT_EQ(b.state, BatchState::kFailed);  // 1 of 3 succeeded, all needed
  EXPECT_EQ(b.counts[static_cast<std::size_t>(JobState::kSucceeded)], 1);
  EXPECT_EQ(b.counts[static_cast<std::size_t>(JobState::kFailed)], 2);
  for (const BatchMember& m : b.members) {
    if (m.id == done.id) continue;
    EXPECT_EQ(m.state, JobState::kFailed);
    EXPECT_EQ(m.error_class, ErrorClass::kTimeout) << m.error_message;
    EXPECT_EQ(m.error_limit, "batch_deadline") << m.error_message;
    EXPECT_NE(m.error_message.find("batch " + b.id + " deadline"), std::string::npos) << m.error_message;
  }
  ASSERT_TRUE(b.callback_job_id);
  const Job cb = Get(*b.callback_job_id);
  const nlohmann::json args = nlohmann::json::parse(cb.args);
  EXPECT_EQ(args["batch"]["state"], "failed");
  EXPECT_EQ(args["batch"]["counts"]["succeeded"], 1);
  EXPECT_EQ(args["query"], "q");

  // The listeners saw the submit and the finish.
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[0].state, BatchState::kRunning);
  EXPECT_EQ(seen_[1].state, BatchState::kFailed);
  EXPECT_EQ(seen_[1].callback_job_id, b.callback_job_id);
}

TEST_F(EngineBatchTest, AMembersOwnEarlierDeadlineKeepsItsOwnLimit) {
  BatchRequest r = Request(1, seconds(60));
  r.jobs[0].deadline_in = seconds(5);
  const BatchInfo submitted = Submit(r);
  clock().Advance(seconds(6));
  Reap();
  const BatchInfo b = Read(submitted.id);
  ASSERT_EQ(b.members.size(), 1u);
  EXPECT_EQ(b.members[0].error_limit, "deadline");
  EXPECT_EQ(b.state, BatchState::kFailed);
}

TEST_F(EngineBatchTest, AFanOutNeedsTheParentsCurrentLease) {
  Enqueue({.kind = "plan", .deadline_in = seconds(20)});
  const Job parent = FetchOne();
  BatchRequest r = Request(2, seconds(60));
  auto stale = engine().SubmitChildBatch(parent.id, parent.lease_token + 1, r);
  EXPECT_EQ(stale.status().code(), StatusCode::kLeaseLost) << stale.status().ToString();
  r.parent_id = parent.id + 100;
  auto other_parent = engine().SubmitChildBatch(parent.id, parent.lease_token, r);
  EXPECT_EQ(other_parent.status().code(), StatusCode::kInvalidArgument);
  r.parent_id.reset();

  auto b = engine().SubmitChildBatch(parent.id, parent.lease_token, r);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->parent_id, parent.id);
  for (const BatchMember& m : b->members) EXPECT_EQ(Get(m.id).deadline_at, parent.deadline_at);
}

TEST_F(EngineBatchTest, RetentionPurgesFinishedBatchesNeverRunningOnes) {
  const BatchInfo done = Submit(Request(1));
  ASSERT_TRUE(Complete(FetchOne()).ok());
  const BatchInfo open = Submit(Request(1, hours(24 * 30)));
  clock().Advance(engine().options().retention + hours(1));
  EXPECT_EQ(Reap().batches_purged, 1);
  EXPECT_EQ(engine().Batch(done.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(engine().Batch(open.id).ok());
}

}  // namespace
}  // namespace jobwarden::testing
