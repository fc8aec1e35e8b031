// Queues, workers, admin reset-stuck, probes and metrics through a real server.
#include <future>

#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

class ServerQueuesTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.Start(); }
  ServerProcess server_;
};

TEST_F(ServerQueuesTest, QueuesListCountsAndPauseResumeWakesWaiters) {
  for (int i = 0; i < 3; ++i) server_.Enqueue({{"kind", "k"}, {"queue", "mail"}});
  server_.Enqueue({{"kind", "k"}, {"queue", "mail"}, {"delay_s", 600}});
  Reply q = server_.Get("/v1/queues");
  ASSERT_EQ(q.status, 200) << q.raw;
  json mail;
  for (const json& one : q.body["queues"]) {
    if (one["name"] == "mail") mail = one;
  }
  ASSERT_FALSE(mail.is_null()) << q.raw;
  EXPECT_EQ(mail["counts"]["available"], 3);
  EXPECT_EQ(mail["counts"]["scheduled"], 1);
  EXPECT_EQ(mail["counts"]["running"], 0);
  EXPECT_EQ(mail["paused"], false);
  EXPECT_TRUE(mail["oldest_available_age_s"].is_number());

  Reply paused = server_.Post("/v1/queues/mail/pause", json::object());
  ASSERT_EQ(paused.status, 200) << paused.raw;
  EXPECT_EQ(paused.body["paused"], true);
  const std::string worker = server_.Register("", {"mail"});
  EXPECT_TRUE(server_.FetchOne(worker, {{"queues", {"mail"}}}).is_null()) << "a paused queue hands out nothing";

  // A fetch waiting on the paused queue gets a job as soon as it is resumed.
  auto poll = std::async(std::launch::async, [&] {
    return server_.Post("/v1/worker/fetch", {{"worker_id", worker}, {"queues", {"mail"}}, {"wait_ms", 20'000}});
  });
  std::this_thread::sleep_for(Millis(300));
  const auto resumed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(server_.Post("/v1/queues/mail/resume", json::object()).status, 200);
  Reply got = poll.get();
  const auto waited = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - resumed_at).count();
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body["jobs"].size(), 1u);
  EXPECT_LT(waited, 2000);

  Reply bad = server_.Post("/v1/queues/bad%20name/pause", json::object());
  EXPECT_EQ(bad.status, 400) << bad.raw;
}

TEST_F(ServerQueuesTest, WorkersListAndResetStuck) {
  const std::string worker = server_.Register();
  Reply workers = server_.Get("/v1/workers");
  ASSERT_EQ(workers.status, 200);
  ASSERT_EQ(workers.body["workers"].size(), 1u);
  const json& w = workers.body["workers"][0];
  EXPECT_EQ(w["id"], worker);
  EXPECT_EQ(w["host"], "test-host");
  EXPECT_EQ(w["pid"], 4242);
  EXPECT_EQ(w["slots"], 4);
  EXPECT_EQ(w["queues"], json({"default"}));
  for (const char* f : {"busy", "last_seen", "started_at", "session_open"}) EXPECT_TRUE(w.contains(f)) << f;

  const std::string id = server_.Enqueue({{"kind", "k"}});
  ASSERT_FALSE(server_.FetchOne(worker, {{"lease_ttl_s", 600}}).is_null());
  Reply missing = server_.Post("/v1/admin/reset-stuck", json::object());
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(Message(missing).rfind("older_than_s: required", 0), 0u);
  Reply young = server_.Post("/v1/admin/reset-stuck", {{"older_than_s", 3600}});
  ASSERT_EQ(young.status, 200);
  EXPECT_EQ(young.body["reset_count"], 0);
  Reply reset = server_.Post("/v1/admin/reset-stuck", {{"older_than_s", 0}});
  ASSERT_EQ(reset.status, 200) << reset.raw;
  EXPECT_EQ(reset.body["reset_count"], 1);
  EXPECT_EQ(reset.body["job_ids"], json({id}));
  Reply job = server_.Get("/v1/jobs/" + id);
  EXPECT_EQ(job.body["state"], "available");
  EXPECT_EQ(job.body["errors"][0]["class"], "lease_expired");
}

TEST_F(ServerQueuesTest, ProbesAndMetrics) {
  EXPECT_EQ(server_.Get("/healthz").status, 200);
  Reply ready = server_.Get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body["status"], "ready");

  const std::string worker = server_.Register();
  server_.Enqueue({{"kind", "k"}, {"queue", "m"}});
  server_.Enqueue({{"kind", "k"}});
  json job = server_.FetchOne(worker);
  ASSERT_FALSE(job.is_null());
  ASSERT_EQ(server_
                .Post("/v1/worker/fail", {{"id", job["id"]},
                                          {"token", job["lease"]["token"]},
                                          {"error", {{"class", "permanent"}, {"message", "no"}}}})
                .status,
            200);
  server_.Get("/v1/jobs/999999");

  auto res = server_.Client()->Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain", 0), 0u);
  const std::string& text = res->body;
  for (const char* needle : {
           "jobwarden_jobs{queue=\"m\",state=\"available\"} 1",
           "jobwarden_jobs{queue=\"default\",state=\"failed\"} 1",
           "jobwarden_jobs_running 0",
           "jobwarden_queue_oldest_available_age_seconds{queue=\"m\"}",
           "jobwarden_job_completions_total 0",
           "jobwarden_job_failures_total{class=\"permanent\"} 1",
           "jobwarden_lease_expirations_total 0",
           "jobwarden_http_requests_total{method=\"GET\",route=\"/v1/jobs/{id}\",status=\"404\"} 1",
           "jobwarden_http_requests_total{method=\"POST\",route=\"/v1/jobs\",status=\"201\"} 2",
       }) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle << "\n" << text;
  }
}

}  // namespace
}  // namespace jobwarden::testing
