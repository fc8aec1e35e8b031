// The Store contract for batches (store/store.h BatchStore, DESIGN.md
// "Batches"), run against every driver: a batch and its members in one
// insert, and the finish (state, callback with args.batch) inside the write
// that ended the last member, on every path that ends a job, once.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>
#include <thread>

#include "core/lifecycle.h"
#include "store/store.h"
#include "testutil/temp_dir.h"
#include "testutil/test_store.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace jobwarden {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::StoreFactory;

const Timestamp kT0 = FromMillis(1'767'225'600'000);
constexpr Duration kTtl = seconds(10);

NewJob Member(std::string kind, int priority = 0) {
  NewJob j;
  j.kind = std::move(kind);
  j.queue = "default";
  j.priority = priority;
  j.timeout = minutes(5);
  j.run_at = kT0;
  return j;
}

class StoreBatchContractTest : public testing::StoreContractBase {
 protected:
  void SetUp() override {
    StoreContractBase::SetUp();
    store_->SetBatchFinishedListener([this](const BatchInfo& b) { finished_.push_back(b); });
  }

  NewBatch Batch(int members, bool callback = true) {
    NewBatch b;
    b.name = "scrape";
    b.min_succeeded = members;
    b.deadline_at = kT0 + hours(1);
    for (int i = 0; i < members; ++i) b.members.push_back(Member("fetch", i));
    if (callback) {
      NewJob cb = Member("summarize", members + 1);
      cb.args = R"({"query":"q"})";
      cb.stall_timeout = seconds(20);
      cb.resource_key = "svc:report";
      cb.tags = {"callback"};
      cb.cost = 2;
      b.callback = cb;
    }
    return b;
  }

  InsertedBatch Insert(const NewBatch& b) {
    auto r = store_->BatchInsert(b, kT0);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : InsertedBatch{};
  }

  std::vector<Job> Lease(int max, Timestamp now = kT0) {
    auto r = store_->JobFetch({{"default"}, max, now, kTtl, seconds(5), "w1"});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<Job>{};
  }

  void Complete(const Job& j, Timestamp now, std::string result = R"({"rows":3})") {
    auto r = store_->JobCompleteMany({{{j.id, j.lease_token, std::move(result)}}, now});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), 1u);
    EXPECT_TRUE(r->front().ok()) << r->front().ToString();
  }

  // A final failure (max_attempts 1 would be the member's; here a permanent error).
  void FailFinal(const Job& j, Timestamp now) {
    Failure f;
    f.error_class = ErrorClass::kPermanent;
    f.message = "source answered 404";
    std::mt19937_64 rng(1);
    auto c = PlanFailure(j, f, now, BackoffPolicy{}, rng);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_EQ(c->to, JobState::kFailed);
    auto r = store_->JobApplyMany({{*c}, now});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->front().ok()) << r->front().ToString();
  }

  BatchInfo Read(const std::string& id) {
    auto r = store_->BatchGet(id, true);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : BatchInfo{};
  }

  std::vector<Job> JobsOfKind(const std::string& kind) {
    auto r = store_->JobList({.kind = kind, .limit = 1000});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<Job>{};
  }

  std::vector<BatchInfo> finished_;
};

TEST_P(StoreBatchContractTest, InsertWritesTheBatchAndMembersWithTheirBatchId) {
  const InsertedBatch ins = Insert(Batch(3));
  ASSERT_EQ(ins.member_ids.size(), 3u);
  for (JobId id : ins.member_ids) {
    auto j = store_->JobGet(id);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(j->batch_id, ins.id);
  }
  const BatchInfo b = Read(ins.id);
  EXPECT_EQ(b.id, ins.id);
  EXPECT_EQ(b.name, "scrape");
  EXPECT_EQ(b.state, BatchState::kRunning);
  EXPECT_EQ(b.total, 3);
  EXPECT_EQ(b.min_succeeded, 3);
  EXPECT_EQ(b.deadline_at, kT0 + hours(1));
  EXPECT_EQ(b.created_at, kT0);
  EXPECT_FALSE(b.finished_at);
  EXPECT_FALSE(b.callback_job_id);
  EXPECT_EQ(b.counts[static_cast<std::size_t>(JobState::kAvailable)], 3);
  ASSERT_EQ(b.members.size(), 3u);
  EXPECT_EQ(b.members[0].id, ins.member_ids[0]);
  EXPECT_EQ(b.members[0].kind, "fetch");
  EXPECT_TRUE(JobsOfKind("summarize").empty());  // no callback before the end
  EXPECT_EQ(store_->BatchGet("999", false).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->BatchGet("not-an-id", false).status().code(), StatusCode::kNotFound);
}

