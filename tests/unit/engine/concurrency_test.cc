// 8 threads fetch (in batches) and complete 20,000 jobs on a real SQLite file
// with the real clock, a reaper running beside them: every job is leased once
// and completes exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine/reaper.h"
#include "unit/engine/engine_helpers.h"

namespace jobwarden::testing {
namespace {

constexpr int kJobs = 20'000;
constexpr int kThreads = 8;
constexpr int kBatch = 16;

TEST(ConcurrencyTest, EightThreadsFetchAndCompleteTwentyThousandJobsExactlyOnce) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenTestStore(dir);
  SystemClock clock;
  Engine engine(*store, clock, {.rng_seed = 1});
  for (int chunk = 0; chunk < kJobs / kMaxBulkJobs; ++chunk) {
    std::vector<EnqueueRequest> reqs(kMaxBulkJobs, MakeJob({.queue = chunk % 2 ? "b" : "a"}));
    auto r = engine.EnqueueMany(reqs);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  auto listed = engine.List({.limit = 1});
  ASSERT_TRUE(listed.ok() && listed->size() == 1);
  const JobId first_id = listed->front().id;

  std::vector<std::atomic<int>> leased(kJobs), completed(kJobs);
  std::atomic<int> errors{0};
  Reaper reaper(engine, std::chrono::milliseconds(20));
  reaper.Start();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string worker = "w" + std::to_string(t);
      while (true) {
        auto jobs = engine.Fetch(
            {.queues = {"a", "b"}, .max = kBatch, .lease_ttl = std::chrono::minutes(10), .worker_id = worker});
        if (!jobs.ok()) {
          ++errors;
          ADD_FAILURE() << jobs.status().ToString();
          return;
        }
        if (jobs->empty()) return;
        std::vector<CompleteRequest> done;
        for (const Job& j : *jobs) {
          leased[static_cast<std::size_t>(j.id - first_id)]++;
          done.push_back({j.id, j.lease_token, "{\"by\":\"" + worker + "\"}", std::nullopt, std::nullopt});
        }
        if (t % 2 == 0) {  // half the workers complete the batch in one call, half one by one
          auto results = engine.CompleteMany(done);
          if (!results.ok()) {
            ++errors;
            ADD_FAILURE() << results.status().ToString();
            return;
          }
          for (std::size_t i = 0; i < done.size(); ++i) {
            if ((*results)[i].ok()) {
              completed[static_cast<std::size_t>(done[i].id - first_id)]++;
            } else {
              ++errors;
            }
          }
        } else {
          for (const CompleteRequest& c : done) {
            if (engine.Complete(c).ok()) {
              completed[static_cast<std::size_t>(c.id - first_id)]++;
            } else {
              ++errors;
            }
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  reaper.Stop();

  EXPECT_EQ(errors.load(), 0);
  int leased_once = 0, completed_once = 0;
  for (int i = 0; i < kJobs; ++i) {
    leased_once += leased[static_cast<std::size_t>(i)].load() == 1;
    completed_once += completed[static_cast<std::size_t>(i)].load() == 1;
  }
  EXPECT_EQ(leased_once, kJobs);
  EXPECT_EQ(completed_once, kJobs);

  auto qs = engine.Queues();
  ASSERT_TRUE(qs.ok());
  std::int64_t succeeded = 0, other = 0;
  for (const QueueInfo& q : *qs) {
    for (JobState s : kAllJobStates) {
      (s == JobState::kSucceeded ? succeeded : other) += q.counts[static_cast<std::size_t>(s)];
    }
  }
  EXPECT_EQ(succeeded, kJobs);
  EXPECT_EQ(other, 0);
  // Final rows: succeeded on their first attempt, no error entry, a result from one worker.
  JobListParams lp{.state = JobState::kSucceeded, .limit = 10'000, .with_errors = true};
  int checked = 0;
  while (true) {
    auto page = engine.List(lp);
    ASSERT_TRUE(page.ok());
    for (const Job& j : *page) {
      ASSERT_EQ(j.attempt, 1) << j.id;
      ASSERT_TRUE(j.errors.empty()) << j.id;
      ASSERT_TRUE(j.result.has_value()) << j.id;
      ASSERT_EQ(j.result->rfind("{\"by\":\"w", 0), 0u) << *j.result;
      ++checked;
    }
    if (page->size() < 10'000u) break;
    lp.after_id = page->back().id;
  }
  EXPECT_EQ(checked, kJobs);
}

}  // namespace
}  // namespace jobwarden::testing
