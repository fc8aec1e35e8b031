// GET /v1/events through a real server: a client filtered on one job sees
// it go available -> running -> succeeded with progress in between, starting
// from the job's current state; a queue filter keeps other queues out; a
// shutdown ends the stream with a `shutdown` event.
#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

TEST(ServerEventsTest, JobFilterSeesAvailableRunningProgressSucceeded) {
  ServerProcess server;
  server.Start();
  const std::string worker = server.Register();
  const std::string id = server.Enqueue({{"kind", "k"}});

  SseClient sse(server.port(), "/v1/events?job_id=" + id);
  ASSERT_TRUE(sse.WaitFor(
      "job", [&](const json& j) { return j["id"] == id; }, Millis(5000)));

  json job = server.FetchOne(worker, {{"lease_ttl_s", 30}});
  ASSERT_EQ(job["id"], id);
  const std::int64_t token = job["lease"]["token"];
  ASSERT_EQ(server
                .Post("/v1/worker/heartbeat",
                      {{"worker_id", worker},
                       {"jobs", {{{"id", id}, {"token", token}, {"progress", {{"done", 5}, {"total", 10}}}}}}})
                .status,
            200);
  ASSERT_EQ(server.Post("/v1/worker/complete", {{"id", id}, {"token", token}, {"result", "ok"}}).status, 200);
  ASSERT_TRUE(sse.WaitFor(
      "state", [](const json& j) { return j["to"] == "succeeded"; }, Millis(5000)));
  sse.Close();

  // In order: the current state first, then each change, progress in between.
  std::vector<std::string> seen;
  for (const auto& e : sse.Events()) {
    EXPECT_EQ(e.data.value("job_id", e.data.value("id", "")), id) << e.name << " " << e.data.dump();
    if (e.name == "job") seen.push_back("job:" + e.data["state"].get<std::string>());
    if (e.name == "state") seen.push_back("state:" + e.data["to"].get<std::string>());
    if (e.name == "progress") seen.push_back("progress:" + std::to_string(e.data["progress"]["done"].get<int>()));
  }
  const std::vector<std::string> expected = {"job:available", "state:running", "progress:5", "state:succeeded"};
  EXPECT_EQ(seen, expected);
}

TEST(ServerEventsTest, QueueFilterAndShutdownEvent) {
  ServerProcess server;
  server.Start();
  SseClient mail(server.port(), "/v1/events?queue=mail");
  SseClient all(server.port(), "/v1/events");
  ASSERT_TRUE(mail.WaitConnected());
  ASSERT_TRUE(all.WaitConnected());
  const std::string in_mail = server.Enqueue({{"kind", "k"}, {"queue", "mail"}});
  const std::string elsewhere = server.Enqueue({{"kind", "k"}, {"queue", "other"}});
  ASSERT_TRUE(all.WaitFor(
      "state", [&](const json& j) { return j["job_id"] == elsewhere; }, Millis(5000)));
  ASSERT_TRUE(mail.WaitFor(
      "state", [&](const json& j) { return j["job_id"] == in_mail; }, Millis(5000)));
  for (const auto& e : mail.Events()) EXPECT_EQ(e.data["queue"], "mail") << e.data.dump();

  // A completion carries no queue from the engine: the server fills it in.
  const std::string worker = server.Register("", {"mail"});
  json job = server.FetchOne(worker, {{"queues", {"mail"}}});
  ASSERT_EQ(server.Post("/v1/worker/complete", {{"id", job["id"]}, {"token", job["lease"]["token"]}}).status, 200);
  ASSERT_TRUE(mail.WaitFor(
      "state", [](const json& j) { return j["to"] == "succeeded"; }, Millis(5000)));

  Reply bad = server.Get("/v1/events?job_id=x");
  EXPECT_EQ(bad.status, 400);
  Reply missing = server.Get("/v1/events?job_id=999999");
  EXPECT_EQ(missing.status, 404);

  EXPECT_EQ(server.Stop(), 0) << server.Stderr();
  EXPECT_TRUE(all.WaitFor(
      "shutdown", [](const json&) { return true; }, Millis(5000)));
  EXPECT_TRUE(WaitUntil([&] { return all.Ended() && mail.Ended(); }, Millis(5000)));
}

}  // namespace
}  // namespace jobwarden::testing
