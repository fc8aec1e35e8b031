// The flow-control tables of the TOML file ([queues.NAME], [resources."KEY"]):
// what they read, and every refusal naming the file and the key.
#include "config/flow_limits.h"

#include <gtest/gtest.h>

#include <fstream>

#include "server/server_config.h"
#include "testutil/temp_dir.h"
#include "worker/config.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

class FlowLimitsConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    const std::string path = dir_.File("jobwarden.toml");
    std::ofstream(path) << text;
    return path;
  }
  TempDir dir_;
};

TEST_F(FlowLimitsConfigTest, ReadsQueueAndResourceTables) {
  const std::string path = Write(R"(
[queues.uploads]
concurrency = 1
warn_depth = 50
warn_age = "5m"

[queues.mail]
warn_age = 90

[resources."host:imx.to"]
concurrency = 4
rate = "10/s"
burst = 20
breaker_failures = 5
breaker_cooldown = "45s"

[resources."api/v2.example"]
rate = "600/min"

[resources.plain]
breaker_failures = 3
)");
  auto limits = LoadFlowLimits(path);
  ASSERT_TRUE(limits.ok()) << limits.status().ToString();
  ASSERT_EQ(limits->queues.size(), 2u);
  const QueueLimits& uploads = limits->queues.at("uploads");
  EXPECT_EQ(uploads.concurrency, 1);
  EXPECT_EQ(uploads.warn_depth, 50);
  EXPECT_EQ(uploads.warn_age, 5min);
  const QueueLimits& mail = limits->queues.at("mail");
  EXPECT_FALSE(mail.concurrency) << "a key left out is not set (so it is cleared at start)";
  EXPECT_EQ(mail.warn_age, 90s);

  ASSERT_EQ(limits->resources.size(), 3u);
  const ResourceLimits& imx = limits->resources.at("host:imx.to");
  EXPECT_EQ(imx.concurrency, 4);
  ASSERT_TRUE(imx.rate);
  EXPECT_DOUBLE_EQ(imx.rate->per_second, 10.0);
  EXPECT_EQ(imx.burst, 20.0);
  EXPECT_EQ(imx.breaker.failures, 5);
  EXPECT_EQ(imx.breaker.cooldown, 45s);
  const ResourceLimits& api = limits->resources.at("api/v2.example");
  ASSERT_TRUE(api.rate);
  EXPECT_DOUBLE_EQ(api.rate->per_second, 10.0);
  EXPECT_FALSE(api.burst);
  EXPECT_EQ(limits->resources.at("plain").breaker.cooldown, 30s) << "the default cooldown";

  // No tables, no file: nothing.
  auto none = LoadFlowLimits(Write("[worker]\nconcurrency = 2\n"));
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  auto no_file = LoadFlowLimits("");
  ASSERT_TRUE(no_file.ok());
  EXPECT_TRUE(no_file->empty());
}

TEST_F(FlowLimitsConfigTest, BadInputIsRefusedNamingTheFileAndTheKey) {
  struct Case {
    std::string toml;
    std::string expect;  // the message starts "jobwarden.toml: " then this
  };
  for (const Case& c : {
           Case{"[queues.uploads]\nconcurency = 1\n", "queues.uploads.concurency: unknown key"},
           Case{"[resources.\"host:imx\"]\nrates = \"1/s\"\n", "resources.\"host:imx\".rates: unknown key"},
           Case{"[resources.\"host:imx\"]\nrate = \"abc\"\n", "resources.\"host:imx\".rate: rate \"abc\": "},
           Case{"[resources.\"host:imx\"]\nrate = 10\n", "resources.\"host:imx\".rate: expected a string"},
           Case{"[queues.uploads]\nconcurrency = 0\n", "queues.uploads.concurrency: expected an integer from 1"},
           Case{"[queues.uploads]\nconcurrency = -1\n", "queues.uploads.concurrency: expected an integer from 1"},
           Case{"[resources.r]\nconcurrency = 0\n", "resources.r.concurrency: expected an integer from 1"},
           Case{"[resources.r]\nburst = 5\n", "resources.r.burst: needs a rate"},
           Case{"[resources.r]\nrate = \"1/s\"\nburst = 0\n", "resources.r.burst:"},
           Case{"[resources.r]\nbreaker_failures = 3\nbreaker_cooldown = \"500ms\"\n",
                "resources.r.breaker_cooldown: 500ms is under the minimum of 1s"},
           Case{"[resources.r]\nbreaker_failures = 0\n", "resources.r.breaker_failures: expected an integer from 1"},
           Case{"[queues.uploads]\nwarn_age = \"soon\"\n", "queues.uploads.warn_age:"},
           Case{"[queues.uploads]\nwarn_depth = 0\n", "queues.uploads.warn_depth:"},
           Case{"[queues]\nuploads = 1\n", "queues.uploads: expected a table"},
           Case{"queues = 3\n", "queues: expected tables"},
           Case{"[queues.\"bad name\"]\nconcurrency = 1\n", "queues.\"bad name\": not a valid name"},
       }) {
    auto limits = LoadFlowLimits(Write(c.toml));
    ASSERT_FALSE(limits.ok()) << c.toml;
    EXPECT_EQ(limits.status().code(), StatusCode::kInvalidArgument) << c.toml;
    const std::string& m = limits.status().message();
    EXPECT_EQ(m.rfind(dir_.File("jobwarden.toml") + ": " + c.expect, 0), 0u) << c.toml << " -> " << m;
  }
}

// One file configures every process: the worker's and the server's readers
// accept the tables (and the worker's keeps them for an embedded engine).
TEST_F(FlowLimitsConfigTest, TheOtherReadersOfTheFileAcceptTheTables) {
  const std::string path = Write(R"(
[worker]
concurrency = 2

[queues.uploads]
concurrency = 1

[resources."host:imx.to"]
rate = "5/s"
)");
  auto worker = LoadConfig(path);
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  EXPECT_EQ(worker->flow_limits.queues.at("uploads").concurrency, 1);
  EXPECT_TRUE(worker->flow_limits.resources.at("host:imx.to").rate);
  auto server = server::LoadServerConfig(path);
  EXPECT_TRUE(server.ok()) << server.status().ToString();

  auto bad = LoadConfig(Write("[resources.r]\nrate = \"abc\"\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("resources.r.rate"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace jobwarden
