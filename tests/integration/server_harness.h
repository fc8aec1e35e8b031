// A real `jobwarden server` process on port 0 in a temp dir, and small HTTP
// helpers over cpp-httplib's client, for tests/integration/server_*_test.cc.
#pragma once

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "testutil/process.h"
#include "testutil/temp_dir.h"

namespace jobwarden::testing {

using nlohmann::json;
using Millis = std::chrono::milliseconds;

struct Reply {
  int status = 0;  // 0: no answer (connection error)
  json body;
  std::string raw;
};

inline Reply ToReply(const httplib::Result& r) {
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.raw = r->body;
  out.body = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  return out;
}

// The error code of an error reply ("" if none).
inline std::string Code(const Reply& r) {
  if (!r.body.is_object() || !r.body.contains("error")) return "";
  return r.body["error"].value("code", "");
}
inline std::string Message(const Reply& r) {
  if (!r.body.is_object() || !r.body.contains("error")) return "";
  return r.body["error"].value("message", "");
}

class ServerProcess {
 public:
  // `env` is added to the server's environment; `args` to its command line.
  explicit ServerProcess(std::map<std::string, std::string> env = {}, std::vector<std::string> args = {})
      : env_(std::move(env)), args_(std::move(args)) {}
  ~ServerProcess() { Kill(); }

  std::string db() const { return dir_.File("var/jobs.db"); }
  const TempDir& dir() const { return dir_; }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  ChildProcess* process() { return proc_.get(); }

