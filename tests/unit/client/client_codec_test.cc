// client/: the job JSON decoder against the encoder, and the one mapping
// from HTTP answers back to Status codes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "client/http_client.h"
#include "protocol/job_codec.h"
#include "protocol/job_json.h"

namespace jobwarden::client {
namespace {

using nlohmann::json;

Job RichJob() {
  Job j;
  j.id = 42;
  j.kind = "resize";
  j.queue = "images";
  j.priority = -3;
  j.state = JobState::kRunning;
  j.args = R"({"w":64,"names":["a","b"]})";
  j.attempt = 2;
  j.max_attempts = 7;
  j.timeout = std::chrono::milliseconds(90'500);
  j.stall_timeout = std::chrono::seconds(30);
  j.deadline_at = *ParseRfc3339("2030-01-02T03:04:05.678Z");
  j.run_at = *ParseRfc3339("2026-01-01T00:00:00.000Z");
  j.created_at = *ParseRfc3339("2025-12-31T23:59:59.001Z");
  j.started_at = *ParseRfc3339("2026-01-01T00:00:01.000Z");
  j.heartbeat_at = *ParseRfc3339("2026-01-01T00:00:02.000Z");
  j.lease_expires_at = *ParseRfc3339("2026-01-01T00:00:12.000Z");
  j.worker_id = "host-1-abc";
  j.cancel_requested = true;
  j.cancel_reason = CancelReason::kTimeout;
  j.progress = {10, 50, "half-way", *ParseRfc3339("2026-01-01T00:00:02.500Z")};
  j.checkpoint = R"({"page":3})";
  j.errors.push_back({1, ErrorClass::kRateLimited, "429", *ParseRfc3339("2026-01-01T00:00:00.500Z"), false,
                      std::nullopt, std::string("tail")});
  j.errors.push_back({1, ErrorClass::kTimeout, "slow", *ParseRfc3339("2026-01-01T00:00:00.700Z"), true,
                      std::string("timeout"), std::nullopt});
  j.unique_key = "u";
  j.resource_key = "host:x";
  j.tags = {"a", "b"};
  return j;
}

TEST(ClientJobCodecTest, DecodingTheEncoderGivesTheSameJson) {
  const json encoded = JobToJson(RichJob());
  auto decoded = JobFromJson(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(JobToJson(*decoded), encoded);

  Job plain;
  plain.id = 1;
  plain.kind = "k";
  const json p = JobToJson(plain);
  auto back = JobFromJson(p);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(JobToJson(*back), p);
}

TEST(ClientJobCodecTest, ReadsTheLeaseOfAFetchAnswerAndRefusesWrongTypes) {
  json j = JobToJson(RichJob());
  j["lease"] = {{"token", 99}, {"expires_at", "2026-01-01T00:00:12.000Z"}, {"ttl_s", 10.0}, {"grace_s", 2.5}};
  auto job = JobFromJson(j);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->lease_token, 99);
  EXPECT_EQ(job->lease_ttl, std::chrono::seconds(10));
  EXPECT_EQ(job->grace, std::chrono::milliseconds(2500));

  j["attempt"] = "two";
  auto bad = JobFromJson(j);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
  EXPECT_NE(bad.status().message().find("job.attempt"), std::string::npos) << bad.status().ToString();
}

// The worker's fast decoder of the fetch answer must give what the tree
// decoder gives, and hand anything it does not take to it (nullopt).
TEST(ClientJobCodecTest, FetchAnswerTextDecodesAsTheTreeDoes) {
  auto answer_of = [](const std::vector<Job>& jobs) {
    std::string text = R"({"jobs":[)";
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (i > 0) text += ',';
      AppendJobJson(text, jobs[i],
                    {{"lease", R"({"expires_at":"2026-01-01T00:00:13.000Z","grace_s":2.5,"token":99,"ttl_s":10.0})"}});
    }
    return text + "]}";
  };
  auto same = [](const std::string& text) {
    auto fast = JobsFromFetchAnswerText(text);
    auto slow = JobsFromJson(json::parse(text)["jobs"]);
    ASSERT_TRUE(slow.ok()) << slow.status().ToString();
    ASSERT_TRUE(fast.has_value()) << text;
    ASSERT_EQ(fast->size(), slow->size());
    for (std::size_t i = 0; i < fast->size(); ++i) {
      EXPECT_EQ(JobToJson((*fast)[i]), JobToJson((*slow)[i]));
      EXPECT_EQ((*fast)[i].lease_token, (*slow)[i].lease_token);
      EXPECT_EQ((*fast)[i].lease_ttl, (*slow)[i].lease_ttl);
      EXPECT_EQ((*fast)[i].grace, (*slow)[i].grace);
      EXPECT_EQ((*fast)[i].lease_expires_at, (*slow)[i].lease_expires_at);
    }
  };
  Job rich = RichJob();
  rich.errors.clear();
  rich.result = R"({"n":[1,2.5,"x"]})";
  Job plain;
  plain.id = 7;
  plain.kind = "noop";
  plain.state = JobState::kRunning;
  same(answer_of({}));
  same(answer_of({plain}));
  same(answer_of({rich, plain, rich}));
  same(json::parse(answer_of({rich, plain})).dump(2));  // whitespace
  same(R"({"jobs":[{"id":"3","state":"running","extra":{"a":[1,{"b":null}]},"lease":null}]})");

  // Handed to the tree decoder: escapes, an errors history, a repeated field,
  // a wrong type, not JSON, another shape.
  Job escaped = plain;
  escaped.kind = "a\"b";
  EXPECT_FALSE(JobsFromFetchAnswerText(answer_of({escaped})).has_value());
  EXPECT_FALSE(JobsFromFetchAnswerText(answer_of({RichJob()})).has_value());
  EXPECT_FALSE(JobsFromFetchAnswerText(R"({"jobs":[{"id":"3","state":"running","id":"4"}]})").has_value());
  EXPECT_FALSE(JobsFromFetchAnswerText(R"({"jobs":[{"id":"3","state":"running","attempt":"two"}]})").has_value());
  EXPECT_FALSE(JobsFromFetchAnswerText(R"({"jobs":[{"id":"3","state":"running","attempt":01}]})").has_value());
  EXPECT_FALSE(JobsFromFetchAnswerText(R"({"jobs":[]}x)").has_value());
  EXPECT_FALSE(JobsFromFetchAnswerText(R"({"jobs":[],"more":1})").has_value());
  EXPECT_FALSE(JobsFromFetchAnswerText(R"({"jobs":[{"id":"3"}]})").has_value());
}

TEST(ClientStatusFromHttpTest, ErrorCodesAndStatusesMapOnce) {
  auto err = [](const std::string& code) { return json{{"error", {{"code", code}, {"message", "m"}}}}; };
  EXPECT_TRUE(StatusFromHttp(200, json(), "x").ok());
  EXPECT_TRUE(StatusFromHttp(201, json(), "x").ok());
  EXPECT_EQ(StatusFromHttp(0, json(), "no answer").code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(409, err("lease_lost"), "x").code(), StatusCode::kLeaseLost);
  EXPECT_EQ(StatusFromHttp(409, err("conflict"), "x").code(), StatusCode::kConflict);
  EXPECT_EQ(StatusFromHttp(409, json(), "x").code(), StatusCode::kConflict);
  EXPECT_EQ(StatusFromHttp(404, err("not_found"), "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(StatusFromHttp(404, json(), "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(StatusFromHttp(400, err("invalid_argument"), "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusFromHttp(400, err("checkpoint_too_large"), "x").code(), StatusCode::kCheckpointTooLarge);
  EXPECT_EQ(StatusFromHttp(413, err("payload_too_large"), "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusFromHttp(401, err("unauthorized"), "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusFromHttp(503, err("unavailable"), "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(500, err("internal"), "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(502, json(), "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(404, err("not_found"), "x").message(), "m");
}

TEST(ClientServerUrlTest, ParsesHostAndPort) {
  auto a = ParseServerUrl("http://127.0.0.1:8080/");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto b = ParseServerUrl("localhost");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->port, 7070);
  EXPECT_EQ(ParseServerUrl("https://x:1").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseServerUrl("http://x:99999").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseServerUrl("http://x:1/v1").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace jobwarden::client
