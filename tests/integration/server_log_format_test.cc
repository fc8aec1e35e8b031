// `--log-format json` (and `[server] log_format`, $JOBWARDEN_LOG_FORMAT)
// through the real binary (docs/server.md "Logs"): every stderr line of a
// process that logs JSON is one JSON object with ts/level/msg, and the lines
// about a job carry its job_id, kind, attempt and worker_id; unknown formats
// are usage errors naming the value.
#include <nlohmann/json.hpp>

#include <sstream>

#include "integration/server_harness.h"
#include "integration/worker_test_support.h"

namespace jobwarden::testing {
namespace {

// Every line of `text` parsed as a JSON object; a line that is not one fails
// the test, naming it.
std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << "not a JSON object: " << line;
    if (!j.is_object()) continue;
    EXPECT_TRUE(j["ts"].is_string() && j["level"].is_string() && j["msg"].is_string()) << line;
    for (const char* key : {"job_id", "kind", "worker_id"}) {
      if (j.contains(key)) {
        EXPECT_TRUE(j[key].is_string() && !j[key].get<std::string>().empty()) << line;
      }
    }
    if (j.contains("attempt")) {
      EXPECT_TRUE(j["attempt"].is_number_integer()) << line;
    }
    lines.push_back(std::move(j));
  }
  return lines;
}

using LogFormatWorkerTest = WorkerProcessTest;

// An embedded worker runs a command job that fails: the pool's, the job
// log's and the engine's lines about it all name the job.
TEST_F(LogFormatWorkerTest, WorkerLogsOneJsonObjectPerLineWithTheJobsFields) {
  const std::string script = WriteScript("fails.sh", "#!/bin/sh\necho 'broke: \"quoted\"' >&2\nexit 1\n");
  const std::string config = WriteConfig("concurrency = 1", "flaky", {"sh", script});
  const JobId id = Enqueue(Request("flaky", 30s, 1));
  ChildProcess& worker = StartWorker(config, {"--log-format", "json"});
  ASSERT_TRUE(WaitForState(id, JobState::kFailed, 30s)) << worker.Stderr();
  worker.Signal(SIGTERM);
  ASSERT_TRUE(ExitedWith(worker.WaitFor(20s), 0)) << worker.Stderr();

  const std::vector<nlohmann::json> lines = JsonLines(worker.Stderr());
  ASSERT_FALSE(lines.empty());
  int about_job = 0;
  bool failed_line = false;
  const std::string prefix = "job " + FormatJobId(id) + " ";
  for (const nlohmann::json& j : lines) {
    // Every line that says it is about the job (the engine's, the pool's,
    // the handler process's supervisor's) names it in the fields too.
    if (j["msg"].get<std::string>().rfind(prefix, 0) == 0) {
      EXPECT_EQ(j.value("job_id", ""), FormatJobId(id)) << j;
    }
    if (j.value("job_id", "") != FormatJobId(id)) continue;
    ++about_job;
    EXPECT_EQ(j.value("kind", ""), "flaky") << j;
    if (j.contains("attempt") && j.contains("worker_id")) {
      EXPECT_EQ(j["attempt"], 1) << j;
      if (j["msg"].get<std::string>().find("attempt 1 failed") != std::string::npos) failed_line = true;
    }
  }
  EXPECT_GE(about_job, 2) << worker.Stderr();  // started, failed (and the engine's state change)
  EXPECT_TRUE(failed_line) << "no 'attempt 1 failed' line with job_id, kind, attempt and worker_id:\n"
                           << worker.Stderr();
}

TEST(LogFormatCliTest, UnknownFormatIsAUsageErrorNamingTheValue) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--log-format", "yaml", "ls"},
                                               std::vector<std::string>{"ls", "--log-format", "yaml"}}) {
    const CommandResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--log-format"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("yaml"), std::string::npos) << r.err;
  }
  const CommandResult env = RunCli({"ls"}, {{"JOBWARDEN_LOG_FORMAT", "yaml"}});
  EXPECT_EQ(env.exit_code, 2) << env.err;
  EXPECT_NE(env.err.find("yaml"), std::string::npos) << env.err;
}