TEST_P(StoreBatchContractTest, TheLastCompleteFinishesTheBatchAndEnqueuesTheCallbackOnce) {
  const InsertedBatch ins = Insert(Batch(2));
  std::vector<Job> leased = Lease(2);
  ASSERT_EQ(leased.size(), 2u);
  Complete(leased[0], kT0 + seconds(1));
  EXPECT_EQ(Read(ins.id).state, BatchState::kRunning);
  EXPECT_TRUE(finished_.empty());
  Complete(leased[1], kT0 + seconds(3));

  const BatchInfo b = Read(ins.id);
  EXPECT_EQ(b.state, BatchState::kSucceeded);
  EXPECT_EQ(b.finished_at, kT0 + seconds(3));
  ASSERT_TRUE(b.callback_job_id);
  const std::vector<Job> callbacks = JobsOfKind("summarize");
  ASSERT_EQ(callbacks.size(), 1u);
  const Job& cb = callbacks.front();
  EXPECT_EQ(cb.id, *b.callback_job_id);
  EXPECT_EQ(cb.state, JobState::kAvailable);
  EXPECT_EQ(cb.priority, 3);
  EXPECT_EQ(cb.run_at, kT0 + seconds(3));
  EXPECT_FALSE(cb.batch_id);  // the callback is not a member
  // Every field the engine prepared (the kind's defaults included).
  EXPECT_EQ(cb.queue, "default");
  EXPECT_EQ(cb.timeout, minutes(5));
  EXPECT_EQ(cb.stall_timeout, seconds(20));
  EXPECT_EQ(cb.resource_key, "svc:report");
  EXPECT_EQ(cb.tags, std::vector<std::string>{"callback"});
  EXPECT_EQ(cb.cost, 2);

  // args: its own, plus `batch` = the batch JSON as GET answers it.
  const nlohmann::json args = nlohmann::json::parse(cb.args);
  EXPECT_EQ(args["query"], "q");
  EXPECT_EQ(args["batch"], nlohmann::json::parse(EncodeBatchJson(b)));
  EXPECT_EQ(args["batch"]["callback_job_id"], FormatJobId(cb.id));
  ASSERT_EQ(args["batch"]["members"].size(), 2u);
  for (const nlohmann::json& m : args["batch"]["members"]) {
    EXPECT_EQ(m["state"], "succeeded");
    EXPECT_EQ(m["result"], nlohmann::json::parse(R"({"rows":3})"));
    // Leased at kT0; the first lease completed at 1 s, the second at 3 s.
    EXPECT_EQ(m["duration_s"], m["id"] == FormatJobId(leased[0].id) ? 1.0 : 3.0);
  }

  ASSERT_EQ(finished_.size(), 1u);
  EXPECT_EQ(finished_.front().id, ins.id);
  EXPECT_EQ(finished_.front().callback_job_id, b.callback_job_id);

  // The same completes again (an idempotent retry) change nothing.
  Complete(leased[1], kT0 + seconds(4));
  EXPECT_EQ(JobsOfKind("summarize").size(), 1u);
  EXPECT_EQ(finished_.size(), 1u);
}

