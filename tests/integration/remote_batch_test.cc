// Issue 14, batches through real processes: a `jobwarden server`, a
// `jobwarden worker --server` running command handlers, batches submitted over
// HTTP or fanned out by a handler on fd 3.
//
// - The scraper case: 5 sources, one hangs on a socket that never answers and
//   ignores SIGTERM; its own timeout ends it, the callback gets 4 results and 1
//   timeout, and no process of the hung handler is left.
// - Every member hangs: the batch ends at its deadline (batch_deadline), the
//   callback still runs, with 0 of 5.
// - kill -9 of the server while members finish: exactly one callback.
// - A handler fans out 20 children with a 5 s deadline: no child starts an
//   attempt after it.
//
// Timing: every wait is a generous polled bound; what is asserted is outcomes
// (states, limits, counts, processes), never how fast.
#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/time.h"
#include "integration/remote_test_support.h"

namespace jobwarden::testing {
namespace {

// A TCP listener that never accepts: a connect completes (the kernel's
// backlog), then every read waits forever. The scraper's hung source.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && listen(fd_, 16) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  ~SilentListener() {
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class BatchTest : public RemoteTest {
 protected:
  void SetUp() override {
    RemoteTest::SetUp();
    std::filesystem::create_directories(dir_.File("var"));
    ASSERT_NE(silent_.port(), 0);
    // A source: `hang` in its args makes it connect to the silent port and
    // wait, ignoring SIGTERM (its pids are logged); otherwise it answers.
    source_ =
        WriteScript("source.sh",
                    "#!/bin/sh\n"
                    "job=$(cat)\n"
                    "case \"$job\" in\n"
                    "  *'\"hang\":true'*)\n"
                    "    trap '' TERM\n"
                    "    echo $$ >> \"$MARKS/hung.pids\"\n"
                    "    exec python3 -c 'import os,socket,sys\n"
                    "open(os.environ[\"MARKS\"]+\"/hung.pids\",\"a\").write(str(os.getpid())+\"\\n\")\n"
                    "s=socket.create_connection((\"127.0.0.1\",int(os.environ[\"SILENT_PORT\"])))\n"
                    "s.recv(1)'\n"
                    "    ;;\n"
                    "esac\n"
                    "sleep \"${SLEEP:-0.2}\"\n"
                    "echo \"{\\\"result\\\": {\\\"source\\\": \\\"$JOBWARDEN_JOB_ID\\\", \\\"rows\\\": 3}}\" >&3\n");
    // The callback: keeps the job JSON it was given.
    callback_ = WriteScript("callback.sh",
                            "#!/bin/sh\n"
                            "cat > \"$MARKS/callback-$JOBWARDEN_JOB_ID.json\"\n");
  }

  // One worker config with the kinds every test here uses.
  std::string Config(int slots, const std::string& extra_kinds = "") {
    std::ostringstream toml;
    const std::string env = "env = { MARKS = " + json(dir_.path()).dump() + ", SILENT_PORT = \"" +
                            std::to_string(silent_.port()) + "\" }\n";
    toml << "[worker]\nconcurrency = " << slots << "\nlease_ttl = \"4s\"\ngrace = \"1s\"\n\n";
    toml << "[kinds.source]\ncommand = [" << json(source_).dump() << "]\ngrace = \"1s\"\n" << env << "\n";
    toml << "[kinds.summarize]\ncommand = [" << json(callback_).dump() << "]\n" << env << "\n";
    toml << extra_kinds;
    const std::string path = dir_.File("worker.toml");
    std::ofstream(path) << toml.str();
    return path;
  }

  json Submit(const json& body) {
    Reply r = Post("/v1/batches", body);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body;
  }

  json Batch(const std::string& id) { return Get("/v1/batches/" + id).body; }

  bool WaitFinished(const std::string& id, Millis bound) {
    return WaitUntil(
        [&] {
          json b = Batch(id);
          return b.is_object() && b.value("state", "") != "running";
        },
        bound);
  }

  // The callback jobs the server holds (kind summarize).
  std::vector<json> Callbacks() {
    Reply r = Get("/v1/jobs?kind=summarize&limit=100");
    EXPECT_EQ(r.status, 200) << r.raw;
    return r.body.value("jobs", std::vector<json>{});
  }

  std::set<pid_t> HungPids() {
    std::set<pid_t> pids;
    std::ifstream in(dir_.File("hung.pids"));
    pid_t p = 0;
    while (in >> p) pids.insert(p);
    return pids;
  }

  static json Source(const std::string& name, bool hang, double timeout_s) {
    return {
        {"kind", "source"}, {"args", {{"name", name}, {"hang", hang}}}, {"timeout_s", timeout_s}, {"max_attempts", 1}};
  }

  SilentListener silent_;
  std::string source_, callback_;
};

TEST_F(BatchTest, TheScraperGetsFourResultsAndOneTimeoutAndNoHungProcessIsLeft) {
  StartServer();
  StartWorker(Config(5));
  json body = {{"name", "query-42"},
               {"deadline_s", 10},
               {"min_succeeded", 3},
               {"callback", {{"kind", "summarize"}, {"args", {{"query", "42"}}}}},
               {"jobs", json::array()}};
  for (int i = 0; i < 5; ++i) body["jobs"].push_back(Source("s" + std::to_string(i), i == 2, 3));
  const json submitted = Submit(body);
  const std::string id = submitted.value("id", "");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(submitted["members"].size(), 5u);

  ASSERT_TRUE(WaitFinished(id, 60s)) << Batch(id).dump();
  const json b = Batch(id);
  EXPECT_EQ(b["state"], "succeeded");  // 4 of 5, 3 needed
  EXPECT_EQ(b["counts"]["succeeded"], 4);
  EXPECT_EQ(b["counts"]["failed"], 1);
  const std::string hung_id = submitted["members"][2]["id"];
  for (const json& m : b["members"]) {
    if (m["id"] == hung_id) {
      EXPECT_EQ(m["state"], "failed");
      EXPECT_EQ(m["error"]["class"], "timeout") << m.dump();
      // Its own 3 s timeout ended it, not the batch's 10 s deadline.
      EXPECT_EQ(m["error"]["limit"], "timeout") << m.dump();
    } else {
      EXPECT_EQ(m["state"], "succeeded") << m.dump();
      EXPECT_EQ(m["result"]["rows"], 3) << m.dump();
    }
  }

  // The callback ran once, with the whole batch in args.batch.
  const std::string cb_id = b.value("callback_job_id", "");
  ASSERT_FALSE(cb_id.empty());
  ASSERT_TRUE(WaitForState(cb_id, "succeeded", 30s)) << Job(cb_id).dump();
  std::ifstream in(dir_.File("callback-" + cb_id + ".json"));
  ASSERT_TRUE(in) << "the callback handler did not run";
  const json given = json::parse(in);
  EXPECT_EQ(given["args"]["query"], "42");
  EXPECT_EQ(given["args"]["batch"]["id"], id);
  EXPECT_EQ(given["args"]["batch"]["counts"]["succeeded"], 4);
  EXPECT_EQ(given["args"]["batch"]["members"].size(), 5u);
  EXPECT_EQ(Callbacks().size(), 1u);

  // The hung handler's whole tree (shell and python, SIGTERM ignored) is gone.
  const std::set<pid_t> pids = HungPids();
  ASSERT_FALSE(pids.empty());
  EXPECT_TRUE(
      WaitUntil([&] { return std::none_of(pids.begin(), pids.end(), [](pid_t p) { return ProcessAlive(p); }); }, 10s));
}

TEST_F(BatchTest, WhenEveryMemberHangsTheBatchEndsAtItsDeadlineAndTheCallbackStillRuns) {
  StartServer();
  StartWorker(Config(5));
  json body = {{"deadline_s", 4}, {"callback", {{"kind", "summarize"}}}, {"jobs", json::array()}};
  for (int i = 0; i < 5; ++i) body["jobs"].push_back(Source("s" + std::to_string(i), true, 60));
  const std::string id = Submit(body).value("id", "");
  ASSERT_FALSE(id.empty());

  ASSERT_TRUE(WaitFinished(id, 60s)) << Batch(id).dump();
  const json b = Batch(id);
  EXPECT_EQ(b["state"], "failed");
  EXPECT_EQ(b["counts"]["succeeded"], 0);
  EXPECT_EQ(b["counts"]["failed"], 5);
  for (const json& m : b["members"]) {
    EXPECT_EQ(m["error"]["class"], "timeout") << m.dump();
    EXPECT_EQ(m["error"]["limit"], "batch_deadline") << m.dump();
  }
  const std::string cb_id = b.value("callback_job_id", "");
  ASSERT_FALSE(cb_id.empty());
  ASSERT_TRUE(WaitForState(cb_id, "succeeded", 30s)) << Job(cb_id).dump();
  std::ifstream in(dir_.File("callback-" + cb_id + ".json"));
  ASSERT_TRUE(in);
  EXPECT_EQ(json::parse(in)["args"]["batch"]["counts"]["succeeded"], 0);

  const std::set<pid_t> pids = HungPids();
  EXPECT_GE(pids.size(), 5u);
  EXPECT_TRUE(
      WaitUntil([&] { return std::none_of(pids.begin(), pids.end(), [](pid_t p) { return ProcessAlive(p); }); }, 10s));
}

TEST_F(BatchTest, KillingTheServerWhileMembersFinishEnqueuesExactlyOneCallback) {
  StartServer();
  StartWorker(Config(4));
  json body = {{"callback", {{"kind", "summarize"}}}, {"jobs", json::array()}};
  for (int i = 0; i < 40; ++i) body["jobs"].push_back({{"kind", "source"}, {"args", {{"n", i}}}});
  const json submitted = Submit(body);
  const std::string id = submitted.value("id", "");
  ASSERT_FALSE(id.empty());
  // Some members done, most not: kill -9 the server mid-run, twice.
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(WaitUntil([&] { return Batch(id)["counts"].value("succeeded", 0) >= 5 + 10 * round; }, 60s));
    KillServer();
    StartServer();
  }
  ASSERT_TRUE(WaitFinished(id, 120s)) << Batch(id).dump();
  const json b = Batch(id);
  EXPECT_EQ(b["state"], "succeeded") << b.dump();
  EXPECT_EQ(b["counts"]["succeeded"], 40);
  const std::vector<json> callbacks = Callbacks();
  ASSERT_EQ(callbacks.size(), 1u);
  EXPECT_EQ(callbacks.front()["id"], b["callback_job_id"]);
  ASSERT_TRUE(WaitForState(b["callback_job_id"], "succeeded", 30s));
  // And its handler ran once.
  int runs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    if (e.path().filename().string().rfind("callback-", 0) == 0) ++runs;
  }
  EXPECT_EQ(runs, 1);
}

