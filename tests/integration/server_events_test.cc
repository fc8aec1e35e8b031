// GET /v1/events through a real server: a client filtered on one job sees
// it go available -> running -> succeeded with progress in between, starting
// from the job's current state; a queue filter keeps other queues out; a
// shutdown ends the stream with a `shutdown` event; a coalescing stream (the
// dashboard's) gets few `changes` messages that end on every job's last state.
#include <algorithm>
#include <set>

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

TEST(ServerEventsTest, CoalescedStreamSendsFewMessagesEndingOnEachJobsLastState) {
  ServerProcess server;
  server.Start();
  SseClient coalesced(server.port(), "/v1/events?coalesce_s=0.5");
  SseClient plain(server.port(), "/v1/events");
  ASSERT_TRUE(coalesced.WaitConnected());
  ASSERT_TRUE(plain.WaitConnected());
  const auto t0 = std::chrono::steady_clock::now();

  constexpr int kJobs = 60;
  json jobs = json::array();
  for (int i = 0; i < kJobs; ++i) jobs.push_back({{"kind", "k"}});
  Reply bulk = server.Post("/v1/jobs/bulk", {{"jobs", jobs}});
  ASSERT_EQ(bulk.status, 201) << bulk.raw;
  const std::string worker = server.Register();
  std::set<std::string> ids;
  for (int i = 0; i < kJobs; ++i) {
    json job = server.FetchOne(worker);
    ASSERT_FALSE(job.is_null());
    ids.insert(job["id"].get<std::string>());
    const std::int64_t token = job["lease"]["token"];
    // A third fail for good, the rest succeed: the last state must be each one's own.
    const json body =
        i % 3 == 0 ? json{{"id", job["id"]}, {"token", token}, {"error", {{"class", "permanent"}, {"message", "no"}}}}
                   : json{{"id", job["id"]}, {"token", token}};
    ASSERT_EQ(server.Post(i % 3 == 0 ? "/v1/worker/fail" : "/v1/worker/complete", body).status, 200);
  }

  // Each job's last state as the coalesced stream tells it.
  std::map<std::string, std::string> last;
  auto replay = [&] {
    last.clear();
    for (const auto& e : coalesced.Events()) {
      EXPECT_EQ(e.name, "changes") << "a coalescing stream sends only changes: " << e.name;
      for (const auto& ev : e.data["events"]) {
        if (ev["type"] == "state") last[ev["data"]["job_id"].get<std::string>()] = ev["data"]["to"].get<std::string>();
      }
    }
    return last.size() == ids.size() && std::all_of(last.begin(), last.end(), [](const auto& kv) {
             return kv.second != "running" && kv.second != "available";
           });
  };
  ASSERT_TRUE(WaitUntil(replay, Millis(10000))) << "jobs seen: " << last.size();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& id : ids) {
    Reply j = server.Get("/v1/jobs/" + id);
    ASSERT_EQ(j.status, 200);
    EXPECT_EQ(last[id], j.body["state"]) << id;
  }
  // One message per half second at most (and the first at once), against
  // three state events per job on the plain stream.
  EXPECT_LE(coalesced.Events().size(), static_cast<std::size_t>(elapsed / 0.5) + 2);
  ASSERT_TRUE(plain.WaitFor(
      "state", [&](const json& j) { return j["to"] == "succeeded"; }, Millis(5000)));
  EXPECT_GE(plain.Events().size(), static_cast<std::size_t>(2 * kJobs));

  EXPECT_EQ(server.Get("/v1/events?coalesce_s=soon").status, 400);
  EXPECT_EQ(server.Get("/v1/events?coalesce_s=11").status, 400);
}

}  // namespace
}  // namespace jobwarden::testing