TEST_P(StoreBatchContractTest, MinSucceededDecidesTheStateAndEveryOutcomeIsInTheBatch) {
  NewBatch nb = Batch(3);
  nb.min_succeeded = 3;
  const InsertedBatch ins = Insert(nb);
  std::vector<Job> leased = Lease(3);
  ASSERT_EQ(leased.size(), 3u);
  Complete(leased[0], kT0 + seconds(1));
  FailFinal(leased[1], kT0 + seconds(2));
  Complete(leased[2], kT0 + seconds(3));

  const BatchInfo b = Read(ins.id);
  EXPECT_EQ(b.state, BatchState::kFailed);  // 2 of 3 succeeded, 3 needed
  EXPECT_EQ(b.counts[static_cast<std::size_t>(JobState::kSucceeded)], 2);
  EXPECT_EQ(b.counts[static_cast<std::size_t>(JobState::kFailed)], 1);
  const auto failed =
      std::find_if(b.members.begin(), b.members.end(), [&](const BatchMember& m) { return m.id == leased[1].id; });
  ASSERT_NE(failed, b.members.end());
  EXPECT_EQ(failed->state, JobState::kFailed);
  EXPECT_EQ(failed->error_class, ErrorClass::kPermanent);
  EXPECT_EQ(failed->error_message, "source answered 404");
  EXPECT_EQ(JobsOfKind("summarize").size(), 1u);
}

TEST_P(StoreBatchContractTest, AFailureThatEndsTheLastMemberFinishesTheBatch) {
  NewBatch nb = Batch(2);
  nb.min_succeeded = 1;
  const InsertedBatch ins = Insert(nb);
  std::vector<Job> leased = Lease(2);
  ASSERT_EQ(leased.size(), 2u);
  Complete(leased[0], kT0 + seconds(1));
  FailFinal(leased[1], kT0 + seconds(2));
  const BatchInfo b = Read(ins.id);
  EXPECT_EQ(b.state, BatchState::kSucceeded);  // 1 of 2, 1 needed
  EXPECT_EQ(b.finished_at, kT0 + seconds(2));
  EXPECT_EQ(JobsOfKind("summarize").size(), 1u);
}

TEST_P(StoreBatchContractTest, ARetryableFailureKeepsTheMemberOpen) {
  const InsertedBatch ins = Insert(Batch(1));
  std::vector<Job> leased = Lease(1);
  ASSERT_EQ(leased.size(), 1u);
  Failure f;
  f.error_class = ErrorClass::kTransient;
  f.message = "connection reset";
  std::mt19937_64 rng(1);
  auto c = PlanFailure(leased[0], f, kT0 + seconds(1), BackoffPolicy{}, rng);
  ASSERT_TRUE(c.ok());
  ASSERT_FALSE(IsTerminal(c->to));
  ASSERT_TRUE(store_->JobApplyMany({{*c}, kT0 + seconds(1)}).ok());
  EXPECT_EQ(Read(ins.id).state, BatchState::kRunning);
  EXPECT_TRUE(JobsOfKind("summarize").empty());
}

TEST_P(StoreBatchContractTest, AMemberRetriedWhileTheBatchRunsCountsAsOpenAgain) {
  NewBatch nb = Batch(2);
  nb.min_succeeded = 1;
  const InsertedBatch ins = Insert(nb);
  std::vector<Job> leased = Lease(1);
  ASSERT_EQ(leased.size(), 1u);
  FailFinal(leased[0], kT0 + seconds(1));
  // Retried by a person: failed -> available.
  auto failed = store_->JobGet(leased[0].id);
  ASSERT_TRUE(failed.ok());
  auto retry = PlanRetry(*failed, kT0 + seconds(2));
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  ASSERT_TRUE(store_->JobApplyMany({{*retry}, kT0 + seconds(2)}).ok());

  std::vector<Job> second = Lease(2, kT0 + seconds(3));
  ASSERT_EQ(second.size(), 2u);
  Complete(second[0], kT0 + seconds(4));
  EXPECT_EQ(Read(ins.id).state, BatchState::kRunning) << "the retried member is open again";
  Complete(second[1], kT0 + seconds(5));
  EXPECT_EQ(Read(ins.id).state, BatchState::kSucceeded);
  EXPECT_EQ(JobsOfKind("summarize").size(), 1u);
}

