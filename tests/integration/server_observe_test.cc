// What the server says about a running job (DESIGN.md "Dashboard and
// observability"): `at_risk` in its JSON and in `doctor` once its progress
// rate projects a finish after its nearest limit, and the lease TTL in
// `jobwarden status` against a server.
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

}  // namespace
}  // namespace jobwarden::testing