// A one-shot command's final error is a JSON line too, by flag or by environment.
TEST(LogFormatCliTest, OneShotCommandWritesItsErrorAsJson) {
  TempDir dir;
  const std::string db = dir.File("jobs.db");
  const CommandResult flag = RunCli({"--db", db, "--log-format", "json", "cancel", "424242"});
  EXPECT_EQ(flag.exit_code, 1) << flag.err;
  const CommandResult env = RunCli({"--db", db, "cancel", "424242"}, {{"JOBWARDEN_LOG_FORMAT", "json"}});
  EXPECT_EQ(env.exit_code, 1) << env.err;
  for (const CommandResult* r : {&flag, &env}) {
    const std::vector<nlohmann::json> lines = JsonLines(r->err);
    ASSERT_FALSE(lines.empty()) << r->err;
    EXPECT_EQ(lines.back()["level"], "error") << r->err;
    EXPECT_NE(lines.back()["msg"].get<std::string>().find("424242"), std::string::npos) << r->err;
  }
  // Text stays the default.
  const CommandResult text = RunCli({"--db", db, "cancel", "424242"});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_EQ(text.err.rfind("jobwarden: ", 0), 0u) << text.err;
}

std::string WriteServerConfig(const TempDir& dir, const std::string& log_format) {
  const std::string path = dir.File("server.toml");
  std::ofstream(path) << "[server]\nlog_format = \"" << log_format << "\"\n";
  return path;
}

// `[server] log_format = "json"`: the server's every stderr line is JSON
// ("listening on URL" included, which tools look for), and the engine's
// lines about a job name it.
TEST(LogFormatServerTest, ConfigLogFormatJsonMakesTheServerLogJson) {
  TempDir conf;
  ServerProcess server({}, {"--config", WriteServerConfig(conf, "json")});
  server.Start();
  const std::string id = server.Enqueue({{"kind", "resize"}, {"max_attempts", 1}});
  const std::string worker = server.Register();
  const json leased = server.FetchOne(worker, {{"lease_ttl_s", 60}});
  ASSERT_FALSE(leased.is_null()) << server.Stderr();
  ASSERT_EQ(server
                .Post("/v1/worker/fail", {{"id", leased["id"]},
                                          {"token", leased["lease"]["token"]},
                                          {"error", {{"class", "permanent"}, {"message", "bad input"}}}})
                .status,
            200);
  EXPECT_EQ(server.Stop(), 0);

  const std::vector<nlohmann::json> lines = JsonLines(server.Stderr());
  bool listening = false;
  bool about_job = false;
  for (const nlohmann::json& j : lines) {
    if (j["msg"].get<std::string>().rfind("listening on http://127.0.0.1:", 0) == 0) listening = true;
    if (j.value("job_id", "") == id && j.value("kind", "") == "resize") about_job = true;
  }
  EXPECT_TRUE(listening) << server.Stderr();
  EXPECT_TRUE(about_job) << server.Stderr();
}

// Flag > environment > config: either one over a JSON config gives text.
TEST(LogFormatServerTest, FlagAndEnvironmentWinOverTheConfig) {
  TempDir conf;
  const std::string config = WriteServerConfig(conf, "json");
  ServerProcess by_flag({}, {"--config", config, "--log-format", "text"});
  by_flag.Start();
  EXPECT_EQ(by_flag.Stop(), 0);
  ServerProcess by_env({{"JOBWARDEN_LOG_FORMAT", "text"}}, {"--config", config});
  by_env.Start();
  EXPECT_EQ(by_env.Stop(), 0);
  for (const ServerProcess* s : {&by_flag, &by_env}) {
    EXPECT_NE(s->Stderr().find("listening on http://"), std::string::npos) << s->Stderr();
    EXPECT_EQ(s->Stderr().find("{\"ts\""), std::string::npos) << s->Stderr();
  }
}

TEST(LogFormatServerTest, UnknownConfigLogFormatIsRefused) {
  TempDir dir;
  const CommandResult r = RunCli(
      {"--db", dir.File("jobs.db"), "server", "--listen", "127.0.0.1:0", "--config", WriteServerConfig(dir, "bogus")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("server.log_format"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bogus"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace jobwarden::testing
