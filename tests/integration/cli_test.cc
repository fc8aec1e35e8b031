// The `jobwarden` CLI through its real binary (issue 2, item 6): output,
// the job JSON of DESIGN.md, and the exit codes of the contract
// (0 done, 1 not found or refused, 2 usage or invalid input, 3 infrastructure).
//
// Jobs the CLI cannot create by itself (running ones) are made by an engine
// in this process over the same database file, as a worker would.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "engine/engine.h"
#include "store/sqlite/sqlite_store.h"
#include "testutil/fake_clock.h"
#include "testutil/process.h"
#include "testutil/temp_dir.h"
#include "testutil/test_store.h"

namespace jobwarden {
namespace {

using testing::CommandResult;
using testing::RunCli;
using testing::TempDir;

// One job from `queue`, leased for `ttl`, as a worker would fetch it.
FetchRequest FetchOne(const std::string& queue, Duration ttl, const std::string& worker = "w-test") {
  FetchRequest f;
  f.queues = {queue};
  f.max = 1;
  f.lease_ttl = ttl;
  f.worker_id = worker;
  return f;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

class CliTest : public ::testing::Test {
 protected:
  // Runs the CLI with --db before the subcommand.
  CommandResult Cli(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
    args.insert(args.begin(), {"--db", db_});
    return RunCli(args, env);
  }

  // Enqueues through the CLI and returns the printed id.
  std::string Enqueue(std::vector<std::string> args) {
    args.insert(args.begin(), "enqueue");
    CommandResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Trim(r.out);
  }

  nlohmann::json StatusJson(const std::string& id) {
    CommandResult r = Cli({"status", id, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }

  // An engine in this process over the same file, as a worker would have.
  struct Local {
    std::unique_ptr<Store> store;
    std::unique_ptr<Engine> engine;
  };
  Local OpenLocal(const Clock& clock) {
    std::filesystem::create_directories(std::filesystem::path(db_).parent_path());
    auto store = OpenSqliteStore({.path = db_});
    if (!store.ok()) throw std::runtime_error("open " + db_ + ": " + store.status().ToString());
    Local l;
    l.store = std::move(store).value();
    l.engine = std::make_unique<Engine>(*l.store, clock);
    return l;
  }

  // Every job in the database, read directly (not through the CLI).
  std::size_t JobCount() {
    if (!FileExists(db_)) return 0;
    Local l = OpenLocal(clock_);
    JobListParams all;
    all.limit = 10'000;
    auto jobs = l.engine->List(all);
    EXPECT_TRUE(jobs.ok()) << jobs.status().ToString();
    return jobs.ok() ? jobs->size() : 0;
  }

  TempDir dir_;
  std::string db_ = dir_.File("sub/jobs.db");  // the CLI creates the directory
  SystemClock clock_;
};

TEST_F(CliTest, EnqueuePrintsTheIdAloneAndStatusJsonHasDesignFields) {
  CommandResult r = Cli({"enqueue",         "resize", "--args",         R"({"image": "a.png", "n": 3})",
                         "--queue",         "media",  "--priority",     "7",
                         "--timeout",       "5m",     "--deadline",     "2h",
                         "--stall-timeout", "30s",    "--max-attempts", "3",
                         "--unique-key",    "img-a",  "--resource-key", "host:imx.to",
                         "--tag",           "red",    "--tag",          "big"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string id = Trim(r.out);
  EXPECT_EQ(r.out, id + "\n") << "the id alone on stdout";
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(id.find_first_not_of("0123456789"), std::string::npos) << id;

  nlohmann::json j = StatusJson(id);
  for (const char* field : {"id",
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
                            "tags"}) {
    EXPECT_TRUE(j.contains(field)) << field;
  }
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(j["kind"], "resize");
  EXPECT_EQ(j["queue"], "media");
  EXPECT_EQ(j["priority"], 7);
  EXPECT_EQ(j["state"], "available");
  EXPECT_EQ(j["args"], nlohmann::json::parse(R"({"image": "a.png", "n": 3})"));
  EXPECT_EQ(j["attempt"], 0);
  EXPECT_EQ(j["max_attempts"], 3);
  EXPECT_DOUBLE_EQ(j["timeout_s"].get<double>(), 300.0);
  EXPECT_DOUBLE_EQ(j["stall_timeout_s"].get<double>(), 30.0);
  ASSERT_TRUE(j["deadline_at"].is_string());
  EXPECT_TRUE(j["created_at"].get<std::string>().ends_with("Z"));
  EXPECT_TRUE(j["started_at"].is_null());
  EXPECT_TRUE(j["lease_expires_at"].is_null());
  EXPECT_EQ(j["cancel_requested"], false);
  EXPECT_EQ(j["progress"]["done"], 0);
  EXPECT_TRUE(j["result"].is_null());
  EXPECT_EQ(j["errors"], nlohmann::json::array());
  EXPECT_EQ(j["unique_key"], "img-a");
  EXPECT_EQ(j["resource_key"], "host:imx.to");
  EXPECT_EQ(j["tags"], nlohmann::json::parse(R"(["red", "big"])"));
  // The deadline is 2 h after enqueue.
  auto created = ParseRfc3339(j["created_at"].get<std::string>());
  auto deadline = ParseRfc3339(j["deadline_at"].get<std::string>());
  ASSERT_TRUE(created.ok() && deadline.ok());
  EXPECT_EQ(*deadline - *created, std::chrono::hours(2));

  CommandResult human = Cli({"status", id});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("available"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("0 of 3"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("timeout 5m00s"), std::string::npos) << human.out;
}

TEST_F(CliTest, DelayedJobIsScheduledAndDefaultsApply) {
  const std::string id = Enqueue({"later", "--delay", "1h"});
  nlohmann::json j = StatusJson(id);
  EXPECT_EQ(j["state"], "scheduled");
  EXPECT_EQ(j["queue"], "default");
  EXPECT_EQ(j["max_attempts"], 5);
  EXPECT_DOUBLE_EQ(j["timeout_s"].get<double>(), 1800.0);
  EXPECT_EQ(j["args"], nlohmann::json::object());
}

TEST_F(CliTest, DuplicateUniqueKeyPrintsTheExistingIdAndSaysSo) {
  const std::string first = Enqueue({"sync", "--unique-key", "k1"});
  CommandResult again = Cli({"enqueue", "sync", "--unique-key", "k1"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Trim(again.out), first);
  EXPECT_NE(again.err.find("deduplicated"), std::string::npos) << again.err;
  EXPECT_EQ(JobCount(), 1u);
}

TEST_F(CliTest, GlobalOptionsWorkBeforeOrAfterTheSubcommandAndFromTheEnvironment) {
  CommandResult after = RunCli({"enqueue", "a", "--db", db_});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  CommandResult env = RunCli({"enqueue", "b"}, {{"JOBWARDEN_DB", db_}});
  ASSERT_EQ(env.exit_code, 0) << env.err;
  CommandResult ls = RunCli({"ls", "--json", "--db", db_});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(nlohmann::json::parse(ls.out).size(), 2u);
}

TEST_F(CliTest, LsFiltersByStateQueueKindAndLimit) {
  const std::string a = Enqueue({"resize", "--queue", "media"});
  Enqueue({"resize", "--queue", "media"});
  Enqueue({"email", "--queue", "mail"});
  ASSERT_EQ(Cli({"cancel", a}).exit_code, 0);

  auto ls_json = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "ls");
    args.push_back("--json");
    CommandResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  };
  EXPECT_EQ(ls_json({}).size(), 3u);
  EXPECT_EQ(ls_json({"--queue", "media"}).size(), 2u);
  EXPECT_EQ(ls_json({"--kind", "email"}).size(), 1u);
  nlohmann::json cancelled = ls_json({"--state", "cancelled"});
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0]["id"], a);
  EXPECT_EQ(cancelled[0]["state"], "cancelled");
  EXPECT_EQ(ls_json({"--state", "available", "--queue", "media"}).size(), 1u);
  EXPECT_EQ(ls_json({"--limit", "2"}).size(), 2u);
  EXPECT_EQ(ls_json({"--after", a}).size(), 2u);

  CommandResult table = Cli({"ls"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("STATE"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("cancelled"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("email"), std::string::npos) << table.out;
}

TEST_F(CliTest, LsFiltersByTagAndAFieldOfArgs) {
  const std::string vip = Enqueue({"email", "--args", R"({"customer_id": 42, "order": {"id": 7}})", "--tag", "vip"});
  const std::string text = Enqueue({"email", "--args", R"({"customer_id": "42"})"});
  const std::string bob = Enqueue({"email", "--args", R"({"email": "bob@example.com"})", "--tag", "vip"});
  auto ids = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "ls");
    args.push_back("--json");
    CommandResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> out;
    for (const auto& j : nlohmann::json::parse(r.out)) out.push_back(j["id"]);
    return out;
  };
  EXPECT_EQ(ids({"--args", "customer_id=42"}), std::vector<std::string>{vip});
  EXPECT_EQ(ids({"--args", R"(customer_id="42")"}), std::vector<std::string>{text});
  EXPECT_EQ(ids({"--args", "order.id=7"}), std::vector<std::string>{vip});
  EXPECT_EQ(ids({"--args", "email=bob@example.com"}), std::vector<std::string>{bob});
  EXPECT_EQ(ids({"--tag", "vip"}), (std::vector<std::string>{vip, bob}));
  EXPECT_EQ(ids({"--tag", "vip", "--args", "customer_id=42"}), std::vector<std::string>{vip});
  EXPECT_TRUE(ids({"--batch", "12345"}).empty());

  for (const std::string bad : {"customer_id", "=42", "a..b=1", "a b=1"}) {
    CommandResult r = Cli({"ls", "--args", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("--args"), std::string::npos) << r.err;
  }
}

TEST_F(CliTest, QueuesShowDepthByStateOldestAgeAndPause) {
  Enqueue({"a", "--queue", "q1"});
  Enqueue({"a", "--queue", "q1"});
  Enqueue({"a", "--queue", "q1", "--delay", "1h"});
  CommandResult paused = Cli({"pause", "q1"});
  ASSERT_EQ(paused.exit_code, 0) << paused.err;
  EXPECT_NE(paused.out.find("paused"), std::string::npos);

  CommandResult r = Cli({"queues", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json queues = nlohmann::json::parse(r.out);
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0]["name"], "q1");
  EXPECT_EQ(queues[0]["paused"], true);
  EXPECT_EQ(queues[0]["counts"]["available"], 2);
  EXPECT_EQ(queues[0]["counts"]["scheduled"], 1);
  EXPECT_EQ(queues[0]["counts"]["running"], 0);
  EXPECT_TRUE(queues[0]["oldest_available_age_s"].is_number());
  EXPECT_GE(queues[0]["oldest_available_age_s"].get<double>(), 0.0);

  ASSERT_EQ(Cli({"resume", "q1"}).exit_code, 0);
  CommandResult table = Cli({"queues"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("q1"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("AVAILABLE"), std::string::npos) << table.out;
  EXPECT_EQ(nlohmann::json::parse(Cli({"queues", "--json"}).out)[0]["paused"], false);
}

TEST_F(CliTest, CancelRetryDeleteAndTheirRefusals) {
  const std::string id = Enqueue({"a"});
  CommandResult cancel = Cli({"cancel", id});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(StatusJson(id)["state"], "cancelled");

  CommandResult again = Cli({"cancel", id});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("cancelled"), std::string::npos) << again.err;
  EXPECT_EQ(std::count(again.err.begin(), again.err.end(), '\n'), 1) << "one-line reason: " << again.err;

  CommandResult retry = Cli({"retry", id});
  ASSERT_EQ(retry.exit_code, 0) << retry.err;
  EXPECT_EQ(StatusJson(id)["state"], "available");
  EXPECT_EQ(Cli({"retry", id}).exit_code, 1) << "an available job cannot be retried";

  ASSERT_EQ(Cli({"delete", id}).exit_code, 0);
  CommandResult gone = Cli({"status", id});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("does not exist"), std::string::npos) << gone.err;
  EXPECT_EQ(JobCount(), 0u);
}

TEST_F(CliTest, UnknownIdExitsOneForEveryCommand) {
  Enqueue({"a"});
  for (const char* cmd : {"status", "cancel", "retry", "delete"}) {
    CommandResult r = Cli({cmd, "424242"});
    EXPECT_EQ(r.exit_code, 1) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find("424242"), std::string::npos) << cmd << ": " << r.err;
    EXPECT_EQ(r.out, "") << cmd;
  }
  EXPECT_EQ(JobCount(), 1u);
}

TEST_F(CliTest, RunningJobShowsLeaseCancelIsTwoPhaseAndDeleteIsRefused) {
  const std::string id = Enqueue({"upload"});
  Local l = OpenLocal(clock_);
  auto fetched = l.engine->Fetch(FetchOne("default", std::chrono::minutes(5)));
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  ASSERT_EQ(fetched->size(), 1u);

  CommandResult status = Cli({"status", id});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("running"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("w-test"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("left"), std::string::npos) << "lease time left: " << status.out;
  nlohmann::json j = StatusJson(id);
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["attempt"], 1);
  EXPECT_TRUE(j["lease_expires_at"].is_string());
  EXPECT_EQ(j["worker_id"], "w-test");

  CommandResult del = Cli({"delete", id});
  EXPECT_EQ(del.exit_code, 1) << del.err;
  EXPECT_FALSE(del.err.empty());

  CommandResult cancel = Cli({"cancel", id});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_NE(cancel.out.find("stop requested"), std::string::npos) << cancel.out;
  j = StatusJson(id);
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["cancel_requested"], true);
  EXPECT_EQ(JobCount(), 1u);
}

TEST_F(CliTest, StatusShowsErrorsWithClassAndAttemptAndTheLastOutputTail) {
  const std::string id = Enqueue({"convert", "--max-attempts", "1"});
  Local l = OpenLocal(clock_);
  auto jobs = l.engine->Fetch(FetchOne("default", std::chrono::minutes(1)));
  ASSERT_TRUE(jobs.ok() && jobs->size() == 1u);
  FailRequest fail;
  fail.id = jobs->front().id;
  fail.token = jobs->front().lease_token;
  fail.failure.error_class = ErrorClass::kTransient;
  fail.failure.message = "ffmpeg exited with 1";
  fail.failure.output_tail = "frame 1\nframe 2\nError: codec not found\n";
  ASSERT_TRUE(l.engine->Fail(fail).ok());

  CommandResult r = Cli({"status", id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("attempt 1  transient"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ffmpeg exited with 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("output tail"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| Error: codec not found"), std::string::npos) << r.out;

  nlohmann::json j = StatusJson(id);
  EXPECT_EQ(j["state"], "failed");
  ASSERT_EQ(j["errors"].size(), 1u);
  EXPECT_EQ(j["errors"][0]["class"], "transient");
  EXPECT_EQ(j["errors"][0]["attempt"], 1);
  EXPECT_TRUE(j["errors"][0]["message"].get<std::string>().starts_with("ffmpeg exited with 1")) << j["errors"];

  CommandResult ls = Cli({"ls", "--state", "failed"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("transient: ffmpeg exited with 1"), std::string::npos) << ls.out;
}

TEST_F(CliTest, DoctorGivesAVerdictAndReasonPerRunningJob) {
  CommandResult none = Cli({"doctor"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_NE(none.out.find("no running jobs"), std::string::npos) << none.out;

  const std::string healthy = Enqueue({"a", "--queue", "h"});
  const std::string risky = Enqueue({"a", "--queue", "r", "--timeout", "1s"});
  Local l = OpenLocal(clock_);
  ASSERT_TRUE(l.engine->Fetch(FetchOne("h", std::chrono::minutes(5))).ok());
  ASSERT_TRUE(l.engine->Fetch(FetchOne("r", std::chrono::minutes(5))).ok());
  // Past 80% of its 1 s timeout (and maybe past it: then the stop is requested). Either is at risk.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));

  CommandResult r = Cli({"doctor", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json d = nlohmann::json::parse(r.out);
  ASSERT_EQ(d.size(), 2u) << d.dump(2);
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& e : d) by_id[e["id"].get<std::string>()] = e;
  EXPECT_EQ(by_id[healthy]["verdict"], "healthy") << by_id[healthy].dump(2);
  EXPECT_EQ(by_id[risky]["verdict"], "at-risk") << by_id[risky].dump(2);
  EXPECT_FALSE(by_id[risky]["reason"].get<std::string>().empty());
  EXPECT_GT(by_id[healthy]["lease_left_s"].get<double>(), 200.0);
  EXPECT_GE(by_id[risky]["attempt_used_s"].get<double>(), 1.0);
  EXPECT_EQ(by_id[risky]["job"]["id"], risky);

  CommandResult table = Cli({"doctor"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("healthy"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("at-risk"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("LEASE LEFT"), std::string::npos) << table.out;
}

TEST_F(CliTest, ResetStuckTakesBackOnlyJobsWithOldHeartbeatsAndPrintsTheirIds) {
  // An engine whose clock is an hour behind leases a job "an hour ago".
  testing::FakeClock past(clock_.Now() - std::chrono::hours(1));
  Local old_engine = OpenLocal(past);
  EnqueueRequest slow;
  slow.kind = "slow";
  auto old_job = old_engine.engine->Enqueue(slow);
  ASSERT_TRUE(old_job.ok()) << old_job.status().ToString();
  ASSERT_TRUE(old_engine.engine->Fetch(FetchOne("default", std::chrono::minutes(10))).ok());
  const std::string fresh = Enqueue({"quick", "--queue", "fresh"});
  Local now_engine = OpenLocal(clock_);
  ASSERT_TRUE(now_engine.engine->Fetch(FetchOne("fresh", std::chrono::minutes(10))).ok());

  CommandResult r = Cli({"reset-stuck", "--older-than", "30m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string old_id = FormatJobId(old_job->job.id);
  EXPECT_EQ(r.out, "reset 1 job(s)\n" + old_id + "\n");

  nlohmann::json j = StatusJson(old_id);
  EXPECT_EQ(j["state"], "available");
  ASSERT_EQ(j["errors"].size(), 1u);
  EXPECT_EQ(j["errors"][0]["class"], "lease_expired");
  EXPECT_EQ(j["errors"][0]["attempt"], 1);
  EXPECT_EQ(StatusJson(fresh)["state"], "running");
}

TEST_F(CliTest, PurgeDeletesByStateAndRefusesRunning) {
  const std::string a = Enqueue({"a"});
  Enqueue({"a"});
  Enqueue({"a", "--queue", "other"});
  ASSERT_EQ(Cli({"cancel", a}).exit_code, 0);

  CommandResult young = Cli({"purge", "--state", "cancelled", "--older-than", "1h"});
  ASSERT_EQ(young.exit_code, 0) << young.err;
  EXPECT_EQ(young.out, "deleted 0 job(s)\n");

  CommandResult running = Cli({"purge", "--state", "running"});
  EXPECT_EQ(running.exit_code, 1);
  EXPECT_NE(running.err.find("--state"), std::string::npos) << running.err;
  EXPECT_EQ(JobCount(), 3u);

  CommandResult cancelled = Cli({"purge", "--state", "cancelled"});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_EQ(cancelled.out, "deleted 1 job(s)\n");
  CommandResult by_queue = Cli({"purge", "--state", "available", "--queue", "other"});
  ASSERT_EQ(by_queue.exit_code, 0) << by_queue.err;
  EXPECT_EQ(by_queue.out, "deleted 1 job(s)\n");
  EXPECT_EQ(JobCount(), 1u);
}

TEST_F(CliTest, RetryOfASucceededJobIsRefused) {
  const std::string id = Enqueue({"a"});
  Local l = OpenLocal(clock_);
  auto jobs = l.engine->Fetch(FetchOne("default", std::chrono::seconds(10)));
  ASSERT_TRUE(jobs.ok() && jobs->size() == 1u);
  ASSERT_TRUE(l.engine->Complete(CompleteRequest{jobs->front().id, jobs->front().lease_token, {}, {}, {}}).ok());
  CommandResult r = Cli({"retry", id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("succeeded"), std::string::npos) << r.err;
  EXPECT_EQ(Cli({"cancel", id}).exit_code, 1);
}

// Bad input: exit 2, a message naming the flag, nothing on stdout, nothing written.
TEST_F(CliTest, BadInputExitsTwoNamesTheFlagAndWritesNothing) {
  Enqueue({"seed"});
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  const std::vector<Case> cases = {
      {{"enqueue", "a", "--args", "{not json"}, "--args"},
      {{"enqueue", "a", "--args", R"({"a": 1,})"}, "--args"},
      {{"enqueue", "a", "--timeout", "-5s"}, "--timeout"},
      {{"enqueue", "a", "--delay=-1s"}, "--delay"},
      {{"enqueue", "a", "--deadline", "soon"}, "--deadline"},
      {{"enqueue", "a", "--stall-timeout", "-1m"}, "--stall-timeout"},
      {{"enqueue", "a", "--max-attempts", "0"}, "--max-attempts"},
      {{"enqueue", "a", "--priority", "high"}, "--priority"},
      {{"enqueue", "a", "--queue", "has space"}, "--queue"},
      {{"enqueue", "a", "--delay", "1h", "--deadline", "30m"}, "--deadline"},
      {{"enqueue"}, "KIND"},
      {{"ls", "--state", "runing"}, "--state"},
      {{"ls", "--limit", "0"}, "--limit"},
      {{"purge", "--state", "bogus"}, "--state"},
      {{"purge", "--state", "failed", "--older-than", "-1h"}, "--older-than"},
      {{"purge"}, "--state"},
      {{"reset-stuck", "--older-than", "-10m"}, "--older-than"},
      {{"reset-stuck"}, "--older-than"},
      {{"status", "abc"}, "ID"},
      {{"cancel", "-3"}, ""},
      {{"retry", "1.5"}, "ID"},
      {{"pause", "bad name"}, "QUEUE"},
      {{"enqueue", "a", "--no-such-flag"}, "--no-such-flag"},
      {{"frobnicate"}, ""},
  };
  for (const Case& c : cases) {
    CommandResult r = Cli(c.args);
    std::string cmd;
    for (const auto& a : c.args) cmd += a + " ";
    EXPECT_EQ(r.exit_code, 2) << cmd << "-> " << r.err;
    EXPECT_FALSE(r.err.empty()) << cmd;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << cmd << "-> " << r.err;
    EXPECT_EQ(r.out, "") << cmd;
  }
  EXPECT_EQ(JobCount(), 1u) << "no bad input may write a job";
  EXPECT_EQ(nlohmann::json::parse(Cli({"queues", "--json"}).out)[0]["paused"], false);
}

TEST_F(CliTest, BadInputDoesNotEvenCreateTheDatabase) {
  CommandResult r = Cli({"enqueue", "a", "--args", "{oops"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(FileExists(db_)) << "validation happens before the database is opened";
}

TEST_F(CliTest, DbTakesASqliteUrlAndRefusesAnUnknownSchemeOrAMissingDriver) {
  CommandResult url = RunCli({"enqueue", "a", "--db", "sqlite:" + db_});
  ASSERT_EQ(url.exit_code, 0) << url.err;
  CommandResult bare = RunCli({"ls", "--json", "--db", db_});
  ASSERT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_EQ(nlohmann::json::parse(bare.out).size(), 1u) << "sqlite:PATH and PATH are the same database";

  for (const std::string& value : {std::string("mysql://localhost/jw"), std::string("postgresql:///jw?host=/tmp")}) {
    CommandResult r = RunCli({"ls", "--db", value});
    EXPECT_EQ(r.exit_code, 2) << value << " -> " << r.err;
    EXPECT_NE(r.err.find("--db"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(value), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_FALSE(FileExists("postgresql:")) << "a URL is never taken for a directory name";
}

TEST_F(CliTest, UnusableDatabaseExitsThree) {
  CommandResult proc = RunCli({"ls", "--db", "/proc/x/y.db"});
  EXPECT_EQ(proc.exit_code, 3) << proc.err;
  EXPECT_NE(proc.err.find("/proc/x/y.db"), std::string::npos) << proc.err;

  // A file that is not a database.
  const std::string junk = dir_.File("junk.db");
  std::ofstream(junk) << std::string(8192, 'x');
  CommandResult not_db = RunCli({"enqueue", "a", "--db", junk});
  EXPECT_EQ(not_db.exit_code, 3) << not_db.err;
  EXPECT_EQ(not_db.out, "");

  // A directory where the file should be.
  CommandResult is_dir = RunCli({"queues", "--db", dir_.path()});
  EXPECT_EQ(is_dir.exit_code, 3) << is_dir.err;
}

TEST_F(CliTest, HelpExitsZero) {
  CommandResult r = RunCli({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("enqueue"), std::string::npos) << r.out;
  CommandResult sub = RunCli({"enqueue", "--help"});
  EXPECT_EQ(sub.exit_code, 0) << sub.err;
  EXPECT_NE(sub.out.find("--max-attempts"), std::string::npos) << sub.out;
}

}  // namespace
}  // namespace jobwarden
