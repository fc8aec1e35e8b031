// The CLI's flow-control commands on a database file (--db): queue set,
// resource set, resources, queues and doctor's held reasons, enqueue --cost,
// and every bad flag refused with exit 2 naming the flag, before the database
// is opened. Remote mode is in server_flow_test.cc.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "testutil/process.h"
#include "testutil/temp_dir.h"

namespace jobwarden {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::RunCli;
using testing::TempDir;

class CliFlowTest : public ::testing::Test {
 protected:
  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--db", db_});
    return RunCli(args);
  }
  TempDir dir_;
  std::string db_ = dir_.File("var/jobs.db");
};

TEST_F(CliFlowTest, QueueSetMergesAndQueuesShowsTheLimits) {
  CommandResult set = Cli({"queue", "set", "uploads", "--concurrency", "1", "--warn-depth", "50", "--warn-age", "5m"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(set.out, "queue uploads: concurrency 1, warn_depth 50, warn_age 5m\n");

  // Flags left out keep their limits; `off` clears one; --unlimited the concurrency.
  CommandResult off = Cli({"queue", "set", "uploads", "--warn-depth", "off"});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(off.out, "queue uploads: concurrency 1, warn_age 5m\n");
  CommandResult json_out = Cli({"queue", "set", "uploads", "--unlimited", "--json"});
  ASSERT_EQ(json_out.exit_code, 0) << json_out.err;
  const json q = json::parse(json_out.out);
  EXPECT_EQ(q["name"], "uploads");
  EXPECT_TRUE(q["concurrency"].is_null());
  EXPECT_EQ(q["warn_age_s"], 300.0);
  CommandResult clear = Cli({"queue", "set", "uploads", "--clear", "--concurrency", "2"});
  ASSERT_EQ(clear.exit_code, 0) << clear.err;
  EXPECT_EQ(clear.out, "queue uploads: concurrency 2\n");

  ASSERT_EQ(Cli({"enqueue", "k", "--queue", "uploads"}).exit_code, 0);
  CommandResult queues = Cli({"queues", "--json"});
  ASSERT_EQ(queues.exit_code, 0) << queues.err;
  const json list = json::parse(queues.out);
  ASSERT_EQ(list.size(), 1u) << queues.out;
  EXPECT_EQ(list[0]["concurrency"], 2);
  EXPECT_EQ(list[0]["running"], 0);
  EXPECT_EQ(list[0]["warnings"], json::array());
  CommandResult table = Cli({"queues"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("CONCURRENCY"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("WARNINGS"), std::string::npos) << table.out;
}

TEST_F(CliFlowTest, ResourceSetAndResources) {
  CommandResult set = Cli({"resource", "set", "host:imx.to", "--concurrency", "4", "--rate", "10/s", "--burst", "20",
                           "--breaker-failures", "5", "--breaker-cooldown", "45s"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(set.out,
            "resource host:imx.to: concurrency 4, rate 10/s (burst 20), breaker after 5 failures (cooldown 45s)\n");
  CommandResult slash = Cli({"resource", "set", "host:a/b", "--rate", "2/min", "--json"});
  ASSERT_EQ(slash.exit_code, 0) << slash.err;
  EXPECT_EQ(json::parse(slash.out)["key"], "host:a/b");

  CommandResult list = Cli({"resources", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const json resources = json::parse(list.out);
  ASSERT_EQ(resources.size(), 2u) << list.out;
  json imx;
  for (const json& r : resources) {
    if (r["key"] == "host:imx.to") imx = r;
  }
  ASSERT_FALSE(imx.is_null()) << list.out;
  EXPECT_EQ(imx["concurrency"], 4);
  EXPECT_EQ(imx["rate"], "10/s");
  EXPECT_EQ(imx["burst"], 20.0);
  EXPECT_EQ(imx["breaker_failures"], 5);
  EXPECT_EQ(imx["breaker_cooldown_s"], 45.0);
  EXPECT_EQ(imx["breaker"]["state"], "closed");

  CommandResult table = Cli({"resources"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  for (const char* needle : {"RESOURCE", "RATE", "BREAKER", "HELD UNTIL", "host:imx.to", "10/s (burst 20)",
                             "closed (0/5 failures)", "host:a/b"}) {
    EXPECT_NE(table.out.find(needle), std::string::npos) << needle << "\n" << table.out;
  }

  // Clearing the rate alone clears its burst.
  CommandResult no_rate = Cli({"resource", "set", "host:imx.to", "--rate", "off"});
  ASSERT_EQ(no_rate.exit_code, 0) << no_rate.err;
  EXPECT_EQ(no_rate.out,
            "resource host:imx.to: concurrency 4, rate unlimited, breaker after 5 failures (cooldown 45s)\n");
}

TEST_F(CliFlowTest, EnqueueCostIsKeptOnTheJob) {
  CommandResult e = Cli({"enqueue", "upload", "--resource-key", "host:imx.to", "--cost", "5"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  std::string id = e.out;
  while (!id.empty() && id.back() == '\n') id.pop_back();
  CommandResult s = Cli({"status", id, "--json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(json::parse(s.out)["cost"], 5);
}

TEST_F(CliFlowTest, DoctorSaysWhatHoldsAvailableJobs) {
  ASSERT_EQ(Cli({"enqueue", "k", "--queue", "uploads"}).exit_code, 0);
  ASSERT_EQ(Cli({"enqueue", "k", "--queue", "uploads"}).exit_code, 0);
  ASSERT_EQ(Cli({"pause", "uploads"}).exit_code, 0);
  CommandResult d = Cli({"doctor"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_NE(d.out.find("queue uploads: 2 available; queue paused"), std::string::npos) << d.out;
}

// An embedded worker (one that opens the database itself) applies its
// config file's tables before it fetches; a bad table stops it with exit 2.
TEST_F(CliFlowTest, AnEmbeddedWorkerAppliesItsFilesLimitsAtStart) {
  const std::string config = dir_.File("jobwarden.toml");
  std::ofstream(config) << "[worker]\nqueues = [\"uploads\"]\n\n[kinds.k]\ncommand = [\"true\"]\n\n"
                           "[queues.uploads]\nconcurrency = 1\n\n[resources.\"host:imx.to\"]\nrate = \"5/s\"\n";
  testing::ChildProcess worker({JOBWARDEN_CLI_BINARY, "worker", "--db", db_, "--config", config}, dir_.File("worker"));
  const bool applied = testing::WaitUntil(
      [&] {
        CommandResult r = Cli({"--local", "queues", "--json"});
        if (r.exit_code != 0) return false;
        const json q = json::parse(r.out, nullptr, false);
        return q.is_array() && !q.empty() && q[0]["name"] == "uploads" && q[0]["concurrency"] == 1;
      },
      std::chrono::milliseconds(10'000));
  EXPECT_TRUE(applied) << worker.Stderr();
  CommandResult r = Cli({"--local", "resources", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)[0]["rate"], "5/s") << r.out;
  worker.Signal(SIGTERM);
  EXPECT_NE(worker.WaitFor(std::chrono::milliseconds(10'000)), -1);

  const std::string bad = dir_.File("bad.toml");
  std::ofstream(bad) << "[kinds.k]\ncommand = [\"true\"]\n\n[resources.r]\nburst = 5\n";
  CommandResult refused = Cli({"worker", "--config", bad});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("bad.toml: resources.r.burst: needs a rate"), std::string::npos) << refused.err;
}

TEST_F(CliFlowTest, BadFlagsExitTwoNamingTheFlagBeforeOpeningTheDatabase) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  for (const Case& c : {
           Case{{"queue", "set", "q"}, "nothing to set"},
           Case{{"queue", "set", "q", "--concurrency", "0"}, "--concurrency"},
           Case{{"queue", "set", "q", "--concurrency", "-1"}, "--concurrency"},
           Case{{"queue", "set", "q", "--concurrency", "two"}, "--concurrency"},
           Case{{"queue", "set", "q", "--concurrency", "1", "--unlimited"}, "--unlimited"},
           Case{{"queue", "set", "q", "--warn-depth", "0"}, "--warn-depth"},
           Case{{"queue", "set", "q", "--warn-age", "5x"}, "--warn-age"},
           Case{{"queue", "set", "bad name", "--concurrency", "1"}, "NAME"},
           Case{{"queue"}, "subcommand is required"},
           Case{{"resource", "set", "r", "--rate", "abc"}, "--rate"},
           Case{{"resource", "set", "r", "--rate", "10/s", "--burst", "many"}, "--burst"},
           Case{{"resource", "set", "r", "--breaker-failures", "0"}, "--breaker-failures"},
           Case{{"resource", "set", "r", "--breaker-cooldown", "soon"}, "--breaker-cooldown"},
           Case{{"resource", "set", "r", "--nope"}, "--nope"},
           Case{{"enqueue", "k", "--cost", "0"}, "--cost"},
       }) {
    CommandResult r = Cli(c.args);
    std::string what;
    for (const std::string& a : c.args) what += a + " ";
    EXPECT_EQ(r.exit_code, 2) << what << r.err;
    EXPECT_NE(r.err.find(c.flag), std::string::npos) << what << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(db_)) << "nothing was opened";

  // Refused by the engine's rules, after opening: still exit 2, naming the flag.
  for (const Case& c : {
           Case{{"resource", "set", "r", "--burst", "5"}, "--burst"},
           Case{{"resource", "set", "r", "--breaker-failures", "3", "--breaker-cooldown", "500ms"},
                "--breaker-cooldown"},
       }) {
    CommandResult r = Cli(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(c.flag), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace jobwarden
