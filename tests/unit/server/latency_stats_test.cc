// The latency breakdown: wait (due -> start), run (start -> end of the
// attempt) and total (enqueue -> finish) per queue and kind, over a window of
// minutes, from the engine's events, including completions that carry no
// queue or kind; and the per-queue Prometheus histograms.
#include "server/latency_stats.h"

#include <gtest/gtest.h>

#include "testutil/fake_clock.h"

namespace jobwarden::server {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;

JobEventRecord Start(JobId id, const std::string& queue, const std::string& kind, Timestamp at, Duration waited,
                     Duration since_created) {
  JobEventRecord e(id, kind, queue, JobState::kAvailable, JobState::kRunning, std::nullopt, "", at);
  e.due_at = at - waited;
  e.created_at = at - since_created;
  return e;
}

// What EmitCompleted reports: no kind, no queue.
JobEventRecord Done(JobId id, Timestamp at, JobState to = JobState::kSucceeded) {
  return JobEventRecord(id, "", "", JobState::kRunning, to, std::nullopt, "", at);
}

TEST(LatencyStatsTest, WaitRunAndTotalPerQueueAndKind) {
  FakeClock clock;
  LatencyStats stats(clock);
  const Timestamp t0 = clock.Now();
  // 100 "resize" jobs in "media": waited i ms, ran 10 * i ms, created 1 s before their start.
  for (int i = 1; i <= 100; ++i) {
    stats.OnJobEvent(Start(i, "media", "resize", t0, Duration(i), 1s));
    stats.OnJobEvent(Done(i, t0 + Duration(10 * i)));
  }
  // One "email" job in "mail" that is retried: its run counts twice, its total once.
  stats.OnJobEvent(Start(500, "mail", "email", t0, 2s, 2s));
  stats.OnJobEvent(JobEventRecord(500, "email", "mail", JobState::kRunning, JobState::kAvailable,
                                  ErrorClass::kTransient, "", t0 + 3s));
  stats.OnJobEvent(Start(500, "mail", "email", t0 + 4s, 1s, 6s));
  stats.OnJobEvent(Done(500, t0 + 5s, JobState::kFailed));

  const auto groups = stats.Window(5min);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].queue, "mail");
  EXPECT_EQ(groups[0].kind, "email");
  EXPECT_EQ(groups[0].wait.count, 2);
  EXPECT_EQ(groups[0].run.count, 2);
  EXPECT_EQ(groups[0].total.count, 1);
  EXPECT_NEAR(groups[0].total.p50_s, 7.0, 7.0 * 0.06) << "created 2 s before t0, failed at t0 + 5 s";

  const auto& media = groups[1];
  EXPECT_EQ(media.queue, "media");
  EXPECT_EQ(media.wait.count, 100);
  EXPECT_EQ(media.run.count, 100);
  EXPECT_EQ(media.total.count, 100);
  // Within the buckets' 5% (checked with 6%): the 50th and 95th of 1..100 ms, and of 10..1000 ms.
  EXPECT_NEAR(media.wait.p50_s, 0.050, 0.050 * 0.06);
  EXPECT_NEAR(media.wait.p95_s, 0.095, 0.095 * 0.06);
  EXPECT_NEAR(media.run.p50_s, 0.500, 0.500 * 0.06);
  EXPECT_NEAR(media.run.p95_s, 0.950, 0.950 * 0.06);
  EXPECT_NEAR(media.total.p95_s, 1.950, 1.950 * 0.06);
}

TEST(LatencyStatsTest, TheWindowDropsOldMinutes) {
  FakeClock clock;
  LatencyStats stats(clock);
  stats.OnJobEvent(Start(1, "q", "old", clock.Now(), 1s, 1s));
  clock.Advance(10min);
  stats.OnJobEvent(Start(2, "q", "new", clock.Now(), 2s, 2s));
  auto recent = stats.Window(5min);
  ASSERT_EQ(recent.size(), 1u);
  EXPECT_EQ(recent[0].kind, "new");
  EXPECT_EQ(stats.Window(15min).size(), 2u);
  clock.Advance(20min);
  EXPECT_TRUE(stats.Window(15min).empty());
  EXPECT_EQ(stats.Window(0s).size(), 0u) << "the current minute only, and nothing happened in it";
}

TEST(LatencyStatsTest, AnAttemptStartedBeforeTheServerIsNotCounted) {
  FakeClock clock;
  LatencyStats stats(clock);
  stats.OnJobEvent(Done(77, clock.Now()));
  EXPECT_TRUE(stats.Window(5min).empty());
}

TEST(LatencyStatsTest, PrometheusHistogramsPerQueue) {
  FakeClock clock;
  LatencyStats stats(clock);
  const Timestamp t0 = clock.Now();
  stats.OnJobEvent(Start(1, "media", "resize", t0, 20ms, 1s));
  stats.OnJobEvent(Done(1, t0 + 3s));
  stats.OnJobEvent(Start(2, "media", "resize", t0, 2s, 1s));
  std::string text;
  stats.AppendMetrics(text);
  EXPECT_NE(text.find("# TYPE jobwarden_job_wait_seconds histogram"), std::string::npos) << text;
  EXPECT_NE(text.find("jobwarden_job_wait_seconds_bucket{queue=\"media\",le=\"0.01\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("jobwarden_job_wait_seconds_bucket{queue=\"media\",le=\"0.025\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("jobwarden_job_wait_seconds_bucket{queue=\"media\",le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("jobwarden_job_wait_seconds_count{queue=\"media\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("jobwarden_job_run_seconds_bucket{queue=\"media\",le=\"2.5\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("jobwarden_job_run_seconds_bucket{queue=\"media\",le=\"5\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("jobwarden_job_run_seconds_sum{queue=\"media\"} 3.000000\n"), std::string::npos);
}

}  // namespace
}  // namespace jobwarden::server