TEST_F(BatchTest, AHandlerFansOutAndNoChildStartsAnAttemptAfterTheDeadline) {
  // The parent writes one fd-3 batch line: 20 children of 1 s each, a 5 s
  // deadline. Two slots cannot run them all in time.
  const std::string fan_out = WriteScript(
      "fan_out.sh",
      "#!/bin/sh\n"
      "cat > /dev/null\n"
      "jobs=''\n"
      "for i in $(seq 1 20); do jobs=\"$jobs${jobs:+,}{\\\"kind\\\":\\\"child\\\",\\\"args\\\":{\\\"n\\\":$i}}\"; "
      "done\n"
      "echo \"{\\\"batch\\\":{\\\"name\\\":\\\"children\\\",\\\"deadline_s\\\":5,\\\"min_succeeded\\\":1,"
      "\\\"jobs\\\":[$jobs]}}\" >&3\n");
  const std::string kinds = "[kinds.plan]\ncommand = [" + json(fan_out).dump() + "]\n\n[kinds.child]\ncommand = [" +
                            json(source_).dump() + "]\nenv = { MARKS = " + json(dir_.path()).dump() +
                            ", SLEEP = \"1\" }\n\n";
  StartServer();
  StartWorker(Config(2, kinds), {});
  const std::string parent = Enqueue({{"kind", "plan"}});
  ASSERT_TRUE(WaitForState(parent, "succeeded", 30s)) << Job(parent).dump();

  Reply list = Get("/v1/batches");
  ASSERT_EQ(list.status, 200) << list.raw;
  ASSERT_EQ(list.body["batches"].size(), 1u) << list.raw;
  const json listed = list.body["batches"][0];
  EXPECT_EQ(listed["parent_id"], parent);
  EXPECT_EQ(listed["name"], "children");
  const std::string id = listed["id"];
  ASSERT_TRUE(WaitFinished(id, 60s)) << Batch(id).dump();
  const json b = Batch(id);
  ASSERT_EQ(b["members"].size(), 20u);
  auto deadline = ParseRfc3339(b["deadline_at"].get<std::string>());
  ASSERT_TRUE(deadline.ok());
  int started = 0, never_started = 0;
  for (const json& m : b["members"]) {
    const json job = Job(m["id"]);
    EXPECT_EQ(job["deadline_at"], b["deadline_at"]);
    if (job["started_at"].is_string()) {
      ++started;
      auto at = ParseRfc3339(job["started_at"].get<std::string>());
      ASSERT_TRUE(at.ok());
      EXPECT_LT(*at, *deadline) << job.dump();
    } else {
      ++never_started;
      EXPECT_EQ(job["attempt"], 0) << job.dump();
      EXPECT_EQ(m["error"]["limit"], "batch_deadline") << m.dump();
    }
  }
  EXPECT_GT(never_started, 0) << "two slots ran all twenty 1 s children in 5 s?";
  EXPECT_GT(started, 0);
}

TEST_F(BatchTest, ABatchTheServerRefusesFailsTheHandlersJobNamingTheField) {
  const std::string bad = WriteScript("bad_fan_out.sh",
                                      "#!/bin/sh\ncat > /dev/null\n"
                                      "echo '{\"batch\":{\"jobs\":[{\"kind\":\"source\"},{\"kind\":\"\"}]}}' >&3\n");
  StartServer();
  StartWorker(Config(1, "[kinds.plan]\ncommand = [" + json(bad).dump() + "]\n\n"));
  const std::string parent = Enqueue({{"kind", "plan"}, {"max_attempts", 3}});
  ASSERT_TRUE(WaitForState(parent, "failed", 30s)) << Job(parent).dump();
  const json j = Job(parent);
  ASSERT_FALSE(j["errors"].empty());
  EXPECT_EQ(j["errors"].back()["class"], "permanent") << j.dump();
  EXPECT_NE(j["errors"].back()["message"].get<std::string>().find("jobs[1].kind"), std::string::npos) << j.dump();
  EXPECT_EQ(j["attempt"], 1);  // permanent: not retried
  EXPECT_TRUE(Get("/v1/batches").body["batches"].empty());
}

}  // namespace
}  // namespace jobwarden::testing
