// The HTTP/1.1 layer of a real `jobwarden server` (src/server/beast_server.cc),
// spoken byte by byte over a raw socket, for what a library client hides:
// pipelined requests, `Expect: 100-continue`, malformed requests, a body over
// every limit, HEAD, percent-encoded queries.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

// A raw TCP connection to the server, reading answers as they come.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConnection() { ::close(fd_); }

  bool connected() const { return connected_; }

  bool Send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }

  // One answer: its head (status line and fields) and, per Content-Length, its
  // body (none for the answer to a HEAD request). Empty head when the
  // connection closed or nothing came within 10 s.
  struct Answer {
    std::string head;
    std::string body;
    int status = 0;
  };
  Answer Read(bool to_head = false) {
    Answer a;
    std::size_t end;
    while ((end = buffered_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return a;
    }
    a.head = buffered_.substr(0, end + 4);
    buffered_.erase(0, end + 4);
    a.status = std::stoi(a.head.substr(9, 3));
    const std::size_t length = to_head ? 0 : ContentLength(a.head);
    while (buffered_.size() < length) {
      if (!Fill()) return a;
    }
    a.body = buffered_.substr(0, length);
    buffered_.erase(0, length);
    return a;
  }

  // True when the server closed the connection (within 10 s).
  bool ClosedByPeer() {
    while (buffered_.empty()) {
      if (!Fill()) return closed_;
    }
    return false;
  }

  static std::size_t ContentLength(const std::string& head) {
    const std::string lower = Lower(head);
    const auto at = lower.find("\r\ncontent-length:");
    return at == std::string::npos ? 0 : std::stoul(lower.substr(at + 17));
  }

  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

 private:
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffered_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string buffered_;
};

std::string Post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

std::string Get(const std::string& path, const std::string& method = "GET") {
  return method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

class ServerHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.Start(); }
  ServerProcess server_;
};

TEST_F(ServerHttpTest, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.Send(Post("/v1/jobs", R"({"kind":"first"})") + Get("/readyz") + Post("/v1/jobs", R"({"kind":"second"})")));
  RawConnection::Answer a = c.Read();
  RawConnection::Answer b = c.Read();
  RawConnection::Answer d = c.Read();
  ASSERT_EQ(a.status, 201) << a.head << a.body;
  EXPECT_EQ(json::parse(a.body)["kind"], "first");
  EXPECT_EQ(b.status, 200) << b.head << b.body;
  ASSERT_EQ(d.status, 201) << d.head << d.body;
  EXPECT_EQ(json::parse(d.body)["kind"], "second");
}

TEST_F(ServerHttpTest, ExpectContinueGetsAnInterimAnswerBeforeTheBodyIsSent) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  const std::string body = R"({"kind":"patient"})";
  const std::string request = Post("/v1/jobs", body, "Expect: 100-continue\r\n");
  ASSERT_TRUE(c.Send(request.substr(0, request.size() - body.size())));  // the head only
  RawConnection::Answer interim = c.Read();
  EXPECT_EQ(interim.status, 100) << interim.head;
  ASSERT_TRUE(c.Send(body));
  RawConnection::Answer final_answer = c.Read();
  ASSERT_EQ(final_answer.status, 201) << final_answer.head << final_answer.body;
  EXPECT_EQ(json::parse(final_answer.body)["kind"], "patient");
}

TEST_F(ServerHttpTest, AMalformedRequestIsAnswered400InTheApiShapeAndClosed) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("THIS IS NOT HTTP\r\n\r\n"));
  RawConnection::Answer a = c.Read();
  ASSERT_EQ(a.status, 400) << a.head << a.body;
  const json body = json::parse(a.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << a.body;
  EXPECT_EQ(body["error"]["code"], "invalid_argument");
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerHttpTest, ABodyOverEveryLimitIsRefusedWithoutWaitingForIt) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  // Announces 4 GiB and sends none of it: the answer must not wait for the body.
  ASSERT_TRUE(
      c.Send("POST /v1/jobs/bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Content-Length: 4294967296\r\n\r\n"));
  RawConnection::Answer a = c.Read();
  ASSERT_EQ(a.status, 413) << a.head << a.body;
  EXPECT_EQ(json::parse(a.body)["error"]["code"], "payload_too_large");
  EXPECT_TRUE(c.ClosedByPeer());  // the unread body would put the connection out of step
  // The server itself is fine.
  EXPECT_EQ(server_.Get("/healthz").status, 200);
}

TEST_F(ServerHttpTest, HeadAnswersTheHeadOfGetWithoutTheBody) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(Get("/healthz")));
  RawConnection::Answer get = c.Read();
  ASSERT_EQ(get.status, 200) << get.head;
  ASSERT_FALSE(get.body.empty());
  ASSERT_TRUE(c.Send(Get("/healthz", "HEAD") + Get("/readyz")));
  RawConnection::Answer head = c.Read(/*to_head=*/true);
  ASSERT_EQ(head.status, 200) << head.head;
  EXPECT_EQ(RawConnection::ContentLength(head.head), get.body.size()) << head.head;
  // Had a body followed the head, it would be read as the next answer's status line.
  RawConnection::Answer next = c.Read();
  EXPECT_EQ(next.status, 200) << next.head << next.body;
}

