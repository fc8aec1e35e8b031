// What the server says about a running job (DESIGN.md "Dashboard and
// observability"): `at_risk` in its JSON and in `doctor` once its progress
// rate projects a finish after its nearest limit, the lease TTL in
// `jobwarden status` against a server, and the latency breakdown (wait, run,
// enqueue -> finish per queue and kind) in GET /v1/latency and /metrics.
#include <thread>

#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

TEST(ServerObserveTest, ABehindPaceJobIsAtRiskInItsJsonAndInDoctor) {
  ServerProcess server;
  server.Start();
  const std::string id = server.Enqueue({{"kind", "crawl"}, {"timeout_s", 600}});
  const std::string worker = server.Register();
  json job = server.FetchOne(worker, {{"lease_ttl_s", 30}});
  ASSERT_FALSE(job.is_null()) << server.Stderr();
  EXPECT_TRUE(server.Get("/v1/jobs/" + id).body["at_risk"].is_null());

  // 1 of 100 000 pages after a moment: at that rate it cannot end within 600 s.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Reply hb =
      server.Post("/v1/worker/heartbeat", {{"worker_id", worker},
                                           {"jobs",
                                            {{{"id", id},
                                              {"token", job["lease"]["token"]},
                                              {"progress", {{"done", 1}, {"total", 100000}, {"message", "pages"}}}}}}});
  ASSERT_EQ(hb.status, 200) << hb.raw;
  const json got = server.Get("/v1/jobs/" + id).body;
  ASSERT_TRUE(got["at_risk"].is_object()) << got.dump();
  EXPECT_EQ(got["at_risk"]["limit"], "timeout");
  EXPECT_GT(got["at_risk"]["projected_finish_at"].get<std::string>(), got["at_risk"]["limit_at"].get<std::string>());

  CommandResult doctor = RunCli({"doctor", "--server", server.url()});
  EXPECT_NE(doctor.out.find("projected to finish at"), std::string::npos) << doctor.out << doctor.err;
  EXPECT_NE(doctor.out.find("after its timeout"), std::string::npos) << doctor.out;

  // The lease TTL survives the remote path (it was shown as 0 ms).
  CommandResult status = RunCli({"status", id, "--server", server.url()});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("(TTL 30"), std::string::npos) << status.out;
}

TEST(ServerObserveTest, LatencyBreakdownPerQueueAndKindAndPerQueueHistograms) {
  ServerProcess server;
  server.Start();
  const std::string worker = server.Register("", {"media"});
  constexpr int kJobs = 4;
  for (int i = 0; i < kJobs; ++i) server.Enqueue({{"kind", "resize"}, {"queue", "media"}});
  server.Enqueue({{"kind", "other"}, {"queue", "media"}});      // never started: in no figure
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // they wait at least this
  for (int i = 0; i < kJobs; ++i) {
    json job = server.FetchOne(worker, {{"queues", {"media"}}});  // oldest first: the resize jobs
    ASSERT_FALSE(job.is_null());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // and run at least this
    Reply done = server.Post("/v1/worker/complete", {{"id", job["id"]}, {"token", job["lease"]["token"]}});
    ASSERT_EQ(done.status, 200) << done.raw;
  }

  Reply r = server.Get("/v1/latency?window_s=300");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["window_s"], 300);
  ASSERT_EQ(r.body["groups"].size(), 1u) << r.raw;
  const json& g = r.body["groups"][0];
  EXPECT_EQ(g["queue"], "media");
  EXPECT_EQ(g["kind"], "resize");
  EXPECT_EQ(g["wait"]["count"], kJobs);
  EXPECT_EQ(g["run"]["count"], kJobs);
  EXPECT_EQ(g["total"]["count"], kJobs);
  // Lower bounds only (the buckets are within 5%): waits grow as the jobs are taken one by one.
  EXPECT_GE(g["wait"]["p50_s"].get<double>(), 0.3 * 0.95) << g.dump();
  EXPECT_GE(g["run"]["p50_s"].get<double>(), 0.2 * 0.95) << g.dump();
  EXPECT_GE(g["total"]["p95_s"].get<double>(), g["run"]["p95_s"].get<double>()) << g.dump();
  EXPECT_EQ(server.Get("/v1/latency").body["window_s"], 300) << "5 minutes by default";

  Reply metrics = server.Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.raw.find("jobwarden_job_run_seconds_count{queue=\"media\"} 4\n"), std::string::npos) << metrics.raw;
  EXPECT_NE(metrics.raw.find("jobwarden_job_wait_seconds_bucket{queue=\"media\",le=\"0.25\"} 0\n"), std::string::npos)
      << "every wait was over 0.3 s";

  for (const std::string bad : {"window_s=soon", "window_s=901", "window=60"}) {
    EXPECT_EQ(server.Get("/v1/latency?" + bad).status, 400) << bad;
  }
}

}  // namespace
}  // namespace jobwarden::testing
