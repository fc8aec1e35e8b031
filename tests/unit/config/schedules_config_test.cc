// The [schedules.NAME] tables of the TOML file: what they read, and every
// refusal naming the file and the key.
#include "config/schedules.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testutil/temp_dir.h"

namespace jobwarden {
namespace {

using testing::TempDir;

class SchedulesConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    const std::string path = dir_.File("jobwarden.toml");
    std::ofstream(path) << text;
    return path;
  }
  std::string Refusal(const std::string& text) {
    const std::string path = Write(text);
    auto r = LoadSchedules(path);
    EXPECT_FALSE(r.ok()) << text;
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    return r.status().message().substr(path.size() + 2);  // after "<file>: "
  }
  TempDir dir_;
};

TEST_F(SchedulesConfigTest, ReadsEveryKeyWithItsDefaults) {
  auto r = LoadSchedules(Write(R"(
[schedules.mark-stale]
cron = "*/10 * * * *"
kind = "mark_stale"
args = { older_than_h = 6, queues = ["a", "b"] }
queue = "maintenance"
timezone = "Europe/Paris"
catch_up = "none"

[schedules.ping]
cron = "@every 30s"
kind = "ping"
)"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  const ScheduleSpec& a = (*r)[0];
  EXPECT_EQ(a.name, "mark-stale");
  EXPECT_EQ(a.cron, "*/10 * * * *");
  EXPECT_EQ(a.kind, "mark_stale");
  EXPECT_EQ(a.args, R"({"older_than_h":6,"queues":["a","b"]})");
  EXPECT_EQ(a.queue, "maintenance");
  EXPECT_EQ(a.timezone, "Europe/Paris");
  EXPECT_EQ(a.catch_up, CatchUp::kNone);
  const ScheduleSpec& b = (*r)[1];
  EXPECT_EQ(b.args, "{}");
  EXPECT_EQ(b.queue, "default");
  EXPECT_EQ(b.timezone, "UTC");
  EXPECT_EQ(b.catch_up, CatchUp::kOne);
}

TEST_F(SchedulesConfigTest, BadTablesNameTheKey) {
  EXPECT_EQ(Refusal("[schedules.x]\nkind = \"k\"\n"), "schedules.x.cron: required");
  EXPECT_EQ(Refusal("[schedules.x]\ncron = \"@daily\"\n"), "schedules.x.kind: required");
  EXPECT_EQ(Refusal("[schedules.x]\ncron = \"not cron\"\nkind = \"k\"\n"),
            "schedules.x.cron: 'not cron' has 2 fields; give 5 (minute hour day-of-month month day-of-week)");
  EXPECT_EQ(Refusal("[schedules.x]\ncron = \"@daily\"\nkind = \"k\"\ntimezone = \"Mars/Base\"\n"),
            "schedules.x.timezone: 'Mars/Base' is not in the tz database (e.g. UTC, Europe/Paris)");
  EXPECT_EQ(Refusal("[schedules.x]\ncron = \"@daily\"\nkind = \"k\"\ncatch_up = \"all\"\n"),
            "schedules.x.catch_up: 'all': expected \"one\" or \"none\"");
  EXPECT_EQ(Refusal("[schedules.x]\ncron = \"@daily\"\nkind = \"k\"\nargs = 3\n"),
            "schedules.x.args: expected a table (the job's args), e.g. args = { n = 1 }");
  EXPECT_EQ(Refusal("[schedules.x]\ncron = \"@daily\"\nkind = \"k\"\nevery = 3\n"),
            "schedules.x.every: unknown key (expected cron, kind, args, queue, timezone or catch_up)");
}

}  // namespace
}  // namespace jobwarden
