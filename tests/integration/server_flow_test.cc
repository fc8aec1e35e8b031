// Flow control through a real server (issue 13, "Interfaces" and
// "Observability"): GET/PUT of queues and resources with merge-patch bodies,
// percent-encoded resource keys, the holds, queue_warning events, the
// metrics, the config file's tables applied at start (the file replaces, the
// API merges), a freed slot taken at once by a waiting fetch, and a rate
// spacing long-poll starts. The CLI's flow commands in remote mode are in
// server_flow_cli_test.cc.
#include <future>

#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

const std::string kAdmin = "admin-token-0123456789";
const std::string kRead = "read-token-0123456789";

std::string WriteFile(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.File(name);
  std::ofstream(path) << text;
  return path;
}

class ServerFlowTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.Start(); }
  ServerProcess server_;
};

TEST_F(ServerFlowTest, QueueLimitsGetAndMergePatch) {
  server_.Enqueue({{"kind", "k"}, {"queue", "uploads"}});
  Reply set = server_.Put("/v1/queues/uploads", {{"concurrency", 1}, {"warn_depth", 50}, {"warn_age_s", 300}});
  ASSERT_EQ(set.status, 200) << set.raw;
  EXPECT_EQ(set.body["name"], "uploads");
  EXPECT_EQ(set.body["concurrency"], 1);
  EXPECT_EQ(set.body["warn_depth"], 50);
  EXPECT_EQ(set.body["warn_age_s"], 300.0);
  EXPECT_EQ(set.body["running"], 0);
  EXPECT_EQ(set.body["warnings"], json::array());
  EXPECT_EQ(set.body["counts"]["available"], 1);

  // Absent keeps, null clears.
  Reply patched = server_.Put("/v1/queues/uploads", {{"warn_depth", nullptr}});
  ASSERT_EQ(patched.status, 200) << patched.raw;
  EXPECT_EQ(patched.body["concurrency"], 1);
  EXPECT_TRUE(patched.body["warn_depth"].is_null());
  EXPECT_EQ(patched.body["warn_age_s"], 300.0);

  Reply got = server_.Get("/v1/queues/uploads");
  ASSERT_EQ(got.status, 200) << got.raw;
  for (Reply* r : {&got, &patched}) {
    r->body.erase("oldest_available_age_s");  // time passed
    r->body.erase("counts_at");               // read at each call
  }
  EXPECT_EQ(got.body, patched.body);
  Reply list = server_.Get("/v1/queues");
  ASSERT_EQ(list.status, 200);
  bool listed = false;
  for (const json& q : list.body["queues"]) {
    if (q["name"] == "uploads") {
      listed = true;
      EXPECT_EQ(q["concurrency"], 1);
    }
  }
  EXPECT_TRUE(listed) << list.raw;

  // A queue with settings but no jobs is a queue; one with neither is not.
  ASSERT_EQ(server_.Put("/v1/queues/empty-but-set", {{"concurrency", 3}}).status, 200);
  EXPECT_EQ(server_.Get("/v1/queues/empty-but-set").body["concurrency"], 3);
  Reply missing = server_.Get("/v1/queues/never-heard-of");
  EXPECT_EQ(missing.status, 404) << missing.raw;
  EXPECT_EQ(Code(missing), "not_found");

  // Bad bodies: 400 naming the field; nothing changes.
  for (const auto& [body, field] : std::vector<std::pair<json, std::string>>{
           {{{"concurency", 1}}, "concurency"},
           {{{"concurrency", "1"}}, "concurrency"},
           {{{"concurrency", 0}}, "concurrency"},
           {{{"warn_depth", -3}}, "warn_depth"},
           {{{"warn_age_s", "5m"}}, "warn_age_s"},
       }) {
    Reply bad = server_.Put("/v1/queues/uploads", body);
    EXPECT_EQ(bad.status, 400) << body.dump() << " " << bad.raw;
    EXPECT_EQ(Code(bad), "invalid_argument");
    EXPECT_EQ(Message(bad).rfind(field, 0), 0u) << body.dump() << " -> " << Message(bad);
  }
  EXPECT_EQ(server_.Get("/v1/queues/uploads").body["concurrency"], 1);
  Reply bad_name = server_.Put("/v1/queues/bad%20name", {{"concurrency", 1}});
  EXPECT_EQ(bad_name.status, 400) << bad_name.raw;
  Reply not_json = ToReply(server_.Client()->Put("/v1/queues/uploads", "{", "application/json"));
  EXPECT_EQ(not_json.status, 400);
  Reply wrong_type = ToReply(server_.Client()->Put("/v1/queues/uploads", "{}", "text/plain"));
  EXPECT_EQ(wrong_type.status, 415);
}

