// The worker's TOML configuration.
#include "worker/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "testutil/temp_dir.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

class ConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    const std::string path = dir_.File("jobwarden.toml");
    std::ofstream(path) << text;
    return path;
  }
  TempDir dir_;
};

TEST_F(ConfigTest, ReadsWorkerAndKinds) {
  const std::string path = Write(R"(
[worker]
concurrency = 3
queues = ["a", "b"]
lease_ttl = "4s"
grace = "2s"
drain_timeout = "1m"
max_abandoned = 2
reaper_tick = "250ms"

[kinds.download]
command = ["python3", "handlers/download.py", "--url", "https://example.invalid/a/b"]
timeout = "30s"
stall_timeout = "10s"
grace = "1s"
max_attempts = 3
queue = "downloads"
env = { SOURCE_LIST = "a,b" }
exit_codes = { "3" = "permanent", "4" = "transient" }
backoff_base = "1s"

[kinds.hello]
command = ["sh", "-c", "cat /etc/hostname; echo done >&3"]

[kinds.local]
command = ["./bin/run", "data/input.csv"]
cwd = "work"
)");
  auto config = LoadConfig(path);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->worker.concurrency, 3);
  EXPECT_EQ(config->worker.queues, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(config->worker.lease_ttl, 4s);
  EXPECT_EQ(config->worker.grace, 2s);
  EXPECT_EQ(config->worker.drain_timeout, 1min);
  EXPECT_EQ(config->worker.max_abandoned, 2);
  EXPECT_EQ(config->reaper_tick, Duration(250));

  const CommandKind& d = config->commands.at("download");
  EXPECT_EQ(d.command, (std::vector<std::string>{"python3", dir_.File("handlers/download.py"), "--url",
                                                 "https://example.invalid/a/b"}));
  EXPECT_EQ(d.env.at("SOURCE_LIST"), "a,b");
  EXPECT_EQ(d.exit_codes.at(3), ErrorClass::kPermanent);
  EXPECT_EQ(d.exit_codes.at(4), ErrorClass::kTransient);
  EXPECT_EQ(d.grace, 1s);
  const KindDefaults& kd = config->kinds.at("download");
  EXPECT_EQ(kd.timeout, 30s);
  EXPECT_EQ(kd.stall_timeout, 10s);
  EXPECT_EQ(kd.max_attempts, 3);
  EXPECT_EQ(kd.queue, "downloads");
  ASSERT_TRUE(kd.backoff.has_value());
  EXPECT_EQ(kd.backoff->base, 1s);

  // An inline script is not a path, even with a '/' in it.
  EXPECT_EQ(config->commands.at("hello").command[2], "cat /etc/hostname; echo done >&3");
  const CommandKind& l = config->commands.at("local");
  EXPECT_EQ(l.command, (std::vector<std::string>{dir_.File("bin/run"), dir_.File("data/input.csv")}));
  EXPECT_EQ(l.cwd, dir_.File("work"));
}

TEST_F(ConfigTest, ErrorsNameTheFileAndTheKey) {
  struct Case {
    const char* toml;
    const char* expect;
  };
  for (const Case& c : {
           Case{"[worker]\nconcurency = 2\n", "worker.concurency: unknown key"},
           Case{"[worker]\nconcurrency = 0\n", "worker.concurrency"},
           Case{"[worker]\nlease_ttl = \"2s\"\ngrace = \"5s\"\n", "worker.grace"},
           Case{"[worker]\nlease_ttl = \"500ms\"\ngrace = \"100ms\"\n", "worker.lease_ttl"},
           Case{"[worker]\nlease_ttl = \"soon\"\n", "worker.lease_ttl"},
           Case{"[kinds.x]\ncommand = []\n", "kinds.x.command"},
           Case{"[kinds.x]\ncommand = [\"a\"]\nexit_codes = { \"0\" = \"permanent\" }\n", "kinds.x.exit_codes.0"},
           Case{"[kinds.x]\ncommand = [\"a\"]\nexit_codes = { \"3\" = \"crashed\" }\n", "kinds.x.exit_codes.3"},
           Case{"[kinds.x]\ncommand = [\"a\"]\nenv = { JOBWARDEN_JOB_ID = \"1\" }\n", "kinds.x.env.JOBWARDEN_JOB_ID"},
           Case{"[kinds.x]\ncommand = [\"a\"]\nstall_timeout = \"0s\"\n", "kinds.x.stall_timeout"},
           Case{"[kinds.x]\ncommand = [\"a\"]\ngrace = \"9s\"\n", "worker.grace"},
           Case{"[servers]\nport = 1\n", "unknown section"},
           Case{"[worker\n", "jobwarden.toml:1"},
       }) {
    auto config = LoadConfig(Write(c.toml));
    ASSERT_FALSE(config.ok()) << c.toml;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find(c.expect), std::string::npos)
        << c.toml << " -> " << config.status().message();
    EXPECT_NE(config.status().message().find("jobwarden.toml"), std::string::npos) << config.status().message();
  }
  auto missing = LoadConfig(dir_.File("nope.toml"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no such config file"), std::string::npos);
}

TEST_F(ConfigTest, EnvironmentOverridesTheFile) {
  const std::string path = Write("[worker]\nconcurrency = 3\nlease_ttl = \"10s\"\n");
  ASSERT_EQ(::setenv("JOBWARDEN_CONCURRENCY", "7", 1), 0);
  ASSERT_EQ(::setenv("JOBWARDEN_QUEUES", "x,y", 1), 0);
  ASSERT_EQ(::setenv("JOBWARDEN_LEASE_TTL", "20s", 1), 0);
  auto config = LoadConfig(path);
  ::unsetenv("JOBWARDEN_QUEUES");
  ::unsetenv("JOBWARDEN_LEASE_TTL");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->worker.concurrency, 7);
  EXPECT_EQ(config->worker.queues, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(config->worker.lease_ttl, 20s);

  ASSERT_EQ(::setenv("JOBWARDEN_CONCURRENCY", "4x", 1), 0);
  auto bad = LoadConfig(path);
  ::unsetenv("JOBWARDEN_CONCURRENCY");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("JOBWARDEN_CONCURRENCY"), std::string::npos);
}

}  // namespace
}  // namespace jobwarden
