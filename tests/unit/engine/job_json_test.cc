// The job JSON of DESIGN.md "Job JSON" (protocol/job_json.h).
#include "protocol/job_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

namespace jobwarden {
namespace {

using std::chrono::seconds;

const Timestamp kT0 = FromMillis(1'767'225'600'123);

Job FullJob() {
  Job j;
  j.id = 12;
  j.kind = "download";
  j.queue = "media";
  j.priority = 2;
  j.state = JobState::kRunning;
  j.args = R"({"url":"u"})";
  j.attempt = 1;
  j.max_attempts = 5;
  j.timeout = std::chrono::milliseconds(1500);
  j.stall_timeout = seconds(20);
  j.deadline_at = kT0 + seconds(60);
  j.run_at = kT0;
  j.created_at = kT0;
  j.started_at = kT0;
  j.heartbeat_at = kT0;
  j.lease_expires_at = kT0 + seconds(10);
  j.worker_id = "w1";
  j.progress = {3, 10, "page 3", kT0};
  j.checkpoint = R"({"page":3})";
  j.errors.push_back({1, ErrorClass::kTimeout, "slow", kT0, true, "timeout", "tail"});
  j.errors.push_back({1, ErrorClass::kRateLimited, "429", kT0, false, std::nullopt, std::nullopt});
  j.unique_key = "dl:u";
  j.resource_key = "host:u";
  j.batch_id = "b";
  j.tags = {"x"};
  return j;
}

std::set<std::string> Keys(const nlohmann::json& j) {
  std::set<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.insert(it.key());
  return out;
}

TEST(JobJsonTest, FieldNamesAreDesignsListPlusCancelReasonCostAndLeaseToken) {
  const std::set<std::string> design = {"id",
                                        "kind",
                                        "queue",
                                        "priority",
                                        "state",
                                        "args",
                                        "attempt",
                                        "max_attempts",
                                        "timeout_s",
                                        "stall_timeout_s",
                                        "deadline_at",
                                        "run_at",
                                        "created_at",
                                        "started_at",
                                        "finished_at",
                                        "heartbeat_at",
                                        "lease_expires_at",
                                        "worker_id",
                                        "cancel_requested",
                                        "progress",
                                        "checkpoint",
                                        "result",
                                        "errors",
                                        "unique_key",
                                        "resource_key",
                                        "batch_id",
                                        "tags"};
  std::set<std::string> want = design;
  // Not in DESIGN's list (reported): the reason given with cancel_requested.
  want.insert("cancel_reason");
  // DESIGN.md "Flow control": the tokens a job spends from its resource's rate.
  want.insert("cost");
  // DESIGN.md "Dashboard and observability": at_risk {limit, projected_finish_at}, null unless at risk.
  want.insert("at_risk");
  // The current lease's fencing token while running, for the dashboard's
  // proof of who holds the job (not in DESIGN's list: reported).
  want.insert("lease_token");
  EXPECT_EQ(Keys(JobToJson(FullJob())), want);
  EXPECT_EQ(Keys(JobToJson(Job{})), want);  // every field always present
  EXPECT_EQ(Keys(JobToJson(FullJob())["progress"]), (std::set<std::string>{"done", "total", "message", "updated_at"}));
}

TEST(JobJsonTest, ValuesUseDesignsFormats) {
  const nlohmann::json j = JobToJson(FullJob());
  EXPECT_EQ(j["id"], "12");  // opaque string
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["args"], nlohmann::json::parse(R"({"url":"u"})"));  // embedded JSON, not a string
  EXPECT_EQ(j["checkpoint"]["page"], 3);
  EXPECT_DOUBLE_EQ(j["timeout_s"].get<double>(), 1.5);  // seconds, fractions allowed
  EXPECT_DOUBLE_EQ(j["stall_timeout_s"].get<double>(), 20.0);
  EXPECT_EQ(j["created_at"], "2026-01-01T00:00:00.123Z");  // RFC 3339 UTC with ms
  EXPECT_EQ(j["deadline_at"], "2026-01-01T00:01:00.123Z");
  EXPECT_EQ(j["lease_expires_at"], "2026-01-01T00:00:10.123Z");
  EXPECT_TRUE(j["finished_at"].is_null());
  EXPECT_TRUE(j["result"].is_null());
  EXPECT_EQ(j["progress"]["done"], 3);
  EXPECT_EQ(j["progress"]["total"], 10);
  EXPECT_EQ(j["progress"]["message"], "page 3");
  EXPECT_EQ(j["tags"], nlohmann::json::array({"x"}));
}

TEST(JobJsonTest, ErrorEntriesCarryAttemptClassMessageAtCountedAndOptionalLimitAndTail) {
  const nlohmann::json errors = JobToJson(FullJob())["errors"];
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(Keys(errors[0]),
            (std::set<std::string>{"attempt", "class", "message", "at", "counted", "limit", "output_tail"}));
  EXPECT_EQ(errors[0]["class"], "timeout");
  EXPECT_EQ(errors[0]["limit"], "timeout");
  EXPECT_EQ(errors[0]["counted"], true);
  EXPECT_EQ(Keys(errors[1]), (std::set<std::string>{"attempt", "class", "message", "at", "counted"}));
  EXPECT_EQ(errors[1]["class"], "rate_limited");
  EXPECT_EQ(errors[1]["counted"], false);
}

TEST(JobJsonTest, LeaseExpiryIsShownOnlyWhileRunning) {
  Job j = FullJob();
  j.state = JobState::kAvailable;
  EXPECT_TRUE(JobToJson(j)["lease_expires_at"].is_null());
}

TEST(JobJsonTest, CancelReasonAccompaniesACancelRequest) {
  Job j = FullJob();
  EXPECT_TRUE(JobToJson(j)["cancel_reason"].is_null());
  j.cancel_requested = true;
  j.cancel_reason = CancelReason::kStalled;
  const nlohmann::json out = JobToJson(j);
  EXPECT_EQ(out["cancel_requested"], true);
  EXPECT_EQ(out["cancel_reason"], "stalled");
}

TEST(JobJsonTest, StoredTextThatIsNotJsonBecomesAString) {
  EXPECT_EQ(ParseStoredJson("{bad"), nlohmann::json("{bad"));
  EXPECT_EQ(ParseStoredJson("[1,2]"), nlohmann::json::array({1, 2}));
}

TEST(JobJsonTest, ProgressFromJsonValidatesEachField) {
  auto ok = ProgressFromJson(nlohmann::json::parse(R"({"done": 4, "total": 9, "message": "m"})"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->done, 4);
  EXPECT_EQ(ok->total, 9);
  EXPECT_EQ(ok->message, "m");
  auto no_total = ProgressFromJson(nlohmann::json::parse(R"({"done": 0, "total": null})"));
  ASSERT_TRUE(no_total.ok());
  EXPECT_FALSE(no_total->total.has_value());
  for (const char* bad : {R"([])", R"({})", R"({"done": -1})", R"({"done": 1.5})", R"({"done": 1, "total": -2})",
                          R"({"done": 1, "message": 7})"}) {
    auto r = ProgressFromJson(nlohmann::json::parse(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind("progress", 0), 0u) << r.status().message();
  }
}

// AppendJobJson is the fetch answer's encoder: it must write exactly what the
// tree's dump writes, for every field and the awkward values.
TEST(JobJsonTest, AppendJobJsonWritesWhatTheTreeDumps) {
  auto dump = [](const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); };
  std::vector<Job> jobs;
  jobs.push_back(FullJob());
  jobs.push_back(Job{});
  Job odd = FullJob();
  odd.kind = "k\"\\\n\x01\xc3\xa9\xff";  // escapes, UTF-8 and invalid UTF-8
  odd.tags = {"a", "b\tc", ""};
  odd.timeout = std::chrono::milliseconds(1);
  odd.stall_timeout = std::chrono::milliseconds(123'456'789'012);
  odd.args = "[1, 2.5, \"x\"]";
  odd.result = "{bad";
  odd.checkpoint = "null";
  odd.cancel_requested = true;
  odd.cancel_reason = CancelReason::kStalled;
  odd.progress.total = std::nullopt;
  jobs.push_back(odd);
  Job done = FullJob();
  done.state = JobState::kSucceeded;
  done.result = "{}";
  done.timeout = std::chrono::milliseconds(0);
  jobs.push_back(done);
  for (const Job& j : jobs) {
    std::string text;
    AppendJobJson(text, j);
    EXPECT_EQ(text, dump(JobToJson(j)));
    nlohmann::json with_lease = JobToJson(j);
    with_lease["lease"] = {{"token", 7}};
    text.clear();
    AppendJobJson(text, j, {{"lease", R"({"token":7})"}});
    EXPECT_EQ(text, dump(with_lease));
    nlohmann::json with_two = JobToJson(j);
    with_two["deduplicated"] = true;
    with_two["zz"] = nullptr;
    text.clear();
    AppendJobJson(text, j, {{"deduplicated", "true"}, {"zz", "null"}});
    EXPECT_EQ(text, dump(with_two));
  }
  for (const std::int64_t ms : {0LL, 1LL, 999LL, 1000LL, 30'000LL, 1'500LL, 86'400'000LL, 999'999'999'000LL}) {
    std::string text;
    AppendJsonSeconds(text, Duration(ms));
    EXPECT_EQ(text, nlohmann::json(ToSeconds(Duration(ms))).dump()) << ms;
  }
}

}  // namespace
}  // namespace jobwarden
