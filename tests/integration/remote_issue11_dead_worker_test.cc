// Issue 11: a job must never be leased to a worker the server already knows
// is dead, and a lease that never reached a live handler spends no attempt.
//
// Real `jobwarden server` and `jobwarden worker` processes. The jobs have
// max_attempts = 1, so an attempt spent on a run that never started fails
// the job instead of running it: before the fix, the job enqueued after a
// kill -9 went to the dead worker's still-pending long-poll and came back
// 2 s later as a counted `worker_lost`.
//
// Where the dead worker must be one the server cannot see die on this host
// (so that there is a window between its session's drop and the take-back
// verdict), it is played by raw sockets that are then closed — exactly what
// the kernel does to a killed process's connections.
//
// Timing: the issue's 0.5 s is a benchmark figure (docs/benchmarks.md); here
// every wait is a generous polled bound, never a timed assertion.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "integration/remote_test_support.h"

namespace jobwarden::testing {
namespace {

// One raw HTTP/1.1 connection to the server that can be cut at any moment.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Cut();
  }
  ~RawConnection() { Cut(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool Send(const std::string& method, const std::string& target, const std::string& body, int port) {
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
    if (!body.empty()) {
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n" + body;
    return fd_ >= 0 && write(fd_, req.data(), req.size()) == static_cast<ssize_t>(req.size());
  }
  // Closes the connection without reading what the server sent: a kill -9.
  void Cut() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  bool open() const { return fd_ >= 0; }
  // What the server wrote within `bound` (until it stops writing for a moment).
  std::string ReadFor(std::chrono::milliseconds bound) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + bound;
    while (fd_ >= 0 && std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) {
        if (!out.empty()) break;
        continue;
      }
      char buf[4096];
      const ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
};

class Issue11Test : public RemoteTest {
 protected:
  void SetUp() override {
    RemoteTest::SetUp();
    StartServer();
    config_ = WriteConfig("w.toml", "concurrency = 1", "quick", {"/bin/true"});
  }

  void WaitForSessions(std::size_t n) {
    ASSERT_TRUE(WaitUntil([&] { return WorkersWithSession() >= n; }, 20s)) << Get("/v1/workers").raw;
  }

  // The registered (not stopped) worker id of process `pid`, or "".
  std::string WorkerIdOf(pid_t pid) {
    Reply r = Get("/v1/workers");
    if (r.status != 200) return "";
    for (const auto& w : r.body["workers"]) {
      if (w.value("pid", 0) == pid) return w.value("id", "");
    }
    return "";
  }

  // The job ran once, on a live worker, and no attempt was spent on a dead one.
  void ExpectRanOnceOn(const std::string& id, const std::string& dead_worker) {
    ASSERT_TRUE(WaitForState(id, "succeeded", 30s)) << Job(id).dump() << "\n" << server_->Stderr();
    const json j = Job(id);
    EXPECT_EQ(j["attempt"], 1) << j.dump();
    EXPECT_NE(j.value("worker_id", ""), dead_worker) << j.dump();
    for (const auto& e : j["errors"]) EXPECT_FALSE(e.value("counted", true)) << j.dump();
  }

  // A worker on "another host" (the reaper cannot see it die) with an open
  // session and a long-poll fetch in flight, all on raw sockets.
  struct FakeWorker {
    std::string id;
    std::unique_ptr<RawConnection> session;
    std::unique_ptr<RawConnection> fetch;
  };
  FakeWorker StartFakeWorker() {
    FakeWorker f;
    Reply reg =
        Post("/v1/worker/register", {{"host", "another-host"}, {"pid", 1}, {"queues", {"default"}}, {"slots", 1}});
    EXPECT_EQ(reg.status, 201) << reg.raw;
    f.id = reg.body.value("worker_id", "");
    f.session = std::make_unique<RawConnection>(port_);
    EXPECT_TRUE(f.session->Send("GET", "/v1/worker/session?worker_id=" + f.id, "", port_));
    EXPECT_TRUE(WaitUntil(
        [&] {
          Reply r = Get("/v1/workers");
          for (const auto& w : r.body["workers"]) {
            if (w.value("id", "") == f.id) return w.value("session_open", false);
          }
          return false;
        },
        10s));
    f.fetch = std::make_unique<RawConnection>(port_);
    const json body = {{"worker_id", f.id}, {"queues", {"default"}}, {"wait_ms", 60000}, {"lease_ttl_s", 120}};
    EXPECT_TRUE(f.fetch->Send("POST", "/v1/worker/fetch", body.dump(), port_));
    return f;
  }
  // Waits until the server holds `n` long-polls (its gauge), so the fake's fetch is in line.
  bool WaitForLongPolls(int n) {
    return WaitUntil(
        [&] {
          Reply m = Get("/metrics");
          const std::string key = "jobwarden_long_polls ";
          const auto at = m.raw.find("\n" + key);
          return at != std::string::npos && std::stoi(m.raw.substr(at + 1 + key.size())) >= n;
        },
        10s);
  }

  std::string config_;
};

// kill -9 of an idle worker in long-poll, enqueue 0.1 s later, a second
// worker alive: the job runs on the live worker, attempt 1, nothing counted.
// Each round kills the worker that did not run the warm-up job: it has been
// waiting longest, so it is the first in line for the next job.
TEST_F(Issue11Test, JobEnqueuedRightAfterAKillNineRunsOnTheLiveWorker) {
  StartWorker(config_);
  WaitForSessions(1);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    StartWorker(config_);
    WaitForSessions(2);
    const std::string warm = Enqueue({{"kind", "quick"}});
    ASSERT_TRUE(WaitForState(warm, "succeeded", 30s)) << Job(warm).dump();
    const std::string ran_warm = Job(warm).value("worker_id", "");
    ChildProcess* victim = nullptr;
    std::string dead;
    for (auto& w : workers_) {
      const std::string wid = w->running() ? WorkerIdOf(w->pid()) : "";
      if (!wid.empty() && wid != ran_warm) {
        victim = w.get();
        dead = wid;
      }
    }
    ASSERT_NE(victim, nullptr) << Get("/v1/workers").raw;
    victim->Signal(SIGKILL);
    victim->WaitFor(5s);
    std::this_thread::sleep_for(100ms);
    const std::string id = Enqueue({{"kind", "quick"}, {"max_attempts", 1}});
    ExpectRanOnceOn(id, dead);
    ASSERT_TRUE(WaitUntil([&] { return WorkersWithSession() == 1; }, 20s)) << Get("/v1/workers").raw;
  }
}

// The enqueue between the session's drop and the take-back verdict: a worker
// the reaper cannot see die (another host) whose session connection drops
// while its long-poll's connection is still open. Its fetch is answered
// empty at once, it is leased nothing while the grace runs, and the job goes
// to the live worker at once, attempt 1, nothing counted.
TEST_F(Issue11Test, JobEnqueuedBetweenTheDropAndTheVerdictRunsOnTheLiveWorker) {
  StartWorker(config_);
  WaitForSessions(1);
  FakeWorker fake = StartFakeWorker();
  ASSERT_TRUE(WaitForLongPolls(2)) << Get("/metrics").raw;
  fake.session->Cut();
  // The drop is noticed within about two session ticks; the verdict comes a
  // grace (2 s) later.
  ASSERT_TRUE(
      WaitUntil([&] { return server_->Stderr().find(fake.id + ": session dropped") != std::string::npos; }, 20s))
      << server_->Stderr();
  const std::string id = Enqueue({{"kind", "quick"}, {"max_attempts", 1}});
  ExpectRanOnceOn(id, fake.id);
  const std::string answer = fake.fetch->ReadFor(20s);
  EXPECT_NE(answer.find("200"), std::string::npos) << answer;
  EXPECT_NE(answer.find(R"({"jobs":[]})"), std::string::npos) << answer;
  // Its verdict still comes, and finds nothing to take back.
  ASSERT_TRUE(
      WaitUntil([&] { return server_->Stderr().find("worker " + fake.id + " lost") != std::string::npos; }, 20s))
      << server_->Stderr();
  ExpectRanOnceOn(id, fake.id);
}

// A worker whose fetch connection is cut (not killed: its session stays
// open) while its long-poll is in flight: nobody can read that answer, so it
// leases nothing, and the job goes to the live worker.
TEST_F(Issue11Test, CutFetchConnectionLeasesNothingAndTheLiveWorkerRunsTheJob) {
  StartWorker(config_);
  WaitForSessions(1);
  FakeWorker fake = StartFakeWorker();
  ASSERT_TRUE(WaitForLongPolls(2)) << Get("/metrics").raw;
  fake.fetch->Cut();
  for (int i = 0; i < 3; ++i) {
    const std::string id = Enqueue({{"kind", "quick"}, {"max_attempts", 1}});
    ExpectRanOnceOn(id, fake.id);
  }
  ASSERT_TRUE(fake.session->open());
}

}  // namespace
}  // namespace jobwarden::testing
