// The project's HTTP client (src/client/http_client.h) against a real
// `jobwarden server`: its busy-poll for a quick answer (HttpClientOptions::
// busy_poll) catches answers that come at once, is never spent on a
// long-poll, and is off when set to zero; the answers are the same either way.
#include "client/http_client.h"
#include "integration/remote_test_support.h"

namespace jobwarden::testing {
namespace {

class RemoteHttpClientTest : public RemoteTest {
 protected:
  void SetUp() override {
    RemoteTest::SetUp();
    StartServer();
  }

  client::HttpClientOptions Options(std::chrono::microseconds busy_poll) const {
    client::HttpClientOptions o;
    o.server = client::ParseServerUrl(url()).value();
    o.busy_poll = busy_poll;
    return o;
  }
};

TEST_F(RemoteHttpClientTest, QuickAnswersAreCaughtByTheBusyPoll) {
  // 10 ms: long enough for a server under a sanitizer on a loaded machine.
  client::HttpClient http(Options(std::chrono::milliseconds(10)));
  constexpr int kCalls = 30;
  for (int i = 0; i < kCalls; ++i) {
    Result<nlohmann::json> job = http.Call("POST", "/v1/jobs", {{"kind", "quick"}}, "enqueue");
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    EXPECT_EQ((*job)["kind"], "quick");
  }
  const client::BusyPollCounts n = http.busy_polls();
  // The first call on the connection has no earlier answer to judge by, so it
  // sleeps; after it, the answers came within 10 ms.
  EXPECT_GE(n.caught, static_cast<std::uint64_t>(kCalls / 2)) << "missed " << n.missed;
  EXPECT_LE(n.caught + n.missed, static_cast<std::uint64_t>(kCalls - 1));
}

TEST_F(RemoteHttpClientTest, ALongPollIsNeverBusyPolledAndZeroTurnsItOff) {
  client::HttpClient http(Options(std::chrono::milliseconds(10)));
  Result<nlohmann::json> reg =
      http.Call("POST", "/v1/worker/register", {{"host", "test-host"}, {"pid", 1}, {"queues", {"idle"}}, {"slots", 1}},
                "register");
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  const std::string worker = (*reg)["worker_id"];
  ASSERT_TRUE(http.Call("GET", "/healthz", nullptr, "health").ok());  // a quick answer on the connection
  const client::BusyPollCounts before = http.busy_polls();
  // An empty queue: the server holds the fetch for its whole wait.
  Result<nlohmann::json> fetched =
      http.Call("POST", "/v1/worker/fetch", {{"worker_id", worker}, {"queues", {"idle"}}, {"max", 1}, {"wait_ms", 300}},
                "fetch", std::chrono::milliseconds(300));
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_TRUE((*fetched)["jobs"].empty());
  const client::BusyPollCounts after = http.busy_polls();
  EXPECT_EQ(after.caught, before.caught);
  EXPECT_EQ(after.missed, before.missed);

  client::HttpClient off(Options(std::chrono::microseconds(0)));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(off.Call("GET", "/healthz", nullptr, "health").ok());
  EXPECT_EQ(off.busy_polls().caught + off.busy_polls().missed, 0u);
}

}  // namespace
}  // namespace jobwarden::testing
