// Remote workers (`jobwarden worker --server URL`) against a real server:
// jobs run to success; a worker killed with -9 loses its jobs to another
// worker long before its lease would expire (the dropped session; here on one
// host, often the server's pid check first: a test with another host's
// identity isolates the session path); a worker that cannot reopen its
// session kills its jobs; a
// zombie's late complete is refused; killing or restarting the server loses
// nothing and expires no live lease.
#include <set>

#include "client/remote_backend.h"
#include "integration/remote_test_support.h"

namespace jobwarden::testing {
namespace {

class RemoteWorkerTest : public RemoteTest {
 protected:
  void SetUp() override {
    RemoteTest::SetUp();
    StartServer();
  }

  // Waits until `n` workers have an open session.
  void WaitForSessions(std::size_t n) {
    ASSERT_TRUE(WaitUntil([&] { return WorkersWithSession() >= n; }, 20s)) << Get("/v1/workers").raw;
  }
};

TEST_F(RemoteWorkerTest, RunsJobsToSuccessWithResultsAndProgress) {
  const std::string script = WriteScript("ok.sh", R"(#!/bin/sh
echo '{"progress": {"done": 1, "total": 2}}' >&3
echo '{"result": {"ok": true}}' >&3
exit 0
)");
  StartWorker(WriteConfig("w.toml", "concurrency = 4", "ok", {script}));
  WaitForSessions(1);
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(Enqueue({{"kind", "ok"}, {"timeout_s", 60}}));
  for (const std::string& id : ids) {
    ASSERT_TRUE(WaitForState(id, "succeeded", 60s)) << Job(id).dump();
    const json j = Job(id);
    EXPECT_EQ(j["result"]["ok"], true) << j.dump();
    EXPECT_EQ(j["attempt"], 1);
  }
}

TEST_F(RemoteWorkerTest, KilledWorkersJobRunsOnAnotherWorkerLongBeforeItsLeaseEnds) {
  // First run: record the pid and hang. A later run finds the mark and succeeds.
  const std::string script = WriteScript("once.sh", R"(#!/bin/sh
if [ -f "$MARKS/ran" ]; then echo '{"result": {"worker": "second"}}' >&3; exit 0; fi
echo $$ > "$MARKS/ran"
sleep 300
)");
  const std::string config =
      WriteConfig("w.toml", "concurrency = 1\nlease_ttl = \"60s\"\ngrace = \"2s\"", "once", {script});
  ChildProcess& first = StartWorker(config);
  WaitForSessions(1);
  const std::string id = Enqueue({{"kind", "once"}, {"timeout_s", 600}});
  ASSERT_TRUE(WaitForState(id, "running", 30s)) << Job(id).dump();
  ASSERT_TRUE(WaitUntil([&] { return std::filesystem::exists(dir_.File("ran")); }, 20s));
  const std::string first_worker = Job(id).value("worker_id", "");

  StartWorker(config);
  WaitForSessions(2);
  first.Signal(SIGKILL);
  first.WaitFor(5s);

  // The lease has ~60 s left: the dropped session (or, on this host, the
  // server seeing the worker's pid gone) takes the job back long before.
  ASSERT_TRUE(WaitForState(id, "succeeded", 30s)) << Job(id).dump();
  const json j = Job(id);
  EXPECT_EQ(j["result"]["worker"], "second");
  EXPECT_NE(j["worker_id"], first_worker);
  ASSERT_EQ(j["errors"].size(), 1u) << j.dump();
  EXPECT_EQ(j["errors"][0]["class"], "worker_lost") << j.dump();
}

// The same through the session alone: a worker the server cannot check on
// this host (another host's identity) whose connection drops without a
// deregister loses its job after the take-back grace, not at its lease end.
TEST_F(RemoteWorkerTest, DroppedSessionOfAnUnseeableWorkerGivesItsJobToAnother) {
  const std::string script = WriteScript("ok.sh", R"(#!/bin/sh
echo '{"result": {"by": "survivor"}}' >&3
)");
  const std::string id = Enqueue({{"kind", "ok"}, {"timeout_s", 600}});
  {
    client::RemoteBackendOptions o;
    o.http.server = {"127.0.0.1", port_};
    client::RemoteBackend gone(o);
    WorkerRecord rec;
    rec.host = "another-host";
    rec.pid = 1;
    rec.queues = {"default"};
    rec.slots = 1;
    auto wid = gone.Register(rec);
    ASSERT_TRUE(wid.ok()) << wid.status().ToString();
    ASSERT_TRUE(WaitUntil([&] { return gone.session_connected(); }, 10s));
    FetchRequest f;
    f.worker_id = *wid;
    f.lease_ttl = std::chrono::seconds(120);
    auto leased = gone.Fetch(f, Duration(0));
    ASSERT_TRUE(leased.ok()) << leased.status().ToString();
    ASSERT_EQ(leased->size(), 1u);
  }  // the session's connection closes here, without a deregister
  StartWorker(WriteConfig("w.toml", "concurrency = 1", "ok", {script}));
  ASSERT_TRUE(WaitForState(id, "succeeded", 30s)) << Job(id).dump();
  const json j = Job(id);
  EXPECT_EQ(j["result"]["by"], "survivor");
  ASSERT_EQ(j["errors"].size(), 1u) << j.dump();
  EXPECT_EQ(j["errors"][0]["class"], "worker_lost") << j.dump();
  EXPECT_NE(j["errors"][0]["message"].get<std::string>().find("session"), std::string::npos) << j.dump();
}

// A worker whose session cannot be reopened (the server died) gives up the
// jobs it holds well before their lease would end; after the server is back
// they run again and finish.
TEST_F(RemoteWorkerTest, WorkerThatLosesItsSessionKillsItsJobsBeforeTheLeaseEnds) {
  const std::string script = WriteScript("once.sh", R"(#!/bin/sh
if [ -f "$MARKS/pid" ]; then echo '{"result": {"run": "second"}}' >&3; exit 0; fi
echo $$ > "$MARKS/pid.tmp" && mv "$MARKS/pid.tmp" "$MARKS/pid"
exec sleep 300
)");
  StartWorker(WriteConfig("w.toml", "concurrency = 1\nlease_ttl = \"30s\"\ngrace = \"2s\"", "once", {script}));
  WaitForSessions(1);
  const std::string id = Enqueue({{"kind", "once"}, {"timeout_s", 600}});
  pid_t pid = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::ifstream in(dir_.File("pid"));
        return static_cast<bool>(in >> pid);
      },
      30s));
  KillServer();
  // Self-fencing alone would stop it only at lease end - grace (~28 s).
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(pid); }, 20s)) << "handler " << pid << " still running";
  StartServer();
  ASSERT_TRUE(WaitForState(id, "succeeded", 90s)) << Job(id).dump();
  EXPECT_EQ(Job(id)["result"]["run"], "second");
}