TEST_F(ServerFlowTest, ResourceLimitsWithKeysThatHoldColonsSlashesAndDots) {
  Reply set = server_.Put(
      "/v1/resources/host:imx.to",
      {{"concurrency", 2}, {"rate", "10/s"}, {"burst", 20}, {"breaker_failures", 5}, {"breaker_cooldown_s", 45}});
  ASSERT_EQ(set.status, 200) << set.raw;
  const json& r = set.body;
  EXPECT_EQ(r["key"], "host:imx.to");
  EXPECT_EQ(r["concurrency"], 2);
  EXPECT_EQ(r["rate"], "10/s");
  EXPECT_EQ(r["burst"], 20.0);
  EXPECT_EQ(r["breaker_failures"], 5);
  EXPECT_EQ(r["breaker_cooldown_s"], 45.0);
  EXPECT_EQ(r["running"], 0);
  EXPECT_EQ(r["available"], 0);
  EXPECT_EQ(r["breaker"]["state"], "closed");
  EXPECT_EQ(r["breaker"]["failures"], 0);
  EXPECT_TRUE(r["breaker"]["open_until"].is_null());
  EXPECT_TRUE(r["held_until"].is_null());
  for (const char* f : {"succeeded", "failed", "success_rate", "p50_s", "p95_s"}) {
    EXPECT_TRUE(r["stats"].contains(f)) << f;
  }
  EXPECT_TRUE(r["stats"]["success_rate"].is_null()) << "no runs yet";

  // Merge: clearing the rate clears its burst; the rest is kept.
  Reply patched = server_.Put("/v1/resources/host:imx.to", {{"rate", nullptr}});
  ASSERT_EQ(patched.status, 200) << patched.raw;
  EXPECT_TRUE(patched.body["rate"].is_null());
  EXPECT_TRUE(patched.body["burst"].is_null());
  EXPECT_EQ(patched.body["concurrency"], 2);
  EXPECT_EQ(patched.body["breaker_failures"], 5);

  // A '/' in a key travels as %2F; ':' may be encoded or not.
  Reply slash = server_.Put("/v1/resources/host%3Aa%2Fb", {{"concurrency", 1}});
  ASSERT_EQ(slash.status, 200) << slash.raw;
  EXPECT_EQ(slash.body["key"], "host:a/b");
  Reply slash_get = server_.Get("/v1/resources/host:a%2Fb");
  ASSERT_EQ(slash_get.status, 200) << slash_get.raw;
  EXPECT_EQ(slash_get.body["concurrency"], 1);

  Reply list = server_.Get("/v1/resources");
  ASSERT_EQ(list.status, 200) << list.raw;
  std::vector<std::string> keys;
  for (const json& one : list.body["resources"]) keys.push_back(one["key"]);
  EXPECT_NE(std::find(keys.begin(), keys.end(), "host:imx.to"), keys.end()) << list.raw;
  EXPECT_NE(std::find(keys.begin(), keys.end(), "host:a/b"), keys.end()) << list.raw;

  // A job's resource_key makes its resource known, with its jobs counted.
  server_.Enqueue({{"kind", "k"}, {"resource_key", "source:pexels"}, {"cost", 2}});
  Reply by_job = server_.Get("/v1/resources/source:pexels");
  ASSERT_EQ(by_job.status, 200) << by_job.raw;
  EXPECT_EQ(by_job.body["available"], 1);

  Reply missing = server_.Get("/v1/resources/nobody:here");
  EXPECT_EQ(missing.status, 404) << missing.raw;
  EXPECT_EQ(Code(missing), "not_found");

  for (const auto& [body, field] : std::vector<std::pair<json, std::string>>{
           {{{"rate", "abc"}}, "rate"},
           {{{"rate", 10}}, "rate"},
           {{{"burst", 5}}, "burst"},  // no rate any more
           {{{"breaker_cooldown_s", 0.5}}, "breaker_cooldown"},
           {{{"breaker_failures", "x"}}, "breaker_failures"},
           {{{"limit", 1}}, "limit"},
       }) {
    Reply bad = server_.Put("/v1/resources/host:imx.to", body);
    EXPECT_EQ(bad.status, 400) << body.dump() << " " << bad.raw;
    EXPECT_EQ(Message(bad).rfind(field, 0), 0u) << body.dump() << " -> " << Message(bad);
  }
  EXPECT_NE(Message(server_.Put("/v1/resources/host:imx.to", {{"rate", "abc"}})).find("abc"), std::string::npos);
}

