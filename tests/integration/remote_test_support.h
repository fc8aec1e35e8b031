// Shared by tests/integration/remote_*_test.cc: a real `jobwarden server` on a
// port fixed for the test's life (so it can be killed and restarted under its
// workers), real `jobwarden worker --server` processes, and HTTP helpers.
//
// Timing: poll with generous bounds; never assert on how long something took.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "integration/server_harness.h"

namespace jobwarden::testing {

using namespace std::chrono_literals;

// A free TCP port on 127.0.0.1 (bound to port 0, then released).
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    return 0;
  }
  const int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

class RemoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    ASSERT_NE(port_, 0);
  }

  void TearDown() override {
    for (auto& w : workers_) {
      if (w->running()) w->Signal(SIGKILL);
    }
    if (!HasFailure()) return;
    if (server_) std::cerr << "----- server stderr -----\n" << server_->Stderr() << "\n";
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      std::cerr << "----- worker " << i << " (pid " << workers_[i]->pid() << ") stderr -----\n"
                << workers_[i]->Stderr() << workers_[i]->Stdout() << "\n";
    }
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string db() const { return dir_.File("var/jobs.db"); }

  // Starts (or restarts, on the same database and port) the server.
  void StartServer(const std::vector<std::string>& extra = {}) {
    StartServerWithEnv({{"SPDLOG_LEVEL", "info"}}, extra);
  }
  void StartServerWithEnv(const std::map<std::string, std::string>& env, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {
        JOBWARDEN_CLI_BINARY, "server", "--db", db(), "--listen", "127.0.0.1:" + std::to_string(port_)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<ChildProcess>(argv, dir_.File("server-" + std::to_string(++server_starts_)), env);
    const bool up = WaitUntil([&] { return Get("/healthz").status == 200; }, 15s);
    ASSERT_TRUE(up) << "server did not start: " << server_->Stderr();
  }
  void KillServer() {
    server_->Signal(SIGKILL);
    server_->WaitFor(5s);
  }
  int StopServer() {
    server_->Signal(SIGTERM);
    const int status = server_->WaitFor(15s);
    return status == -1 ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }

  std::unique_ptr<httplib::Client> Client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(std::chrono::seconds(30));
    c->set_connection_timeout(std::chrono::seconds(2));
    return c;
  }
  Reply Post(const std::string& path, const json& body) const {
    return ToReply(Client()->Post(path.c_str(), body.dump(), "application/json"));
  }
  Reply Get(const std::string& path) const { return ToReply(Client()->Get(path.c_str())); }

  std::string Enqueue(const json& job) {
    Reply r = Post("/v1/jobs", job);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body.value("id", "");
  }
  json Job(const std::string& id) { return Get("/v1/jobs/" + id).body; }
  std::string State(const std::string& id) {
    json j = Job(id);
    return j.is_object() ? j.value("state", "") : "";
  }
  bool WaitForState(const std::string& id, const std::string& state, Millis bound) {
    return WaitUntil([&] { return State(id) == state; }, bound);
  }

  // Writes `body` to an executable file in the temp dir; returns its path.
  std::string WriteScript(const std::string& name, const std::string& body) {
    const std::string path = dir_.File(name);
    std::ofstream(path) << body;
    chmod(path.c_str(), 0755);
    return path;
  }

  // A worker config: `worker_toml` under [worker], then kind `kind` running `argv`
  // with MARKS (the temp dir) in its environment.
  std::string WriteConfig(const std::string& name, const std::string& worker_toml, const std::string& kind,
                          const std::vector<std::string>& argv) {
    std::ostringstream toml;
    toml << "[worker]\n" << worker_toml << "\n\n[kinds." << kind << "]\ncommand = [";
    for (std::size_t i = 0; i < argv.size(); ++i) toml << (i ? ", " : "") << json(argv[i]).dump();
    toml << "]\nenv = { MARKS = " << json(dir_.path()).dump() << " }\n";
    const std::string path = dir_.File(name);
    std::ofstream(path) << toml.str();
    return path;
  }

  // Starts `jobwarden worker --server URL --config CONFIG`.
  ChildProcess& StartWorker(const std::string& config, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{JOBWARDEN_CLI_BINARY, "worker", "--server", url(), "--config", config};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const std::string prefix = dir_.File("worker-" + std::to_string(workers_.size()));
    workers_.push_back(std::make_unique<ChildProcess>(
        argv, prefix, std::map<std::string, std::string>{{"JOBWARDEN_LOG_LEVEL", "debug"}}));
    return *workers_.back();
  }

  // Workers the server lists (not stopped), with an open session.
  std::size_t WorkersWithSession() {
    Reply r = Get("/v1/workers");
    std::size_t n = 0;
    if (r.status == 200) {
      for (const auto& w : r.body["workers"]) n += w.value("session_open", false) ? 1 : 0;
    }
    return n;
  }

  TempDir dir_;
  int port_ = 0;
  int server_starts_ = 0;
  std::unique_ptr<ChildProcess> server_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
};

}  // namespace jobwarden::testing