TEST_F(RemoteWorkerTest, ZombieCompleteAfterItsLeaseWasGivenAwayIsRefused) {
  const std::string script = WriteScript("ok.sh", R"(#!/bin/sh
echo '{"result": {"by": "new holder"}}' >&3
)");
  const std::string id = Enqueue({{"kind", "ok"}, {"timeout_s", 60}});

  // The zombie: a RemoteBackend that leases the job for 1 s and goes quiet.
  client::RemoteBackendOptions o;
  o.http.server = {"127.0.0.1", port_};
  o.open_session = false;
  client::RemoteBackend zombie(o);
  WorkerRecord rec;
  rec.host = "zombie-host";
  rec.pid = 1;
  rec.queues = {"default"};
  rec.slots = 1;
  auto zid = zombie.Register(rec);
  ASSERT_TRUE(zid.ok()) << zid.status().ToString();
  FetchRequest f;
  f.worker_id = *zid;
  f.queues = {"default"};
  f.lease_ttl = 1s;
  f.grace = 200ms;
  auto leased = zombie.Fetch(f, Duration(0));
  ASSERT_TRUE(leased.ok()) << leased.status().ToString();
  ASSERT_EQ(leased->size(), 1u);
  const std::int64_t token = leased->front().lease_token;
  ASSERT_GT(token, 0);

  // Its lease expires; a real worker takes the job and completes it.
  StartWorker(WriteConfig("w.toml", "concurrency = 1", "ok", {script}));
  ASSERT_TRUE(WaitForState(id, "succeeded", 60s)) << Job(id).dump();

  CompleteRequest late{leased->front().id, token, std::string(R"({"by":"zombie"})"), std::nullopt, std::nullopt};
  auto answers = zombie.CompleteMany({late});
  ASSERT_TRUE(answers.ok()) << answers.status().ToString();
  EXPECT_EQ(answers->front().code(), StatusCode::kLeaseLost) << answers->front().ToString();
  Status failed = zombie.Fail(
      {leased->front().id, token, Failure{ErrorClass::kTransient, "late", {}, {}, {}}, std::nullopt, std::nullopt});
  EXPECT_EQ(failed.code(), StatusCode::kLeaseLost) << failed.ToString();
  // The same, over plain HTTP: 409 lease_lost.
  Reply r = Post("/v1/worker/complete", {{"id", id}, {"token", token}, {"result", {{"by", "zombie"}}}});
  EXPECT_EQ(r.status, 409) << r.raw;
  EXPECT_EQ(Code(r), "lease_lost");
  const json j = Job(id);
  EXPECT_EQ(j["state"], "succeeded");
  EXPECT_EQ(j["result"]["by"], "new holder") << j.dump();
}

