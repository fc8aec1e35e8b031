// Shared by tests/integration/worker_*_test.cc: real `jobwarden worker`
// processes on a SQLite file in a temp dir, with command handlers written by
// each test. The test process has its own engine on the same file, only to
// enqueue and to read jobs back: it runs no reaper (the workers do).
//
// Timing: tests use short lease TTLs where they need them and poll with
// generous bounds; they never assert on how long something took.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "engine/engine.h"
#include "store/sqlite/sqlite_store.h"
#include "testutil/process.h"
#include "testutil/temp_dir.h"

namespace jobwarden::testing {

using namespace std::chrono_literals;

class WorkerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.File("jobs.db");
    auto store = OpenSqliteStore({.path = db_});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    engine_ = std::make_unique<Engine>(*store_, clock_);
  }

  // A failed test shows what every worker logged (any test, with
  // JOBWARDEN_TEST_WORKER_LOGS=1 in the environment).
  void TearDown() override {
    if (!HasFailure() && std::getenv("JOBWARDEN_TEST_WORKER_LOGS") == nullptr) return;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      std::cerr << "----- worker " << i << " (pid " << workers_[i]->pid() << ") stderr -----\n"
                << workers_[i]->Stderr() << "\n";
    }
  }

  // Writes `body` to an executable file in the temp dir; returns its path.
  std::string WriteScript(const std::string& name, const std::string& body) {
    const std::string path = dir_.File(name);
    std::ofstream(path) << body;
    chmod(path.c_str(), 0755);
    return path;
  }

  // A config with one [worker] table and one command kind `kind` running `argv`;
  // MARKS (the temp dir) is in the handler's environment, for pid files.
  std::string WriteConfig(const std::string& worker_toml, const std::string& kind,
                          const std::vector<std::string>& argv) {
    std::ostringstream toml;
    toml << "[worker]\n" << worker_toml << "\n\n[kinds." << kind << "]\ncommand = [";
    for (std::size_t i = 0; i < argv.size(); ++i) toml << (i ? ", " : "") << nlohmann::json(argv[i]).dump();
    toml << "]\nenv = { MARKS = " << nlohmann::json(dir_.path()).dump() << " }\n";
    const std::string path = dir_.File("worker.toml");
    std::ofstream(path) << toml.str();
    return path;
  }

  // Starts `jobwarden worker --db <db> --config <config> <extra...>`.
  ChildProcess& StartWorker(const std::string& config, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{JOBWARDEN_CLI_BINARY, "worker", "--db", db_, "--config", config};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const std::string prefix = dir_.File("worker-" + std::to_string(workers_.size()));
    workers_.push_back(std::make_unique<ChildProcess>(
        argv, prefix, std::map<std::string, std::string>{{"JOBWARDEN_LOG_LEVEL", "debug"}}));
    return *workers_.back();
  }

  // A job of `kind` with these limits (every job has a timeout; tests set it).
  static EnqueueRequest Request(const std::string& kind, Duration timeout, int max_attempts) {
    EnqueueRequest r;
    r.kind = kind;
    r.timeout = timeout;
    r.max_attempts = max_attempts;
    return r;
  }

  JobId Enqueue(const EnqueueRequest& r) {
    auto e = engine_->Enqueue(r);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? e->job.id : 0;
  }

  Job Get(JobId id) {
    auto j = engine_->Get(id);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? *j : Job{};
  }

  bool WaitForState(JobId id, JobState state, std::chrono::milliseconds bound) {
    return WaitUntil([&] { return Get(id).state == state; }, bound);
  }

  // Registered workers that have not stopped (dead ones included until seen).
  std::size_t LiveWorkers() {
    auto w = engine_->Workers(false);
    return w.ok() ? w->size() : 0;
  }

  // The pid a handler wrote to MARKS/<name> ("echo $$ > ..."), once complete.
  std::optional<pid_t> ReadPid(const std::string& name) {
    std::ifstream in(dir_.File(name));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.empty() || text.back() != '\n') return std::nullopt;
    return static_cast<pid_t>(std::stol(text));
  }

  // Waits for the pid file, then returns the pid (0 if it never came).
  pid_t WaitForPid(const std::string& name, std::chrono::milliseconds bound = 20s) {
    std::optional<pid_t> pid;
    WaitUntil([&] { return (pid = ReadPid(name)).has_value(); }, bound);
    return pid.value_or(0);
  }

  static nlohmann::json Json(const std::optional<std::string>& text) {
    return text ? nlohmann::json::parse(*text) : nlohmann::json();
  }

  static bool ExitedWith(int wait_status, int code) {
    return wait_status != -1 && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == code;
  }

  TempDir dir_;
  std::string db_;
  std::unique_ptr<Store> store_;
  SystemClock clock_;
  std::unique_ptr<Engine> engine_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
};

}  // namespace jobwarden::testing
