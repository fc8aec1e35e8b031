// The JSON log format (`--log-format json`, docs/server.md "Logs"): every
// line one JSON object with ts/level/msg, and the job's fields from the
// thread's ScopedLogFields; any message, however broken, stays one valid line.
#include "app/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace jobwarden {
namespace {

// A logger that writes JSON lines into a string.
class JsonCapture {
 public:
  JsonCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_st>(out_)), logger_("json-test", sink_) {
    logger_.set_formatter(std::make_unique<JsonLogFormatter>());
    logger_.set_level(spdlog::level::trace);
  }
  spdlog::logger& logger() { return logger_; }
  std::vector<std::string> Lines() {
    logger_.flush();
    std::vector<std::string> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_st> sink_;
  spdlog::logger logger_;
};

std::set<std::string> Keys(const nlohmann::json& j) {
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.insert(k);
  return keys;
}

TEST(JsonLogFormatterTest, LineWithoutJobFieldsHasTsLevelMsgOnly) {
  JsonCapture capture;
  capture.logger().info("server stopped");
  const auto lines = capture.Lines();
  ASSERT_EQ(lines.size(), 1u);
  const auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(Keys(j), (std::set<std::string>{"ts", "level", "msg"}));
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "server stopped");
  // RFC 3339 UTC with milliseconds.
  EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << j["ts"];
}

TEST(JsonLogFormatterTest, LineInAJobScopeCarriesTheJobsFields) {
  JsonCapture capture;
  Job job;
  job.id = 42;
  job.kind = "resize";
  job.attempt = 3;
  {
    const ScopedLogFields fields(JobLogFields(job, "w-1"));
    capture.logger().warn("job 42 [resize] attempt 3 failed [transient]: exit 1");
  }
  capture.logger().error("after the scope");
  const auto lines = capture.Lines();
  ASSERT_EQ(lines.size(), 2u);
  const auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(Keys(j), (std::set<std::string>{"ts", "level", "msg", "job_id", "kind", "attempt", "worker_id"}));
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["job_id"], "42");  // the id as the API writes it: a string
  EXPECT_EQ(j["kind"], "resize");
  EXPECT_EQ(j["attempt"], 3);
  EXPECT_EQ(j["worker_id"], "w-1");
  const auto after = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(Keys(after), (std::set<std::string>{"ts", "level", "msg"}));
  EXPECT_EQ(after["level"], "error");
}

TEST(JsonLogFormatterTest, UnknownFieldsAreLeftOutNotEmpty) {
  JsonCapture capture;
  Job job;
  job.id = 7;
  job.kind = "mail";  // attempt 0: never fetched; no worker
  {
    const ScopedLogFields fields(JobLogFields(job));
    capture.logger().info("enqueued");
  }
  const auto j = nlohmann::json::parse(capture.Lines().at(0));
  EXPECT_EQ(Keys(j), (std::set<std::string>{"ts", "level", "msg", "job_id", "kind"}));
}

TEST(JsonLogFormatterTest, AnInnerScopeForTheSameJobKeepsWhatTheOuterKnows) {
  JsonCapture capture;
  Job job;
  job.id = 9;
  job.kind = "scrape";
  job.attempt = 2;
  {
    const ScopedLogFields worker(JobLogFields(job, "w-9"));
    {
      const ScopedLogFields engine(
          {.job_id = job.id, .kind = job.kind, .attempt = std::nullopt, .worker_id = {}});  // what the engine knows
      capture.logger().info("job 9 running -> scheduled");
    }
    {
      const ScopedLogFields other(
          {.job_id = 10, .kind = "other", .attempt = std::nullopt, .worker_id = {}});  // another job: nothing inherited
      capture.logger().info("job 10");
    }
  }
  const auto lines = capture.Lines();
  ASSERT_EQ(lines.size(), 2u);
  const auto inner = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(inner["attempt"], 2);
  EXPECT_EQ(inner["worker_id"], "w-9");
  const auto other = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(Keys(other), (std::set<std::string>{"ts", "level", "msg", "job_id", "kind"}));
  EXPECT_EQ(other["job_id"], "10");
}

TEST(JsonLogFormatterTest, AnyMessageStaysOneValidJsonLine) {
  JsonCapture capture;
  const std::string nasty = std::string("say \"hi\"\nsecond line\r\ttab \x01\x1f bell\x07 back\\slash ") +
                            "bad utf-8: \xff\xfe \xc3 end, fine: h\xc3\xa9llo";
  Job job;
  job.id = 1;
  job.kind = "k\"ind\n";  // fields are escaped too
  job.attempt = 1;
  {
    const ScopedLogFields fields(JobLogFields(job, "w\x02"));
    capture.logger().critical("{}", nasty);
  }
  const auto lines = capture.Lines();
  ASSERT_EQ(lines.size(), 1u) << "a newline in the message split the line";
  for (unsigned char c : lines[0]) EXPECT_GE(c, 0x20) << "a raw control character in the line";
  const auto j = nlohmann::json::parse(lines[0]);  // throws (fails the test) if invalid
  EXPECT_EQ(j["level"], "critical");
  const std::string msg = j["msg"];
  EXPECT_NE(msg.find("say \"hi\"\nsecond line\r\ttab \x01\x1f bell\x07 back\\slash"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad utf-8: \xef\xbf\xbd"), std::string::npos) << "invalid bytes become U+FFFD: " << msg;
  EXPECT_NE(msg.find("h\xc3\xa9llo"), std::string::npos) << "valid UTF-8 is kept: " << msg;
  EXPECT_EQ(j["kind"], "k\"ind\n");
  EXPECT_EQ(j["worker_id"], "w\x02");
}

TEST(JsonLogFormatterTest, EveryLevelHasItsName) {
  JsonCapture capture;
  capture.logger().trace("t");
  capture.logger().debug("d");
  capture.logger().info("i");
  capture.logger().warn("w");
  capture.logger().error("e");
  capture.logger().critical("c");
  std::vector<std::string> levels;
  for (const std::string& line : capture.Lines()) levels.push_back(nlohmann::json::parse(line)["level"]);
  EXPECT_EQ(levels, (std::vector<std::string>{"trace", "debug", "info", "warn", "error", "critical"}));
}

TEST(LogFormatTest, ParsesTextAndJsonOnly) {
  EXPECT_EQ(ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogFormat("yaml"), std::nullopt);
  EXPECT_EQ(ParseLogFormat("JSON"), std::nullopt);
  EXPECT_EQ(ToString(LogFormat::kJson), "json");
}

}  // namespace
}  // namespace jobwarden