  // Starts the server (again, on the same database) and waits until it answers.
  void Start() {
    std::vector<std::string> argv = {JOBWARDEN_CLI_BINARY, "server", "--db", db(), "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), args_.begin(), args_.end());
    std::map<std::string, std::string> env = env_;
    env.emplace("SPDLOG_LEVEL", "info");
    proc_ = std::make_unique<ChildProcess>(argv, dir_.File("server-" + std::to_string(++starts_)), env);
    const std::string discovery = dir_.File("var/server.json");
    const pid_t pid = proc_->pid();
    const bool up = WaitUntil(
        [&] {
          std::ifstream in(discovery);
          if (!in) return false;
          json j = json::parse(in, nullptr, false);
          if (!j.is_object() || j.value("pid", 0) != pid) return false;
          const std::string url = j.value("url", "");
          const auto colon = url.rfind(':');
          port_ = std::stoi(url.substr(colon + 1));
          return true;
        },
        Millis(10'000));
    ASSERT_TRUE(up) << "server did not start: " << proc_->Stderr();
    ASSERT_NE(proc_->Stderr().find("listening on http://127.0.0.1:" + std::to_string(port_)), std::string::npos)
        << proc_->Stderr();
  }

  // SIGTERM and wait; returns the exit code (-1 if it did not exit in time).
  int Stop(Millis timeout = Millis(10'000)) {
    if (!proc_ || !proc_->running()) return -1;
    proc_->Signal(SIGTERM);
    const int status = proc_->WaitFor(timeout);
    if (status == -1) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  void Kill() {
    if (proc_ && proc_->running()) {
      proc_->Signal(SIGKILL);
      proc_->WaitFor(Millis(5000));
    }
  }

  std::string Stderr() const { return proc_ ? proc_->Stderr() : ""; }

  std::unique_ptr<httplib::Client> Client(const std::string& token = "") const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(std::chrono::seconds(60));
    c->set_connection_timeout(std::chrono::seconds(5));
    if (!token.empty()) c->set_bearer_token_auth(token.c_str());
    return c;
  }

  Reply Post(const std::string& path, const json& body, const std::string& token = "") const {
    return ToReply(Client(token)->Post(path.c_str(), body.dump(), "application/json"));
  }
  Reply Put(const std::string& path, const json& body, const std::string& token = "") const {
    return ToReply(Client(token)->Put(path.c_str(), body.dump(), "application/json"));
  }
  Reply Get(const std::string& path, const std::string& token = "") const {
    return ToReply(Client(token)->Get(path.c_str()));
  }
  Reply Delete(const std::string& path, const std::string& token = "") const {
    return ToReply(Client(token)->Delete(path.c_str()));
  }

  // Helpers for the worker protocol.
  std::string Register(const std::string& token = "", const std::vector<std::string>& queues = {"default"}) const {
    Reply r =
        Post("/v1/worker/register", {{"host", "test-host"}, {"pid", 4242}, {"queues", queues}, {"slots", 4}}, token);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body.value("worker_id", "");
  }
  std::string Enqueue(const json& job, const std::string& token = "") const {
    Reply r = Post("/v1/jobs", job, token);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body.value("id", "");
  }
  // One job leased to `worker_id`, or a null json.
  json FetchOne(const std::string& worker_id, const json& extra = json::object(), const std::string& token = "") const {
    json body = {{"worker_id", worker_id}, {"max", 1}};
    for (const auto& [k, v] : extra.items()) body[k] = v;
    Reply r = Post("/v1/worker/fetch", body, token);
    EXPECT_EQ(r.status, 200) << r.raw;
    if (r.status != 200 || r.body["jobs"].empty()) return json();
    return r.body["jobs"][0];
  }

 private:
  std::map<std::string, std::string> env_;
  std::vector<std::string> args_;
  TempDir dir_;
  std::unique_ptr<ChildProcess> proc_;
  int port_ = 0;
  int starts_ = 0;
};

// An SSE client on its own thread: collects (event, data) pairs until Close().
class SseClient {
 public:
  struct Event {
    std::string name;
    json data;
  };

  SseClient(int port, std::string path, std::string token = "") {
    thread_ = std::thread([this, port, path = std::move(path), token = std::move(token)] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(std::chrono::seconds(30));
      if (!token.empty()) c.set_bearer_token_auth(token.c_str());
      auto res = c.Get(path.c_str(), [this](const char* data, size_t len) {
        std::lock_guard<std::mutex> lock(mu_);
        connected_ = true;
        buffer_.append(data, len);
        Parse();
        return !stop_.load();
      });
      std::lock_guard<std::mutex> lock(mu_);
      if (res) status_ = res->status;
      ended_ = true;
    });
  }
  ~SseClient() { Close(); }

  // Drops the connection (the receiver refuses the next chunk).
  void Close() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  bool WaitConnected(Millis timeout = Millis(5000)) {
    return WaitUntil([&] { return Connected(); }, timeout);
  }
  bool Connected() {
    std::lock_guard<std::mutex> lock(mu_);
    return connected_;
  }
  bool Ended() {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }
  std::vector<Event> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // Waits for an event named `name` whose data satisfies `pred`.
  bool WaitFor(const std::string& name, const std::function<bool(const json&)>& pred, Millis timeout) {
    return WaitUntil(
        [&] {
          for (const Event& e : Events()) {
            if (e.name == name && pred(e.data)) return true;
          }
          return false;
        },
        timeout);
  }

 private:
  // REQUIRES: mu_ held.
  void Parse() {
    std::size_t end;
    while ((end = buffer_.find("\n\n")) != std::string::npos) {
      const std::string block = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      Event e;
      std::istringstream lines(block);
      std::string line;
      std::string data;
      while (std::getline(lines, line)) {
        if (line.rfind("event: ", 0) == 0) e.name = line.substr(7);
        if (line.rfind("data: ", 0) == 0) data += line.substr(6);
      }
      if (e.name.empty()) continue;  // a comment (tick)
      e.data = json::parse(data, nullptr, false);
      events_.push_back(std::move(e));
    }
  }

  std::mutex mu_;
  std::string buffer_;
  std::vector<Event> events_;
  bool connected_ = false;
  bool ended_ = false;
  int status_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace jobwarden::testing
