// Failure groups through the server and the CLI (DESIGN.md "Dashboard and
// observability"): failed attempts whose messages differ only in numbers and
// paths are one group on GET /v1/failures and in `jobwarden failures`.
#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

TEST(ServerFailuresTest, FailedAttemptsAreGroupedByPatternOnTheApiAndTheCli) {
  ServerProcess server;
  server.Start();
  for (int i = 0; i < 12; ++i) server.Enqueue({{"kind", i < 10 ? "resize" : "thumb"}, {"max_attempts", 1}});
  server.Enqueue({{"kind", "upload"}, {"max_attempts", 1}});
  const std::string worker = server.Register();
  for (int i = 0; i < 13; ++i) {
    json job = server.FetchOne(worker, {{"lease_ttl_s", 60}});
    ASSERT_FALSE(job.is_null()) << server.Stderr();
    const std::string message = job["kind"] == "upload" ? std::string("bucket 'media' does not exist")
                                                        : "timeout after " + std::to_string(30 + i) +
                                                              "s on /data/img_" + std::to_string(4400 + i) + ".jpg";
    const std::string cls = job["kind"] == "upload" ? "permanent" : "transient";
    ASSERT_EQ(server
                  .Post("/v1/worker/fail", {{"id", job["id"]},
                                            {"token", job["lease"]["token"]},
                                            {"error", {{"class", cls}, {"message", message}}}})
                  .status,
              200);
  }

  Reply r = server.Get("/v1/failures");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["attempts"], 13);
  EXPECT_EQ(r.body["truncated"], false);
  ASSERT_EQ(r.body["failures"].size(), 2u) << r.raw;
  const json big = r.body["failures"][0];
  EXPECT_EQ(big["pattern"], "timeout after <n>s on <path>");
  EXPECT_EQ(big["class"], "transient");
  EXPECT_EQ(big["count"], 12);
  EXPECT_EQ(big["kinds"], json::array({"resize", "thumb"}));
  EXPECT_EQ(big["sample_job_ids"].size(), 5u);
  EXPECT_TRUE(big["first_at"].is_string());
  EXPECT_EQ(r.body["failures"][1]["pattern"], "bucket '<str>' does not exist");

  // A window that starts after them has none; bad input names the parameter.
  Reply later = server.Get("/v1/failures?since=2999-01-01T00:00:00Z");
  ASSERT_EQ(later.status, 200) << later.raw;
  EXPECT_TRUE(later.body["failures"].empty());
  EXPECT_EQ(server.Get("/v1/failures?since=yesterday").status, 400);
  EXPECT_EQ(server.Get("/v1/failures?limit=0").status, 400);
  EXPECT_EQ(server.Get("/v1/failures?limit=1").body["failures"].size(), 1u);

  CommandResult cli = RunCli({"failures", "--server", server.url()});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("timeout after <n>s on <path>"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("13 failed attempts"), std::string::npos) << cli.out;
  CommandResult as_json = RunCli({"failures", "--json", "--since", "1h", "--server", server.url()});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  EXPECT_EQ(json::parse(as_json.out).size(), 2u);
  EXPECT_EQ(RunCli({"failures", "--since", "soon", "--server", server.url()}).exit_code, 2);

  // The same from the database file.
  ASSERT_EQ(server.Stop(), 0);
  CommandResult local = RunCli({"failures", "--json", "--db", server.db(), "--local"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(json::parse(local.out)[0]["count"], 12);
}

}  // namespace
}  // namespace jobwarden::testing