TEST_F(RemoteWorkerTest, ServerRestartWithinTheLeaseTtlExpiresNoLiveLease) {
  const std::string script = WriteScript("slow.sh", R"(#!/bin/sh
echo $$ > "$MARKS/started"
sleep 6
echo '{"result": {"done": true}}' >&3
)");
  StartWorker(WriteConfig("w.toml", "concurrency = 1\nlease_ttl = \"10s\"\ngrace = \"2s\"", "slow", {script}));
  WaitForSessions(1);
  const std::string id = Enqueue({{"kind", "slow"}, {"timeout_s", 60}});
  ASSERT_TRUE(WaitUntil([&] { return std::filesystem::exists(dir_.File("started")); }, 30s));

  ASSERT_EQ(StopServer(), 0);
  std::this_thread::sleep_for(1s);
  StartServer();

  ASSERT_TRUE(WaitForState(id, "succeeded", 60s)) << Job(id).dump();
  const json j = Job(id);
  EXPECT_EQ(j["attempt"], 1) << j.dump();
  EXPECT_TRUE(j["errors"].empty()) << j.dump();
  EXPECT_EQ(j["result"]["done"], true);
}

TEST_F(RemoteWorkerTest, ServerKilledDuringTwoThousandJobsLosesNoneAndLeavesNoneRunning) {
  const std::string script = WriteScript("noop.sh", "#!/bin/sh\nexit 0\n");
  const std::string config =
      WriteConfig("w.toml", "concurrency = 8\nlease_ttl = \"5s\"\ngrace = \"1s\"", "noop", {script});
  StartWorker(config);
  StartWorker(config);
  WaitForSessions(2);

  std::set<std::string> accepted;  // enqueued with a 2xx answer
  auto enqueue_batch = [&](int n) {
    json jobs = json::array();
    for (int i = 0; i < n; ++i) jobs.push_back({{"kind", "noop"}, {"timeout_s", 120}, {"max_attempts", 50}});
    Reply r = Post("/v1/jobs/bulk", {{"jobs", jobs}});
    if (r.status / 100 != 2) return false;
    for (const auto& j : r.body["jobs"]) accepted.insert(j["id"].get<std::string>());
    return true;
  };
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(enqueue_batch(100));
  // Kill -9 once some (not all) have run.
  WaitUntil(
      [&] {
        return Get("/v1/queues").raw.find("\"succeeded\":") != std::string::npos &&
               Get("/v1/jobs?state=succeeded&limit=200").body["jobs"].size() >= 200;
      },
      60s);
  KillServer();
  EXPECT_FALSE(enqueue_batch(100));  // nobody answers: not accepted
  std::this_thread::sleep_for(1500ms);
  StartServer();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(enqueue_batch(100));
  ASSERT_EQ(accepted.size(), 2000u);

  // Every accepted job finishes; none is left running or waiting.
  auto count = [&](const std::string& state) {
    std::size_t n = 0;
    const Reply r = Get("/v1/queues");
    for (const auto& q : r.body["queues"]) n += q["counts"].value(state, 0);
    return n;
  };
  ASSERT_TRUE(WaitUntil(
      [&] {
        return count("succeeded") >= 2000 && count("running") == 0 && count("available") == 0 &&
               count("scheduled") == 0;
      },
      180s))
      << Get("/v1/queues").raw;
  std::set<std::string> succeeded;
  std::string cursor;
  while (true) {
    Reply page = Get("/v1/jobs?state=succeeded&limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(page.status, 200) << page.raw;
    for (const auto& j : page.body["jobs"]) succeeded.insert(j["id"].get<std::string>());
    if (page.body["next_cursor"].is_null()) break;
    cursor = page.body["next_cursor"].get<std::string>();
  }
  for (const std::string& id : accepted) EXPECT_TRUE(succeeded.count(id) > 0) << "job " << id << " " << Job(id).dump();
  EXPECT_EQ(count("failed"), 0u);
}

}  // namespace
}  // namespace jobwarden::testing
