// Waiting requests never starve the others: with 200 idle long-polling
// fetches and 20 open event streams, an enqueue and a heartbeat still answer
// at once (a small fixed thread pool would jam here). One enqueue wakes one
// waiter, not all of them. SIGTERM wakes every waiter and exits 0.
#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

using Clock = std::chrono::steady_clock;

long Gauge(const ServerProcess& server, const std::string& name) {
  auto res = server.Client()->Get("/metrics");
  if (!res || res->status != 200) return -1;
  const std::string needle = "\n" + name + " ";
  const auto at = res->body.find(needle);
  if (at == std::string::npos) return -1;
  return std::strtol(res->body.c_str() + at + needle.size(), nullptr, 10);
}

TEST(ServerLoadTest, IdleLongPollsAndStreamsDoNotStarveOtherRequests) {
  constexpr int kPolls = 200;
  constexpr int kStreams = 20;
  ServerProcess server;
  server.Start();
  const std::string worker = server.Register();
  server.Enqueue({{"kind", "k"}, {"queue", "hb"}});
  json held = server.FetchOne(worker, {{"queues", {"hb"}}, {"lease_ttl_s", 600}});
  ASSERT_FALSE(held.is_null());

  std::atomic<int> returned{0};
  std::atomic<int> got_job{0};
  std::vector<std::thread> polls;
  for (int i = 0; i < kPolls; ++i) {
    polls.emplace_back([&] {
      Reply r = server.Post("/v1/worker/fetch", {{"worker_id", worker}, {"queues", {"idle"}}, {"wait_ms", 25'000}});
      if (r.status == 200 && !r.body["jobs"].empty()) ++got_job;
      ++returned;
    });
  }
  std::vector<std::unique_ptr<SseClient>> streams;
  for (int i = 0; i < kStreams; ++i) streams.push_back(std::make_unique<SseClient>(server.port(), "/v1/events"));
  for (auto& s : streams) ASSERT_TRUE(s->WaitConnected(Millis(10'000)));
  ASSERT_TRUE(WaitUntil([&] { return Gauge(server, "jobwarden_long_polls") == kPolls; }, Millis(15'000)))
      << "long-polls waiting: " << Gauge(server, "jobwarden_long_polls");
  EXPECT_EQ(Gauge(server, "jobwarden_event_streams"), kStreams);
  EXPECT_EQ(returned.load(), 0);

  auto t0 = Clock::now();
  Reply enqueued = server.Post("/v1/jobs", {{"kind", "k"}, {"queue", "elsewhere"}});
  const auto enqueue_ms = std::chrono::duration_cast<Millis>(Clock::now() - t0).count();
  ASSERT_EQ(enqueued.status, 201);
  t0 = Clock::now();
  Reply hb = server.Post("/v1/worker/heartbeat",
                         {{"worker_id", worker}, {"jobs", {{{"id", held["id"]}, {"token", held["lease"]["token"]}}}}});
  const auto heartbeat_ms = std::chrono::duration_cast<Millis>(Clock::now() - t0).count();
  ASSERT_EQ(hb.status, 200);
  EXPECT_EQ(hb.body["jobs"][0]["answer"], "continue");
  // Milliseconds in practice; the bound is generous for a loaded machine.
  EXPECT_LT(enqueue_ms, 2000);
  EXPECT_LT(heartbeat_ms, 2000);
  std::cerr << "with " << kPolls << " long-polls and " << kStreams << " streams open: enqueue " << enqueue_ms
            << " ms, heartbeat " << heartbeat_ms << " ms\n";

  // One job wakes one waiter (no thundering herd): the rest keep waiting.
  server.Enqueue({{"kind", "k"}, {"queue", "idle"}});
  ASSERT_TRUE(WaitUntil([&] { return got_job.load() == 1; }, Millis(5000)));
  std::this_thread::sleep_for(Millis(300));
  EXPECT_EQ(returned.load(), 1);
  EXPECT_EQ(Gauge(server, "jobwarden_long_polls"), kPolls - 1);

  // Shutdown wakes every waiter and ends every stream.
  const auto stop_at = Clock::now();
  EXPECT_EQ(server.Stop(), 0) << server.Stderr();
  EXPECT_LT(std::chrono::duration_cast<Millis>(Clock::now() - stop_at).count(), 8000);
  for (auto& t : polls) t.join();
  EXPECT_EQ(returned.load(), kPolls);
  EXPECT_EQ(got_job.load(), 1);
  for (auto& s : streams) EXPECT_TRUE(WaitUntil([&] { return s->Ended(); }, Millis(5000)));
}

}  // namespace
}  // namespace jobwarden::testing