TEST_F(ServerFlowTest, HoldsSayWhyAvailableJobsWait) {
  server_.Enqueue({{"kind", "k"}, {"queue", "held"}});
  ASSERT_EQ(server_.Post("/v1/queues/held/pause", json::object()).status, 200);
  Reply holds = server_.Get("/v1/holds");
  ASSERT_EQ(holds.status, 200) << holds.raw;
  ASSERT_EQ(holds.body["holds"].size(), 1u) << holds.raw;
  const json& h = holds.body["holds"][0];
  EXPECT_EQ(h["queue"], "held");
  EXPECT_EQ(h["available"], 1);
  EXPECT_EQ(h["reasons"], json({"queue paused"}));
}

TEST_F(ServerFlowTest, QueueWarningEventsAndFlowMetrics) {
  SseClient all(server_.port(), "/v1/events");
  SseClient other(server_.port(), "/v1/events?queue=other");
  ASSERT_TRUE(all.WaitConnected());
  ASSERT_TRUE(other.WaitConnected());
  ASSERT_EQ(server_.Put("/v1/queues/busy", {{"warn_depth", 1}, {"concurrency", 2}}).status, 200);
  const std::string first = server_.Enqueue({{"kind", "k"}, {"queue", "busy"}});
  const std::string second = server_.Enqueue({{"kind", "k"}, {"queue", "busy"}});
  // The server's flow watch (after a reaper pass, at most every 2 s) notices the crossing.
  ASSERT_TRUE(all.WaitFor(
      "queue_warning",
      [](const json& j) { return j["queue"] == "busy" && j["reason"] == "depth" && j["cleared"] == false; },
      Millis(10'000)))
      << server_.Stderr();
  Reply q = server_.Get("/v1/queues/busy");
  EXPECT_EQ(q.body["warnings"], json({"depth"}));
  ASSERT_EQ(server_.Put("/v1/resources/host:x", {{"concurrency", 3}}).status, 200);

  auto res = server_.Client()->Get("/metrics");
  ASSERT_TRUE(res);
  const std::string& text = res->body;
  for (const char* needle : {
           "jobwarden_queue_running{queue=\"busy\"} 0",
           "jobwarden_queue_limit{queue=\"busy\"} 2",
           "jobwarden_queue_warning{queue=\"busy\",reason=\"depth\"} 1",
           "jobwarden_resource_running{resource=\"host:x\"} 0",
           "jobwarden_resource_limit{resource=\"host:x\"} 3",
           "jobwarden_resource_breaker_state{resource=\"host:x\"} 0",
           "jobwarden_resource_held_jobs{resource=\"host:x\"} 0",
           "jobwarden_resource_succeeded_5m{resource=\"host:x\"} 0",
           "jobwarden_resource_failed_5m{resource=\"host:x\"} 0",
       }) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle << "\n" << text;
  }
  EXPECT_EQ(text.find("jobwarden_queue_warning{queue=\"busy\",reason=\"age\"}"), std::string::npos)
      << "no warn_age, no gauge";

  // Below the depth again: the warning clears, with an event.
  ASSERT_EQ(server_.Post("/v1/jobs/" + second + "/cancel", json::object()).status, 200);
  EXPECT_TRUE(all.WaitFor(
      "queue_warning", [](const json& j) { return j["queue"] == "busy" && j["cleared"] == true; }, Millis(10'000)));
  for (const auto& e : other.Events()) EXPECT_NE(e.name, "queue_warning") << "another queue's stream: " << e.data;
  (void)first;
}

// A failure opens a breaker of one failure: a `breaker` event, the resource
// JSON, the gauges, the holds and `doctor` (remote) all say so.
TEST_F(ServerFlowTest, AnOpenBreakerIsAnEventAGaugeAndAHold) {
  SseClient all(server_.port(), "/v1/events");
  ASSERT_TRUE(all.WaitConnected());
  ASSERT_EQ(server_.Put("/v1/resources/api:flaky", {{"breaker_failures", 1}, {"breaker_cooldown_s", 60}}).status, 200);
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
  ASSERT_TRUE(all.WaitFor(
      "breaker", [](const json& j) { return j["resource"] == "api:flaky" && j["to"] == "open"; }, Millis(10'000)))
      << server_.Stderr();
  for (const auto& e : all.Events()) {
    if (e.name != "breaker") continue;
    EXPECT_EQ(e.data["from"], "closed");
    EXPECT_TRUE(e.data["message"].is_string());
    EXPECT_TRUE(e.data["at"].is_string());
  }

  Reply r = server_.Get("/v1/resources/api:flaky");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["breaker"]["state"], "open");
  EXPECT_TRUE(r.body["breaker"]["open_until"].is_string()) << r.raw;
  EXPECT_EQ(r.body["stats"]["failed"], 1);
  EXPECT_EQ(r.body["stats"]["success_rate"], 0.0);
  const std::int64_t available = r.body["available"];
  ASSERT_GE(available, 1) << r.raw;
  EXPECT_TRUE(server_.FetchOne(worker).is_null()) << "an open breaker leases nothing";

  auto metrics = server_.Client()->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("jobwarden_resource_breaker_state{resource=\"api:flaky\"} 2"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("jobwarden_resource_held_jobs{resource=\"api:flaky\"} " + std::to_string(available)),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("jobwarden_resource_failed_5m{resource=\"api:flaky\"} 1"), std::string::npos);

  Reply holds = server_.Get("/v1/holds");
  ASSERT_EQ(holds.status, 200);
  ASSERT_EQ(holds.body["holds"].size(), 1u) << holds.raw;
  EXPECT_EQ(holds.body["holds"][0]["queue"], "default");
  ASSERT_EQ(holds.body["holds"][0]["reasons"].size(), 1u) << holds.raw;
  EXPECT_NE(holds.body["holds"][0]["reasons"][0].get<std::string>().find("resource api:flaky breaker open until"),
            std::string::npos)
      << holds.raw;
}

TEST(ServerFlowConfigTest, TheFileReplacesAtStartAndTheApiMerges) {
  ServerProcess probe;  // only its temp dir, for the config file
  const std::string config = WriteFile(probe.dir(), "jobwarden.toml", R"(
[queues.uploads]
concurrency = 1

[resources."host:imx.to"]
rate = "10/s"
breaker_failures = 5
)");
  ServerProcess server({}, {"--config", config});
  server.Start();
  Reply q = server.Get("/v1/queues/uploads");
  ASSERT_EQ(q.status, 200) << q.raw << server.Stderr();
  EXPECT_EQ(q.body["concurrency"], 1);
  Reply r = server.Get("/v1/resources/host:imx.to");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["rate"], "10/s");
  EXPECT_EQ(r.body["breaker_failures"], 5);

  // The API merges into what the file set; a name the file does not mention is the API's alone.
  ASSERT_EQ(server.Put("/v1/queues/uploads", {{"warn_depth", 9}}).status, 200);
  ASSERT_EQ(server.Put("/v1/queues/mail", {{"concurrency", 4}}).status, 200);
  EXPECT_EQ(server.Get("/v1/queues/uploads").body["concurrency"], 1);

  // At the next start the file's tables replace: warn_depth, left out of the table, is cleared.
  ASSERT_EQ(server.Stop(), 0) << server.Stderr();
  server.Start();
  Reply again = server.Get("/v1/queues/uploads");
  EXPECT_EQ(again.body["concurrency"], 1);
  EXPECT_TRUE(again.body["warn_depth"].is_null()) << again.raw;
  EXPECT_EQ(server.Get("/v1/queues/mail").body["concurrency"], 4) << "not in the file: kept";
}

// Schedules through the server: the file's table is stored at start, the
// server's reaper fires it (a job with the fire's unique_key), and
// GET /v1/schedules and `jobwarden schedules --server` show it.
TEST(ServerScheduleTest, TheServerStoresFiresAndListsTheFilesSchedules) {
  ServerProcess probe;  // only its temp dir, for the config file
  const std::string config = WriteFile(probe.dir(), "jobwarden.toml", R"(
[schedules.ping]
cron = "@every 1s"
kind = "ping"
args = { n = 7 }
queue = "beats"
)");
  ServerProcess server({}, {"--config", config});
  server.Start();
  json fired;
  ASSERT_TRUE(WaitUntil(
      [&] {
        fired = server.Get("/v1/jobs?queue=beats").body;
        return fired.contains("jobs") && !fired["jobs"].empty();
      },
      Millis(20'000)))
      << server.Stderr();
  const json job = fired["jobs"][0];
  EXPECT_EQ(job["kind"], "ping");
  EXPECT_EQ(job["args"]["n"], 7);
  EXPECT_EQ(job["unique_key"].get<std::string>().rfind("schedule:ping:", 0), 0u) << job.dump();

  Reply listed = server.Get("/v1/schedules");
  ASSERT_EQ(listed.status, 200) << listed.raw;
  ASSERT_EQ(listed.body["schedules"].size(), 1u) << listed.raw;
  EXPECT_EQ(listed.body["schedules"][0]["name"], "ping");
  EXPECT_EQ(listed.body["schedules"][0]["queue"], "beats");
  EXPECT_TRUE(listed.body["schedules"][0]["last_fire_at"].is_string()) << listed.raw;

  CommandResult cli = RunCli({"schedules", "--server", server.url()});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("ping"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("@every 1s"), std::string::npos) << cli.out;
}

TEST(ServerFlowConfigTest, ABadTableStopsTheServerWithExitTwo) {
  TempDir dir;
  for (const auto& [toml, expect] : std::vector<std::pair<std::string, std::string>>{
           {"[resources.\"host:imx\"]\nrate = \"abc\"\n", "resources.\"host:imx\".rate: rate \"abc\""},
           {"[queues.q]\nconcurrency = 0\n", "queues.q.concurrency"},
           {"[queues.q]\nsize = 3\n", "queues.q.size: unknown key"},
       }) {
    const std::string config = WriteFile(dir, "bad.toml", toml);
    ChildProcess p({JOBWARDEN_CLI_BINARY, "server", "--db", dir.File("var/jobs.db"), "--listen", "127.0.0.1:0",
                    "--config", config},
                   dir.File("bad"));
    const int status = p.WaitFor(Millis(10'000));
    ASSERT_NE(status, -1) << "the server started: " << toml;
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2) << p.Stderr();
    EXPECT_NE(p.Stderr().find("bad.toml: " + expect), std::string::npos) << p.Stderr();
  }
}

// A job that stops running where a queue's concurrency is set wakes a waiting
// fetch at once: the freed slot does not wait for the long-poll's timeout.
TEST_F(ServerFlowTest, AFreedSlotIsTakenAtOnceByAWaitingFetch) {
  ASSERT_EQ(server_.Put("/v1/queues/seq", {{"concurrency", 1}}).status, 200);
  server_.Enqueue({{"kind", "k"}, {"queue", "seq"}});
  server_.Enqueue({{"kind", "k"}, {"queue", "seq"}});
  const std::string worker = server_.Register("", {"seq"});
  json first = server_.FetchOne(worker, {{"queues", {"seq"}}, {"lease_ttl_s", 60}});
  ASSERT_FALSE(first.is_null());
  EXPECT_TRUE(server_.FetchOne(worker, {{"queues", {"seq"}}}).is_null()) << "sequential: one at a time";

  auto poll = std::async(std::launch::async, [&] {
    return server_.Post("/v1/worker/fetch",
                        {{"worker_id", worker}, {"queues", {"seq"}}, {"wait_ms", 20'000}, {"lease_ttl_s", 60}});
  });
  std::this_thread::sleep_for(Millis(300));
  const auto done_at = std::chrono::steady_clock::now();
  ASSERT_EQ(server_.Post("/v1/worker/complete", {{"id", first["id"]}, {"token", first["lease"]["token"]}}).status, 200);
  Reply got = poll.get();
  const auto waited = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - done_at).count();
  ASSERT_EQ(got.status, 200) << got.raw;
  EXPECT_EQ(got.body["jobs"].size(), 1u) << got.raw;
  EXPECT_LT(waited, 2000);
}

// A long-poll held by a rate fetches again when the next token is due: 5/s
// starts a job about every 200 ms, not one per long-poll timeout.
TEST_F(ServerFlowTest, ARateSpacesLongPollStarts) {
  ASSERT_EQ(server_.Put("/v1/resources/api:slow", {{"rate", "5/s"}, {"burst", 1}}).status, 200);
  for (int i = 0; i < 4; ++i) server_.Enqueue({{"kind", "k"}, {"resource_key", "api:slow"}});
  const std::string worker = server_.Register();
  std::vector<std::chrono::steady_clock::time_point> starts;
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    Reply r = server_.Post("/v1/worker/fetch", {{"worker_id", worker}, {"wait_ms", 10'000}, {"lease_ttl_s", 60}});
    ASSERT_EQ(r.status, 200) << r.raw;
    ASSERT_EQ(r.body["jobs"].size(), 1u) << r.raw;
    starts.push_back(std::chrono::steady_clock::now());
  }
  const auto total = std::chrono::duration_cast<Millis>(starts.back() - began).count();
  EXPECT_GE(total, 450) << "3 waits of ~200 ms after the first token";
  EXPECT_LT(total, 3000) << "not one long-poll timeout per start";
}

TEST(ServerFlowAuthTest, ReadTokensMayNotChangeLimits) {
  ServerProcess server({{"JOBWARDEN_ADMIN_TOKEN", kAdmin}, {"JOBWARDEN_READ_TOKEN", kRead}});
  server.Start();
  Reply q = server.Put("/v1/queues/q1", {{"concurrency", 1}}, kRead);
  EXPECT_EQ(q.status, 403) << q.raw;
  EXPECT_EQ(Code(q), "forbidden");
  Reply r = server.Put("/v1/resources/host:x", {{"concurrency", 1}}, kRead);
  EXPECT_EQ(r.status, 403) << r.raw;
  EXPECT_EQ(server.Put("/v1/queues/q1", {{"concurrency", 1}}, kAdmin).status, 200);
  EXPECT_EQ(server.Get("/v1/queues/q1", kRead).status, 200);
  EXPECT_EQ(server.Get("/v1/resources", kRead).status, 200);
  EXPECT_EQ(server.Get("/v1/holds", kRead).status, 200);
  EXPECT_EQ(server.Put("/v1/queues/q1", {{"concurrency", 1}}).status, 401);
}

}  // namespace
}  // namespace jobwarden::testing
