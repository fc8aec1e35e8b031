// Worker sessions through a real server (DESIGN.md "Timing rules"): a dropped
// session not reopened within the take-back grace (2 s) gives the worker's
// jobs back as worker_lost long before a long lease would; a session reopened
// within the grace keeps them; cancel notices arrive through the session; a
// server shutdown ends sessions with `shutdown` and takes nothing back, and a
// restart within the lease TTL expires no live lease.
#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string SessionPath(const std::string& worker) { return "/v1/worker/session?worker_id=" + worker; }

TEST(ServerSessionTest, DroppedSessionTakesBackAsWorkerLostWithinTheGrace) {
  ServerProcess server;
  server.Start();
  const std::string worker = server.Register();
  const std::string id = server.Enqueue({{"kind", "k"}});
  auto session = std::make_unique<SseClient>(server.port(), SessionPath(worker));
  ASSERT_TRUE(session->WaitFor(
      "hello", [&](const json& j) { return j["worker_id"] == worker; }, Millis(5000)));
  json job = server.FetchOne(worker, {{"lease_ttl_s", 600}});  // a lease far longer than the test
  ASSERT_EQ(job["id"], id);
  EXPECT_EQ(server.Get("/v1/workers").body["workers"][0]["session_open"], true);

  const auto dropped = Clock::now();
  session.reset();  // the worker dies: its connection closes
  ASSERT_TRUE(WaitUntil([&] { return server.Get("/v1/jobs/" + id).body["state"] == "available"; }, Millis(8000)))
      << server.Stderr();
  const auto after = std::chrono::duration_cast<Millis>(Clock::now() - dropped).count();
  EXPECT_GE(after, 1500) << "taken back before the grace passed";
  EXPECT_LT(after, 6000);
  Reply got = server.Get("/v1/jobs/" + id);
  ASSERT_EQ(got.body["errors"].size(), 1u);
  EXPECT_EQ(got.body["errors"][0]["class"], "worker_lost");
  EXPECT_EQ(got.body["attempt"], 1);

  // The worker was declared lost: it must register again.
  Reply refused = server.Post("/v1/worker/fetch", {{"worker_id", worker}});
  EXPECT_EQ(refused.status, 409) << refused.raw;
  EXPECT_EQ(Message(refused).rfind("worker_id:", 0), 0u);
  EXPECT_EQ(refused.body["error"]["field"], "worker_id") << "the worker's client branches on it: " << refused.raw;
  const std::string again = server.Register();
  EXPECT_EQ(server.FetchOne(again)["id"], id);
}

TEST(ServerSessionTest, SessionReopenedWithinTheGraceKeepsItsJobs) {
  ServerProcess server;
  server.Start();
  const std::string worker = server.Register();
  const std::string id = server.Enqueue({{"kind", "k"}});
  auto session = std::make_unique<SseClient>(server.port(), SessionPath(worker));
  ASSERT_TRUE(session->WaitFor(
      "hello", [](const json&) { return true; }, Millis(5000)));
  json job = server.FetchOne(worker, {{"lease_ttl_s", 600}});
  const std::int64_t token = job["lease"]["token"];

  session.reset();
  std::this_thread::sleep_for(Millis(500));
  SseClient reopened(server.port(), SessionPath(worker));
  ASSERT_TRUE(reopened.WaitFor(
      "hello", [](const json&) { return true; }, Millis(5000)));
  std::this_thread::sleep_for(Millis(3000));  // well past the grace

  Reply got = server.Get("/v1/jobs/" + id);
  EXPECT_EQ(got.body["state"], "running");
  EXPECT_TRUE(got.body["errors"].empty());
  Reply hb = server.Post("/v1/worker/heartbeat", {{"worker_id", worker}, {"jobs", {{{"id", id}, {"token", token}}}}});
  ASSERT_EQ(hb.status, 200) << hb.raw;
  EXPECT_EQ(hb.body["jobs"][0]["answer"], "continue");
}

TEST(ServerSessionTest, CancelNoticeIsPushedThroughTheSession) {
  ServerProcess server;
  server.Start();
  const std::string worker = server.Register();
  const std::string id = server.Enqueue({{"kind", "k"}});
  SseClient session(server.port(), SessionPath(worker));
  ASSERT_TRUE(session.WaitFor(
      "hello", [](const json&) { return true; }, Millis(5000)));
  json job = server.FetchOne(worker, {{"lease_ttl_s", 600}});
  const auto asked = Clock::now();
  ASSERT_EQ(server.Post("/v1/jobs/" + id + "/cancel", json::object()).status, 200);
  ASSERT_TRUE(session.WaitFor(
      "cancel", [&](const json& j) { return j["job_id"] == id && j["token"] == job["lease"]["token"]; }, Millis(5000)));
  EXPECT_LT(std::chrono::duration_cast<Millis>(Clock::now() - asked).count(), 2000);
  for (const auto& e : session.Events()) {
    if (e.name == "cancel") {
      EXPECT_EQ(e.data["reason"], "cancel");
    }
  }
}

TEST(ServerSessionTest, ShutdownTakesNothingBackAndARestartWithinTheTtlExpiresNoLease) {
  ServerProcess server;
  server.Start();
  const std::string worker = server.Register();
  const std::string id = server.Enqueue({{"kind", "k"}});
  auto session = std::make_unique<SseClient>(server.port(), SessionPath(worker));
  ASSERT_TRUE(session->WaitFor(
      "hello", [](const json&) { return true; }, Millis(5000)));
  json job = server.FetchOne(worker, {{"lease_ttl_s", 20}});
  const std::int64_t token = job["lease"]["token"];

  ASSERT_EQ(server.Stop(), 0) << server.Stderr();
  EXPECT_TRUE(session->WaitFor(
      "shutdown", [](const json&) { return true; }, Millis(5000)));
  session.reset();

  server.Start();  // the same database, well within the 20 s TTL
  SseClient reopened(server.port(), SessionPath(worker));
  ASSERT_TRUE(reopened.WaitFor(
      "hello", [](const json&) { return true; }, Millis(5000)))
      << "a worker registered before the restart is still known";
  std::this_thread::sleep_for(Millis(2500));  // past the session grace and several reaper ticks
  Reply got = server.Get("/v1/jobs/" + id);
  EXPECT_EQ(got.body["state"], "running") << got.raw;
  EXPECT_TRUE(got.body["errors"].empty()) << got.raw;
  Reply hb = server.Post("/v1/worker/heartbeat", {{"worker_id", worker}, {"jobs", {{{"id", id}, {"token", token}}}}});
  ASSERT_EQ(hb.status, 200) << hb.raw;
  EXPECT_EQ(hb.body["jobs"][0]["answer"], "continue");
  ASSERT_EQ(server.Post("/v1/worker/complete", {{"id", id}, {"token", token}}).status, 200);
}

}  // namespace
}  // namespace jobwarden::testing
