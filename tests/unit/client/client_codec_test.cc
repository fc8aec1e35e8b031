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

// The one reader of the fetch answer: what the encoder wrote comes back,
// escapes, errors histories and UTF-8 included, and a wrong shape is
// kInternal naming the field.
TEST(ClientJobCodecTest, FetchAnswerTextDecodesWhatTheEncoderWrote) {
  auto answer_of = [](const std::vector<Job>& jobs) {
    std::string text = R"({"jobs":[)";
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (i > 0) text += ',';
      AppendJobJson(text, jobs[i],
                    {{"lease", R"({"expires_at":"2026-01-01T00:00:13.000Z","grace_s":2.5,"token":99,"ttl_s":10.0})"}});
    }
    return text + "]}";
  };
  auto same = [](const std::string& text, const std::vector<Job>& want) {
    auto jobs = JobsFromFetchAnswer(text);
    ASSERT_TRUE(jobs.ok()) << jobs.status().ToString() << " " << text;
    ASSERT_EQ(jobs->size(), want.size());
    for (std::size_t i = 0; i < jobs->size(); ++i) {
      EXPECT_EQ(JobToJson((*jobs)[i]), JobToJson(want[i]));
      EXPECT_EQ((*jobs)[i].lease_token, 99);
      EXPECT_EQ((*jobs)[i].lease_ttl, std::chrono::seconds(10));
      EXPECT_EQ((*jobs)[i].grace, std::chrono::milliseconds(2500));
      EXPECT_EQ((*jobs)[i].lease_expires_at, *ParseRfc3339("2026-01-01T00:00:13.000Z"));
    }
    // The tree decoder is the same reader.
    auto tree = JobsFromJson(json::parse(text)["jobs"]);
    ASSERT_TRUE(tree.ok()) << tree.status().ToString();
    ASSERT_EQ(tree->size(), want.size());
    for (std::size_t i = 0; i < tree->size(); ++i) EXPECT_EQ(JobToJson((*tree)[i]), JobToJson(want[i]));
  };
  // The lease's expiry wins over the job's field, as the server means it.
  auto leased = [](Job j) {
    j.lease_expires_at = *ParseRfc3339("2026-01-01T00:00:13.000Z");
    j.lease_token = 99;
    return j;
  };
  Job rich = RichJob();
  rich.result = R"({"n":[1,2.5,"x"]})";
  Job plain;
  plain.id = 7;
  plain.kind = "noop";
  plain.state = JobState::kRunning;
  Job escaped = plain;
  escaped.kind = "a\"b\\c\n\x01";
  escaped.queue = "caf\xc3\xa9 \xe2\x82\xac";
  escaped.args = R"({"s":"\u00e9\"","t":"\ud83d\ude00"})";
  escaped.tags = {"t\tab", "\xf0\x9f\x98\x80"};
  same(answer_of({}), {});
  same(answer_of({plain}), {leased(plain)});
  same(answer_of({rich, plain, rich}), {leased(rich), leased(plain), leased(rich)});
  same(answer_of({escaped, RichJob()}), {leased(escaped), leased(RichJob())});
  same(json::parse(answer_of({rich, plain})).dump(2), {leased(rich), leased(plain)});  // whitespace

  Job three;
  three.id = 3;
  three.state = JobState::kRunning;
  auto one =
      JobsFromFetchAnswer(R"({"jobs":[{"id":"3","state":"running","extra":{"a":[1,{"b":null}]},"lease":null}]})");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ(JobToJson((*one)[0]), JobToJson(three));

  // Refused, kInternal, naming what is wrong.
  auto refused = [](const std::string& text, const std::string& names) {
    auto r = JobsFromFetchAnswer(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInternal) << text;
    EXPECT_NE(r.status().message().find(names), std::string::npos) << r.status().ToString();
  };
  refused(R"({"jobs":[{"id":"3","state":"running","attempt":"two"}]})", "job.attempt");
  refused(R"({"jobs":[{"id":"3","state":"running","attempt":1.5}]})", "job.attempt");
  refused(R"({"jobs":[{"id":"3","state":"running","timeout_s":"30"}]})", "job.timeout_s");
  refused(R"({"jobs":[{"id":"3","state":"running","tags":["a",1]}]})", "job.tags");
  refused(R"({"jobs":[{"id":"3","state":"running","progress":{"total":1}}]})", "job.progress.done");
  refused(R"({"jobs":[{"id":"3","state":"running","errors":[{"class":"nope"}]}]})", "job.errors[0].class");
  refused(R"({"jobs":[{"id":"3","state":"running","lease":{"token":"x"}}]})", "job.lease.token");
  refused(R"({"jobs":[{"id":"3","state":"running","args":[1,tru]}]})", "job.args");
  refused(R"({"jobs":[{"id":"3","state":"running","attempt":01}]})", "job.attempt");
  refused(R"({"jobs":[{"id":"3"}]})", "job.state");
  refused(R"({"jobs":[{"state":"running"}]})", "job.id");
  refused(R"({"jobs":[]}x)", "not JSON");
  refused(R"({"jobs":{}})", "jobs");
  refused(R"({"other":[]})", "jobs");
  refused("not json", "not JSON");
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

TEST(ClientStatusFromHttpTest, TheErrorsFieldIsKeptForProgramsToBranchOn) {
  const json about_worker = {
      {"error", {{"code", "not_found"}, {"message", "worker_id: gone"}, {"field", "worker_id"}}}};
  const Status s = StatusFromHttp(404, about_worker, "x");
  EXPECT_EQ(s.field(), "worker_id");
  EXPECT_EQ(s.WithContext("heartbeat").field(), "worker_id") << "context keeps the field";
  // A message that merely starts like one names no field.
  const json text_only = {{"error", {{"code", "not_found"}, {"message", "worker_id: gone"}}}};
  EXPECT_EQ(StatusFromHttp(404, text_only, "x").field(), "");
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
