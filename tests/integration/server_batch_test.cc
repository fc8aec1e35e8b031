// Batches through the server's API and the CLI (DESIGN.md "Batches"): the
// routes and their errors (400 naming the member, nothing written), the
// `batch` events, the metrics, and `jobwarden batch submit|status|ls` against
// a server and against the database file (exit 2 on bad input).
#include <fstream>

#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

json Body(int members) {
  json b = {{"name", "scrape"},
            {"deadline_s", 600},
            {"callback", {{"kind", "summarize"}, {"args", {{"query", "q"}}}}},
            {"jobs", json::array()}};
  for (int i = 0; i < members; ++i) b["jobs"].push_back({{"kind", "fetch"}, {"args", {{"n", i}}}});
  return b;
}

TEST(ServerBatchTest, SubmitGetListEventsAndMetrics) {
  ServerProcess server;
  server.Start();
  SseClient events(server.port(), "/v1/events");
  ASSERT_TRUE(events.WaitConnected());

  Reply created = server.Post("/v1/batches", Body(3));
  ASSERT_EQ(created.status, 201) << created.raw;
  const std::string id = created.body["id"];
  EXPECT_EQ(created.body["state"], "running");
  EXPECT_EQ(created.body["total"], 3);
  EXPECT_EQ(created.body["min_succeeded"], 3);
  EXPECT_EQ(created.body["counts"]["available"], 3);
  ASSERT_EQ(created.body["members"].size(), 3u);
  const json member = server.Get("/v1/jobs/" + created.body["members"][0]["id"].get<std::string>()).body;
  EXPECT_EQ(member["batch_id"], id);
  EXPECT_EQ(member["deadline_at"], created.body["deadline_at"]);
  EXPECT_TRUE(events.WaitFor(
      "batch", [&](const json& d) { return d.value("id", "") == id && d.value("state", "") == "running"; },
      Millis(5000)));

  Reply got = server.Get("/v1/batches/" + id);
  ASSERT_EQ(got.status, 200) << got.raw;
  EXPECT_EQ(got.body, created.body);
  EXPECT_EQ(server.Get("/v1/batches/999").status, 404);
  Reply listed = server.Get("/v1/batches?state=running&limit=10");
  ASSERT_EQ(listed.status, 200) << listed.raw;
  ASSERT_EQ(listed.body["batches"].size(), 1u);
  EXPECT_FALSE(listed.body["batches"][0].contains("members"));
  EXPECT_TRUE(listed.body["next_cursor"].is_null());
  EXPECT_EQ(server.Get("/v1/batches?state=done").status, 400);

  // Ending every member (here: cancelled before they ran) finishes the batch.
  for (const json& m : created.body["members"]) {
    ASSERT_EQ(server.Post("/v1/jobs/" + m["id"].get<std::string>() + "/cancel", json::object()).status, 200);
  }
  const json finished = server.Get("/v1/batches/" + id).body;
  EXPECT_EQ(finished["state"], "failed");
  EXPECT_EQ(finished["counts"]["cancelled"], 3);
  ASSERT_TRUE(finished["callback_job_id"].is_string()) << finished.dump();
  const json cb = server.Get("/v1/jobs/" + finished["callback_job_id"].get<std::string>()).body;
  EXPECT_EQ(cb["kind"], "summarize");
  EXPECT_EQ(cb["state"], "available");
  EXPECT_EQ(cb["args"]["query"], "q");
  EXPECT_EQ(cb["args"]["batch"], finished);
  EXPECT_TRUE(events.WaitFor(
      "batch", [&](const json& d) { return d.value("id", "") == id && d.value("state", "") == "failed"; },
      Millis(5000)));

  const std::string metrics = server.Get("/metrics").raw;
  EXPECT_NE(metrics.find("jobwarden_batches{state=\"failed\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("jobwarden_batches_finished_total{state=\"failed\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("jobwarden_batch_callbacks_total 1"), std::string::npos);
}

TEST(ServerBatchTest, BadInputIs400NamingTheMemberAndWritesNothing) {
  ServerProcess server;
  server.Start();
  std::vector<std::pair<json, std::string>> cases;
  json bad_member = Body(3);
  bad_member["jobs"][1]["timeout_s"] = "soon";
  cases.emplace_back(bad_member, "jobs[1].timeout_s");
  json empty_kind = Body(3);
  empty_kind["jobs"][2]["kind"] = "";
  cases.emplace_back(empty_kind, "jobs[2].kind");
  json none = Body(0);
  cases.emplace_back(none, "jobs: must not be empty");
  json past = Body(2);
  past.erase("deadline_s");
  past["deadline_at"] = "2020-01-01T00:00:00Z";
  cases.emplace_back(past, "deadline_at");
  json no_kind = Body(2);
  no_kind["callback"]["kind"] = "";
  cases.emplace_back(no_kind, "callback.kind");
  json unknown = Body(2);
  unknown["deadline"] = 5;
  cases.emplace_back(unknown, "deadline");
  json sets_batch = Body(2);
  sets_batch["jobs"][0]["batch_id"] = "1";
  cases.emplace_back(sets_batch, "batch_id");
  for (const auto& [body, field] : cases) {
    Reply r = server.Post("/v1/batches", body);
    EXPECT_EQ(r.status, 400) << body.dump() << " -> " << r.raw;
    EXPECT_EQ(r.body["error"]["code"], "invalid_argument") << r.raw;
    EXPECT_NE(r.body["error"]["message"].get<std::string>().find(field), std::string::npos) << r.raw;
  }
  EXPECT_TRUE(server.Get("/v1/jobs").body["jobs"].empty());
  EXPECT_TRUE(server.Get("/v1/batches").body["batches"].empty());
  // A plain job cannot join a batch on its own either.
  Reply plain = server.Post("/v1/jobs", {{"kind", "k"}, {"batch_id", "1"}});
  EXPECT_EQ(plain.status, 400) << plain.raw;
}

TEST(ServerBatchTest, TheCliSubmitsShowsAndListsBatchesRemotelyAndLocally) {
  ServerProcess server;
  server.Start();
  const std::string file = server.dir().File("batch.json");
  std::ofstream(file) << Body(2).dump();
  const std::string bad = server.dir().File("bad.json");
  std::ofstream(bad) << R"({"jobs": [{"kind": "fetch"}, {"kind": "fetch", "priority": "high"}]})";

  CommandResult submitted = RunCli({"batch", "submit", file, "--server", server.url()});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string id = submitted.out.substr(0, submitted.out.find('\n'));
  EXPECT_EQ(server.Get("/v1/batches/" + id).status, 200) << submitted.out;

  CommandResult status = RunCli({"batch", "status", id, "--server", server.url()});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("batch " + id + " (scrape): running"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("2 available"), std::string::npos) << status.out;
  CommandResult as_json = RunCli({"batch", "status", id, "--json", "--server", server.url()});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  EXPECT_EQ(json::parse(as_json.out)["id"], id);
  CommandResult ls = RunCli({"batch", "ls", "--server", server.url()});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("scrape"), std::string::npos) << ls.out;

  CommandResult refused = RunCli({"batch", "submit", bad, "--server", server.url()});
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("jobs[1].priority"), std::string::npos) << refused.err;
  CommandResult missing = RunCli({"batch", "status", "999", "--server", server.url()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_EQ(server.Get("/v1/batches").body["batches"].size(), 1u);

  // Against the database file itself (no server): the same commands.
  ASSERT_EQ(server.Stop(), 0);
  CommandResult local = RunCli({"batch", "submit", file, "--db", server.db(), "--local"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  CommandResult local_ls = RunCli({"batch", "ls", "--json", "--db", server.db(), "--local"});
  ASSERT_EQ(local_ls.exit_code, 0) << local_ls.err;
  EXPECT_EQ(json::parse(local_ls.out).size(), 2u) << local_ls.out;
  CommandResult local_bad = RunCli({"batch", "submit", bad, "--db", server.db(), "--local"});
  EXPECT_EQ(local_bad.exit_code, 2) << local_bad.err;
}

}  // namespace
}  // namespace jobwarden::testing
