// Issue 13, flow control through real processes: a `jobwarden server`,
// several `jobwarden worker` processes, command handlers that log when they
// start and end. The limits are written into the database by this test
// process, as another process on the same file would (the server's store
// sees them at its next fetch).
//
// Timing: every wait is a generous polled bound. What is asserted is what a
// limit forbids (overlap, order), never how fast things went.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "core/time.h"
#include "integration/remote_test_support.h"
#include "store/sqlite/sqlite_store.h"
#include "testutil/test_store.h"

namespace jobwarden::testing {
namespace {

struct HandlerRun {
  std::string job;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
};

class FlowControlTest : public RemoteTest {
 protected:
  void SetUp() override {
    RemoteTest::SetUp();
    std::filesystem::create_directories(dir_.File("var"));
    auto store = OpenSqliteStore({.path = db()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    // Logs "<job> start <ns>" and "<job> end <ns>"; each line is one atomic append.
    handler_ = WriteScript("logged.sh",
                           "#!/bin/sh\n"
                           "echo \"$JOBWARDEN_JOB_ID start $(date +%s%N)\" >> \"$MARKS/runs.log\"\n"
                           "sleep \"${SLEEP:-0.2}\"\n"
                           "echo \"$JOBWARDEN_JOB_ID end $(date +%s%N)\" >> \"$MARKS/runs.log\"\n");
  }

  // Every run in the log, by start time; runs not ended yet have end_ns 0.
  std::vector<HandlerRun> Runs() {
    std::map<std::string, HandlerRun> open;
    std::vector<HandlerRun> done;
    std::ifstream in(dir_.File("runs.log"));
    std::string id, what;
    std::int64_t ns = 0;
    while (in >> id >> what >> ns) {
      if (what == "start") {
        open[id] = HandlerRun{id, ns, 0};
      } else if (auto it = open.find(id); it != open.end()) {
        it->second.end_ns = ns;
        done.push_back(it->second);
        open.erase(it);
      }
    }
    std::sort(done.begin(), done.end(),
              [](const HandlerRun& a, const HandlerRun& b) { return a.start_ns < b.start_ns; });
    return done;
  }

  // The most runs that were inside their handler at once.
  static int MaxOverlap(const std::vector<HandlerRun>& runs) {
    std::vector<std::pair<std::int64_t, int>> edges;
    for (const HandlerRun& r : runs) {
      edges.emplace_back(r.start_ns, 1);
      edges.emplace_back(r.end_ns, -1);
    }
    std::sort(edges.begin(), edges.end());  // an end (-1) sorts before a start at the same instant
    int now = 0, most = 0;
    for (const auto& [t, d] : edges) most = std::max(most, now += d);
    return most;
  }

  std::string Config(const std::string& name, int slots, const std::string& queue) {
    return WriteConfig(name, "concurrency = " + std::to_string(slots) + "\nqueues = [\"" + queue + "\"]", "logged",
                       {handler_});
  }

  bool AllSucceeded(const std::vector<std::string>& ids, Millis bound) {
    return WaitUntil(
        [&] {
          return std::all_of(ids.begin(), ids.end(), [&](const std::string& id) { return State(id) == "succeeded"; });
        },
        bound);
  }

  static Timestamp Now() { return std::chrono::floor<Duration>(std::chrono::system_clock::now()); }

  // A time field of a job or resource JSON (RFC 3339, as the server wrote it).
  static Timestamp TimeOf(const json& j, const std::string& field) {
    auto t = ParseRfc3339(j.at(field).get<std::string>());
    EXPECT_TRUE(t.ok()) << field << " of " << j.dump();
    return t.ok() ? *t : Timestamp{};
  }

  // Jobs by the time the server leased them (started_at of their last attempt).
  std::vector<json> ByStart(const std::vector<std::string>& ids) {
    std::vector<json> jobs;
    for (const std::string& id : ids) jobs.push_back(Job(id));
    std::sort(jobs.begin(), jobs.end(),
              [](const json& a, const json& b) { return TimeOf(a, "started_at") < TimeOf(b, "started_at"); });
    return jobs;
  }

  std::unique_ptr<Store> store_;
  std::string handler_;
};

TEST_F(FlowControlTest, SequentialQueueRunsOneJobAtATimeInPriorityOrderAcrossWorkers) {
  ASSERT_OK(store_->QueueSetLimits("collection", {.concurrency = 1}, Now()));
  StartServer();
  std::vector<std::string> ids;
  for (int priority : {3, 1, 5, 2, 4}) {
    ids.push_back(Enqueue({{"kind", "logged"}, {"queue", "collection"}, {"priority", priority}}));
  }
  for (int i = 0; i < 3; ++i) StartWorker(Config("w" + std::to_string(i) + ".toml", 4, "collection"));
  ASSERT_TRUE(AllSucceeded(ids, 60s)) << server_->Stderr();

  const std::vector<HandlerRun> runs = Runs();
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(MaxOverlap(runs), 1) << "a sequential queue ran two jobs at once";
  for (std::size_t i = 1; i < runs.size(); ++i) {
    EXPECT_LE(runs[i - 1].end_ns, runs[i].start_ns) << runs[i - 1].job << " and " << runs[i].job << " overlapped";
  }
  // Highest priority first: ids were enqueued with priorities 3, 1, 5, 2, 4.
  const std::vector<std::string> expected = {ids[2], ids[4], ids[0], ids[3], ids[1]};
  std::vector<std::string> order;
  for (const HandlerRun& r : runs) order.push_back(r.job);
  EXPECT_EQ(order, expected);
}

TEST_F(FlowControlTest, ResourceConcurrencyIsNeverExceededAcrossWorkerProcesses) {
  ASSERT_OK(store_->ResourceSetLimits("host:a", {.concurrency = 2}, Now()));
  StartServer();
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    ids.push_back(Enqueue({{"kind", "logged"}, {"queue", "up"}, {"resource_key", "host:a"}}));
  }
  // Jobs of another host are not held by host:a's limit.
  std::vector<std::string> other;
  for (int i = 0; i < 4; ++i) other.push_back(Enqueue({{"kind", "logged"}, {"queue", "up"}}));
  for (int i = 0; i < 2; ++i) StartWorker(Config("w" + std::to_string(i) + ".toml", 4, "up"));
  ASSERT_TRUE(AllSucceeded(ids, 90s)) << server_->Stderr();
  ASSERT_TRUE(AllSucceeded(other, 30s)) << server_->Stderr();

  std::vector<HandlerRun> keyed;
  const std::set<std::string> keyed_ids(ids.begin(), ids.end());
  for (const HandlerRun& r : Runs()) {
    if (keyed_ids.count(r.job) != 0) keyed.push_back(r);
  }
  ASSERT_EQ(keyed.size(), 12u);
  EXPECT_LE(MaxOverlap(keyed), 2) << "resource concurrency 2 was exceeded";
}

TEST_F(FlowControlTest, KillingTheWorkerThatHoldsTheOnlySlotLetsTheNextJobRun) {
  ASSERT_OK(store_->QueueSetLimits("collection", {.concurrency = 1}, Now()));
  StartServer();
  // The first run of the first job hangs (its worker is killed); every other run is quick.
  const std::string hang_once = WriteScript("hang_once.sh",
                                            "#!/bin/sh\n"
                                            "if mkdir \"$MARKS/hung\" 2>/dev/null; then\n"
                                            "  touch \"$MARKS/hanging\"; sleep 600\n"
                                            "fi\n"
                                            "exit 0\n");
  const std::string first = Enqueue({{"kind", "h"}, {"queue", "collection"}, {"priority", 9}});
  const std::string second = Enqueue({{"kind", "h"}, {"queue", "collection"}});
  ChildProcess& holder =
      StartWorker(WriteConfig("a.toml", "concurrency = 1\nqueues = [\"collection\"]", "h", {hang_once}));
  ASSERT_TRUE(WaitUntil([&] { return access(dir_.File("hanging").c_str(), F_OK) == 0; }, 30s));
  StartWorker(WriteConfig("b.toml", "concurrency = 2\nqueues = [\"collection\"]", "h", {hang_once}));
  EXPECT_EQ(State(second), "available") << "held by the queue's one slot";
  holder.Signal(SIGKILL);
  holder.WaitFor(5s);

  // G1 with a limit on: the slot comes back and both jobs finish.
  ASSERT_TRUE(WaitForState(first, "succeeded", 60s)) << Job(first).dump() << "\n" << server_->Stderr();
  ASSERT_TRUE(WaitForState(second, "succeeded", 60s)) << Job(second).dump();
  const json j = Job(first);
  EXPECT_EQ(j["attempt"], 2) << j.dump();
  ASSERT_EQ(j["errors"].size(), 1u) << j.dump();
  EXPECT_EQ(j["errors"][0]["class"], "worker_lost") << j.dump();
}

TEST_F(FlowControlTest, ARateSpacesStartsAcrossWorkerProcesses) {
  // 5/s with a bucket of one: the n-th start waits (n - 1) / 5 s after the first.
  ASSERT_OK(store_->ResourceSetLimits("api:r", {.rate = Rate{5, "5/s"}, .burst = 1}, Now()));
  StartServer();
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(Enqueue({{"kind", "logged"}, {"queue", "r"}, {"resource_key", "api:r"}}));
  for (int i = 0; i < 2; ++i) {
    StartWorker(WriteConfig("w" + std::to_string(i) + ".toml", "concurrency = 4\nqueues = [\"r\"]", "logged",
                            {"/bin/sh", "-c", "exit 0"}));
  }
  ASSERT_TRUE(AllSucceeded(ids, 60s)) << server_->Stderr();
  const std::vector<json> jobs = ByStart(ids);
  for (std::size_t i = 1; i < jobs.size(); ++i) {
    // Each start spent the one token; the next had to wait 200 ms for it (1 ms of rounding).
    EXPECT_GE(TimeOf(jobs[i], "started_at") - TimeOf(jobs[i - 1], "started_at"), Duration(199))
        << jobs[i - 1].dump() << "\n"
        << jobs[i].dump();
  }
}

TEST_F(FlowControlTest, ABreakerOpensHoldsLetsOneProbeThroughReopensAndCloses) {
  ASSERT_OK(store_->ResourceSetLimits("svc:x", {.breaker = {.failures = 3, .cooldown = 2s}}, Now()));
  StartServer();
  // The first four runs fail (exit 75, transient); every later run succeeds. Each run lasts
  // 0.4 s, so a second probe let through would overlap the first.
  const std::string flaky = WriteScript("flaky.sh",
                                        "#!/bin/sh\n"
                                        "echo \"$JOBWARDEN_JOB_ID start $(date +%s%N)\" >> \"$MARKS/runs.log\"\n"
                                        "echo x >> \"$MARKS/attempts\"\n"
                                        "sleep 0.4\n"
                                        "echo \"$JOBWARDEN_JOB_ID end $(date +%s%N)\" >> \"$MARKS/runs.log\"\n"
                                        "[ \"$(wc -l < \"$MARKS/attempts\")\" -le 4 ] && exit 75\n"
                                        "exit 0\n");
  for (int i = 0; i < 2; ++i) {
    StartWorker(WriteConfig("w" + std::to_string(i) + ".toml", "concurrency = 4\nqueues = [\"svc\"]", "f", {flaky}));
  }
  const json one_attempt = {{"kind", "f"}, {"queue", "svc"}, {"resource_key", "svc:x"}, {"max_attempts", 1}};
  std::vector<std::string> first;
  for (int i = 0; i < 3; ++i) first.push_back(Enqueue(one_attempt));
  for (const std::string& id : first) ASSERT_TRUE(WaitForState(id, "failed", 30s)) << Job(id).dump();
  json resource;
  ASSERT_TRUE(WaitUntil(
      [&] {
        resource = Get("/v1/resources/svc:x").body;
        return resource["breaker"]["state"] == "open";
      },
      10s))
      << resource.dump();
  Timestamp opened{};
  for (const std::string& id : first) opened = std::max(opened, TimeOf(Job(id), "finished_at"));

  std::vector<std::string> later;
  for (int i = 0; i < 4; ++i) later.push_back(Enqueue(one_attempt));
  for (const std::string& id : later) {
    ASSERT_TRUE(WaitUntil([&] { return State(id) == "succeeded" || State(id) == "failed"; }, 60s)) << Job(id).dump();
  }
  ASSERT_TRUE(WaitUntil([&] { return Get("/v1/resources/svc:x").body["breaker"]["state"] == "closed"; }, 10s));

  const std::vector<json> runs = ByStart(later);
  // Held for the cooldown: the first probe starts no sooner than 2 s after the breaker opened.
  EXPECT_GE(TimeOf(runs[0], "started_at") - opened, Duration(1999)) << runs[0].dump();
  // The probe failed (the fourth failing run): open again, for another cooldown, then one
  // more probe, alone.
  EXPECT_EQ(runs[0]["state"], "failed") << runs[0].dump();
  EXPECT_GE(TimeOf(runs[1], "started_at") - TimeOf(runs[0], "finished_at"), Duration(1999)) << runs[1].dump();
  // It succeeded and closed the breaker: only then did the rest start.
  EXPECT_EQ(runs[1]["state"], "succeeded") << runs[1].dump();
  for (std::size_t i = 2; i < runs.size(); ++i) {
    EXPECT_GE(TimeOf(runs[i], "started_at"), TimeOf(runs[1], "finished_at")) << runs[i].dump();
    EXPECT_EQ(runs[i]["state"], "succeeded") << runs[i].dump();
  }
  // Exactly one probe at a time: the handler runs of the later jobs never overlapped until it closed.
  std::vector<HandlerRun> probes;
  for (const HandlerRun& r : Runs()) {
    if (r.job == runs[0]["id"] || r.job == runs[1]["id"]) probes.push_back(r);
  }
  ASSERT_EQ(probes.size(), 2u);
  EXPECT_LE(probes[0].end_ns, probes[1].start_ns);
}

TEST_F(FlowControlTest, RetryAfterHoldsEveryJobOfTheResourceNotOthers) {
  // The first run answers 429 with Retry-After 4 s; every later run succeeds. The key has
  // no settings: the hold applies all the same.
  const std::string limited = WriteScript("limited.sh",
                                          "#!/bin/sh\n"
                                          "if mkdir \"$MARKS/limited\" 2>/dev/null; then\n"
                                          "  echo '{\"error\": {\"class\": \"rate_limited\", \"message\": \"429\", "
                                          "\"retry_after_s\": 4}}' >&3\n"
                                          "  exit 1\n"
                                          "fi\n"
                                          "exit 0\n");
  StartServer();
  StartWorker(WriteConfig("w.toml", "concurrency = 4\nqueues = [\"up\"]", "l", {limited}));
  const std::string first = Enqueue({{"kind", "l"}, {"queue", "up"}, {"resource_key", "host:busy"}});
  ASSERT_TRUE(WaitForState(first, "scheduled", 30s)) << Job(first).dump();
  json resource = Get("/v1/resources/host:busy").body;
  ASSERT_TRUE(resource["held_until"].is_string()) << resource.dump();
  const Timestamp held_until = TimeOf(resource, "held_until");

  std::vector<std::string> same;
  for (int i = 0; i < 3; ++i) same.push_back(Enqueue({{"kind", "l"}, {"queue", "up"}, {"resource_key", "host:busy"}}));
  const std::string other = Enqueue({{"kind", "l"}, {"queue", "up"}, {"resource_key", "host:idle"}});
  same.push_back(first);
  ASSERT_TRUE(AllSucceeded(same, 60s)) << server_->Stderr();
  ASSERT_TRUE(AllSucceeded({other}, 30s));
  for (const std::string& id : same) {
    const json j = Job(id);
    EXPECT_GE(TimeOf(j, "started_at"), held_until) << "started while its resource was held: " << j.dump();
  }
  const json j = Job(first);
  ASSERT_EQ(j["errors"].size(), 1u) << j.dump();
  EXPECT_EQ(j["errors"][0]["class"], "rate_limited") << j.dump();
  EXPECT_EQ(j["attempt"], 1) << "a rate_limited attempt is not spent: " << j.dump();
  // Another host was not held: it ran while host:busy waited.
  EXPECT_LT(TimeOf(Job(other), "started_at"), held_until) << Job(other).dump();
}

}  // namespace
}  // namespace jobwarden::testing