TEST_F(ServerHttpTest, ABodyOverTheRoutesLimitIsNotInvitedAndLeavesTheConnectionUsable) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  // 2 MiB to POST /v1/jobs (limit 1 MiB), asking whether to send it: the
  // first answer must be the 413, not a "100 Continue".
  const std::string body(2u << 20, 'x');
  ASSERT_TRUE(c.Send(Post("/v1/jobs", body, "Expect: 100-continue\r\n")));
  RawConnection::Answer a = c.Read();
  ASSERT_EQ(a.status, 413) << a.head << a.body;
  EXPECT_EQ(json::parse(a.body)["error"]["code"], "payload_too_large");
  ASSERT_TRUE(c.Send(Get("/readyz")));
  EXPECT_EQ(c.Read().status, 200);
}

TEST_F(ServerHttpTest, AnHttp10ClientGetsItsAnswerAndAClose) {
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
  RawConnection::Answer a = c.Read();
  ASSERT_EQ(a.status, 200) << a.head;
  EXPECT_EQ(a.head.rfind("HTTP/1.0 200", 0), 0u) << a.head;
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(ServerHttpTest, QueryValuesArePercentDecoded) {
  ASSERT_EQ(server_.Post("/v1/jobs", {{"kind", "k"}, {"queue", "q-1.x"}}).status, 201);
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(Get("/v1/jobs?queue=q%2D1%2Ex&limit=10")));
  RawConnection::Answer a = c.Read();
  ASSERT_EQ(a.status, 200) << a.head << a.body;
  const json jobs = json::parse(a.body)["jobs"];
  ASSERT_EQ(jobs.size(), 1u) << a.body;
  EXPECT_EQ(jobs[0]["queue"], "q-1.x");
}

// The busy-poll counters of GET /metrics: {caught, missed}.
std::pair<long, long> BusyPolls(int port) {
  RawConnection c(port);
  if (!c.Send(Get("/metrics"))) return {-1, -1};
  const std::string body = c.Read().body;
  auto count = [&](const std::string& outcome) {
    const std::string series = "jobwarden_http_busy_polls_total{outcome=\"" + outcome + "\"} ";
    const auto at = body.find(series);
    return at == std::string::npos ? -1L : std::stol(body.substr(at + series.size()));
  };
  return {count("caught"), count("missed")};
}

// A server whose `[server]` section is `settings`.
std::unique_ptr<ServerProcess> ConfiguredServer(const TempDir& dir, const std::string& settings) {
  const std::string config = dir.File("jobwarden.toml");
  std::ofstream(config) << "[server]\n" << settings << "\n";
  auto server = std::make_unique<ServerProcess>(std::map<std::string, std::string>{},
                                                std::vector<std::string>{"--config", config});
  server->Start();
  return server;
}

// Requests sent back to back on one connection (the second as soon as the
// first is answered) find its thread busy-polling, which the metrics count;
// the answers are the same as without it.
TEST(ServerBusyPollTest, BackToBackRequestsAreCaughtByTheBusyPoll) {
  TempDir dir;
  // A 10 ms poll: long enough for this test's client on a loaded machine.
  auto server = ConfiguredServer(dir, "busy_poll_us = 10000");
  RawConnection c(server->port());
  ASSERT_TRUE(c.connected());
  constexpr int kRequests = 40;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(c.Send(Post("/v1/jobs", R"({"kind":"back-to-back"})")));
    RawConnection::Answer a = c.Read();
    ASSERT_EQ(a.status, 201) << a.head << a.body;
  }
  const auto [caught, missed] = BusyPolls(server->port());
  // The first request has no pause before it to judge by, so it is waited for
  // asleep; of the rest, most come within 10 ms even under a sanitizer.
  EXPECT_GE(caught, kRequests / 2) << "missed " << missed;
  EXPECT_LE(caught + missed, kRequests - 1);
  EXPECT_EQ(server->Get("/v1/jobs?kind=back-to-back&limit=100").body["jobs"].size(), std::size_t{kRequests});
}

// A connection that pauses longer than the poll, and a server with the poll
// turned off, are not busy-polled.
TEST(ServerBusyPollTest, SlowClientsAndATurnedOffPollAreNotBusyPolled) {
  TempDir dir;
  {
    auto server = ConfiguredServer(dir, "busy_poll_us = 0");
    RawConnection c(server->port());
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(c.Send(Get("/healthz")));
      ASSERT_EQ(c.Read().status, 200);
    }
    EXPECT_EQ(BusyPolls(server->port()), std::make_pair(0L, 0L));
  }
  auto server = ConfiguredServer(dir, "busy_poll_us = 50");
  const auto before = BusyPolls(server->port());
  RawConnection c(server->port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.Send(Get("/healthz")));
    ASSERT_EQ(c.Read().status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // 400 times the poll
  }
  // No pause was short enough to poll after. (The /metrics requests are one per connection.)
  EXPECT_EQ(BusyPolls(server->port()), before);
}

TEST(ServerBusyPollTest, AnOutOfRangePollIsRefusedNamingTheKey) {
  TempDir dir;
  const std::string config = dir.File("jobwarden.toml");
  std::ofstream(config) << "[server]\nbusy_poll_us = 20000\n";
  ChildProcess server(
      {JOBWARDEN_CLI_BINARY, "server", "--db", dir.File("jobs.db"), "--config", config, "--listen", "127.0.0.1:0"},
      dir.File("server"));
  const int status = server.WaitFor(std::chrono::seconds(30));
  ASSERT_NE(status, -1) << "the server did not exit";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
  EXPECT_NE(server.Stderr().find("server.busy_poll_us"), std::string::npos) << server.Stderr();
}

}  // namespace
}  // namespace jobwarden::testing
