// The CLI's flow-control commands in remote mode (--server): queue set,
// resource set (a key with '/' travels percent-encoded), resources and
// doctor's held reasons, with the output of local mode (cli_flow_test.cc).
#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

class ServerFlowCliTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.Start(); }
  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.end(), {"--server", server_.url()});
    return RunCli(args);
  }
  ServerProcess server_;
};

TEST_F(ServerFlowCliTest, QueueSetResourceSetResourcesAndDoctorThroughTheServer) {
  CommandResult q = Cli({"queue", "set", "uploads", "--concurrency", "1", "--warn-depth", "50", "--warn-age", "5m"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_EQ(q.out, "queue uploads: concurrency 1, warn_depth 50, warn_age 5m\n");
  CommandResult off = Cli({"queue", "set", "uploads", "--warn-depth", "off", "--json"});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  const json qj = json::parse(off.out);
  EXPECT_EQ(qj["concurrency"], 1);
  EXPECT_TRUE(qj["warn_depth"].is_null());
  EXPECT_EQ(qj["warn_age_s"], 300.0);

  CommandResult r = Cli({"resource", "set", "host:a/b", "--rate", "10/s", "--burst", "20", "--concurrency", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "resource host:a/b: concurrency 2, rate 10/s (burst 20), no breaker\n");
  EXPECT_EQ(server_.Get("/v1/resources/host:a%2Fb").body["rate"], "10/s");
  CommandResult list = Cli({"resources", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const json rj = json::parse(list.out);
  ASSERT_TRUE(rj.is_array());
  bool found = false;
  for (const json& one : rj) found = found || one["key"] == "host:a/b";
  EXPECT_TRUE(found) << list.out;
  CommandResult table = Cli({"resources"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("host:a/b"), std::string::npos) << table.out;

  // Refusals from the server name the flag (exit 2).
  CommandResult burst = Cli({"resource", "set", "host:c", "--burst", "5"});
  EXPECT_EQ(burst.exit_code, 2) << burst.err;
  EXPECT_NE(burst.err.find("--burst"), std::string::npos) << burst.err;

  server_.Enqueue({{"kind", "k"}, {"queue", "uploads"}});
  ASSERT_EQ(server_.Post("/v1/queues/uploads/pause", json::object()).status, 200);
  CommandResult doctor = Cli({"doctor"});
  ASSERT_EQ(doctor.exit_code, 0) << doctor.err;
  EXPECT_NE(doctor.out.find("queue uploads: 1 available; queue paused"), std::string::npos) << doctor.out;
}

// An open breaker: `doctor` names it among what holds the queue's jobs, and
// `resources` shows it open with the failed run.
TEST_F(ServerFlowCliTest, DoctorAndResourcesShowAnOpenBreaker) {
  ASSERT_EQ(Cli({"resource", "set", "api:flaky", "--breaker-failures", "1", "--breaker-cooldown", "1m"}).exit_code, 0);
  server_.Enqueue({{"kind", "k"}, {"resource_key", "api:flaky"}});
  server_.Enqueue({{"kind", "k"}, {"resource_key", "api:flaky"}});
  const std::string worker = server_.Register();
  json job = server_.FetchOne(worker, {{"lease_ttl_s", 60}});
  ASSERT_FALSE(job.is_null());
  ASSERT_EQ(server_
                .Post("/v1/worker/fail", {{"id", job["id"]},
                                          {"token", job["lease"]["token"]},
                                          {"error", {{"class", "transient"}, {"message", "503 from api"}}}})
                .status,
            200);
  ASSERT_EQ(server_.Get("/v1/resources/api:flaky").body["breaker"]["state"], "open");

  CommandResult doctor = Cli({"doctor"});
  ASSERT_EQ(doctor.exit_code, 0) << doctor.err;
  EXPECT_NE(doctor.out.find("queue default: 1 available; 1 held: resource api:flaky breaker open until"),
            std::string::npos)
      << doctor.out;
  CommandResult table = Cli({"resources"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("open (in "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("0% (0/1)"), std::string::npos) << table.out;
}

}  // namespace
}  // namespace jobwarden::testing