TEST_P(StoreBatchContractTest, DeletingTheLastOpenMemberFinishesTheBatch) {
  NewBatch nb = Batch(2);
  nb.min_succeeded = 1;
  const InsertedBatch ins = Insert(nb);
  std::vector<Job> leased = Lease(1);
  ASSERT_EQ(leased.size(), 1u);
  Complete(leased[0], kT0 + seconds(1));
  const JobId waiting = leased[0].id == ins.member_ids[0] ? ins.member_ids[1] : ins.member_ids[0];
  ASSERT_TRUE(store_->JobDelete(waiting, kT0 + seconds(2)).ok());
  const BatchInfo b = Read(ins.id);
  EXPECT_EQ(b.state, BatchState::kSucceeded);
  EXPECT_EQ(b.members.size(), 1u);  // a deleted member is gone
  EXPECT_EQ(JobsOfKind("summarize").size(), 1u);
}

TEST_P(StoreBatchContractTest, DeleteManyOfOpenMembersFinishesTheBatch) {
  const InsertedBatch ins = Insert(Batch(3, /*callback=*/false));
  auto n = store_->JobDeleteMany({.states = {JobState::kAvailable}, .limit = 100, .now = kT0 + seconds(1)});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 3);
  const BatchInfo b = Read(ins.id);
  EXPECT_EQ(b.state, BatchState::kFailed);
  EXPECT_FALSE(b.callback_job_id);
  EXPECT_EQ(finished_.size(), 1u);
}

TEST_P(StoreBatchContractTest, AMemberWhoseUniqueKeyIsHeldRefusesTheWholeBatch) {
  NewJob holder = Member("fetch");
  holder.unique_key = "src:a";
  ASSERT_TRUE(store_->JobInsertMany({{holder}, kT0}).ok());
  NewBatch nb = Batch(3);
  nb.members[2].unique_key = "src:a";
  auto r = store_->BatchInsert(nb, kT0);
  ASSERT_EQ(r.status().code(), StatusCode::kConflict) << r.status().ToString();
  EXPECT_NE(r.status().message().find("jobs[2].unique_key"), std::string::npos) << r.status().message();
  auto all = store_->JobList({.limit = 100});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);  // nothing of the batch was written
  auto batches = store_->BatchList({});
  ASSERT_TRUE(batches.ok());
  EXPECT_TRUE(batches->empty());
}

TEST_P(StoreBatchContractTest, ListIsNewestFirstWithAStateFilterAndACursor) {
  const InsertedBatch a = Insert(Batch(1));
  const InsertedBatch b = Insert(Batch(1));
  const InsertedBatch c = Insert(Batch(1));
  // Finish b.
  ASSERT_TRUE(store_->JobDelete(b.member_ids[0], kT0 + seconds(1)).ok());

  auto all = store_->BatchList({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, c.id);
  EXPECT_EQ((*all)[2].id, a.id);
  EXPECT_TRUE((*all)[0].members.empty());
  EXPECT_EQ((*all)[0].counts[static_cast<std::size_t>(JobState::kAvailable)], 1);

  auto running = store_->BatchList({.state = BatchState::kRunning});
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running->size(), 2u);
  EXPECT_EQ((*running)[0].id, c.id);
  EXPECT_EQ((*running)[1].id, a.id);

  auto page = store_->BatchList({.before_id = c.id, .limit = 1});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ(page->front().id, b.id);

  auto counts = store_->BatchStateCounts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[static_cast<std::size_t>(BatchState::kRunning)], 2);
  EXPECT_EQ((*counts)[static_cast<std::size_t>(BatchState::kFailed)], 1);
}

TEST_P(StoreBatchContractTest, TwoStoresEndingTheLastMembersTogetherEnqueueOneCallback) {
  const InsertedBatch ins = Insert(Batch(2));
  std::unique_ptr<Store> other = Open();
  std::vector<Job> leased = Lease(2);
  ASSERT_EQ(leased.size(), 2u);
  std::thread t([&] {
    auto r = other->JobCompleteMany({{{leased[1].id, leased[1].lease_token, "null"}}, kT0 + seconds(2)});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  });
  Complete(leased[0], kT0 + seconds(2));
  t.join();
  EXPECT_EQ(Read(ins.id).state, BatchState::kSucceeded);
  EXPECT_EQ(JobsOfKind("summarize").size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Drivers, StoreBatchContractTest, ::testing::Values(testing::SqliteStoreFactory()),
                         [](const ::testing::TestParamInfo<StoreFactory>& p) { return p.param.name; });

}  // namespace
}  // namespace jobwarden
