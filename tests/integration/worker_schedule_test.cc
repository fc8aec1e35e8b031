// Issue 14, schedules through real processes: two embedded `jobwarden
// worker` processes on one SQLite file, both with the same `@every 1s`
// schedule, fire each second exactly once between them, and go on so when
// one is killed with SIGKILL; `jobwarden schedules` shows it. Timing: every wait is a generous polled bound; what
// is asserted is how often each fire happened, never how fast.
#include <fstream>
#include <map>
#include <set>

#include "integration/worker_test_support.h"

namespace jobwarden::testing {
namespace {

class ScheduleProcessTest : public WorkerProcessTest {
 protected:
  // Every job a schedule fired, by unique_key: how many jobs each key has.
  std::map<std::string, int> FiresByKey() {
    std::map<std::string, int> keys;
    JobListParams p;
    p.limit = 1000;
    while (true) {
      auto page = store_->JobList(p);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) return keys;
      for (const Job& j : *page) {
        if (j.unique_key && j.unique_key->starts_with("schedule:tick:")) ++keys[*j.unique_key];
      }
      if (page->size() < static_cast<std::size_t>(p.limit)) return keys;
      p.after_id = page->back().id;
    }
  }
};

TEST_F(ScheduleProcessTest, TwoProcessesFireEachSecondOnceAndAKilledOneChangesNothing) {
  std::string config = WriteConfig("concurrency = 2\nreaper_tick = \"100ms\"", "tick", {"/bin/true"});
  std::ofstream(config, std::ios::app) << "\n[schedules.tick]\ncron = \"@every 1s\"\nkind = \"tick\"\n"
                                       << "args = { from = \"test\" }\n";
  ChildProcess& first = StartWorker(config);
  StartWorker(config);
  // Five fires with both, then kill -9 of one (mid-pass, wherever it was), then five more
  // (polled: the count, not the time, is what matters).
  ASSERT_TRUE(WaitUntil([&] { return FiresByKey().size() >= 5; }, 60s));
  first.Signal(SIGKILL);
  first.WaitFor(5s);
  const std::size_t before_kill = FiresByKey().size();
  ASSERT_TRUE(WaitUntil([&] { return FiresByKey().size() >= before_kill + 5; }, 60s));
  for (auto& w : workers_) {
    if (w->running()) w->Signal(SIGTERM);
  }
  for (auto& w : workers_) w->WaitFor(20s);

  const std::map<std::string, int> fires = FiresByKey();
  std::vector<Timestamp> times;
  for (const auto& [key, count] : fires) {
    EXPECT_EQ(count, 1) << key << " fired " << count << " times";
    auto t = ParseRfc3339(key.substr(std::string("schedule:tick:").size()));
    ASSERT_TRUE(t.ok()) << key;
    times.push_back(*t);
  }
  // One fire per second, none skipped while both ran (catch_up = one fires the latest after a gap,
  // so a gap here would mean a process missed its tick for a whole second, not a double).
  ASSERT_GE(times.size(), 10u);
  for (std::size_t i = 1; i < times.size(); ++i) {
    EXPECT_EQ(times[i] - times[i - 1], Duration(1000)) << "between fires " << i - 1 << " and " << i;
  }
  // Each fire's job ran with the schedule's args.
  auto jobs = store_->JobList({});
  ASSERT_TRUE(jobs.ok());
  ASSERT_FALSE(jobs->empty());
  EXPECT_EQ(Json(jobs->front().args)["from"], "test");
  EXPECT_EQ(jobs->front().kind, "tick");

  // The CLI shows the schedule and its next fire.
  CommandResult cli = RunCli({"--db", db_, "schedules", "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const nlohmann::json listed = nlohmann::json::parse(cli.out);
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_EQ(listed[0]["name"], "tick");
  EXPECT_EQ(listed[0]["cron"], "@every 1s");
  EXPECT_TRUE(listed[0]["next_fire_at"].is_string());
  EXPECT_TRUE(listed[0]["last_job_id"].is_string());
}

TEST_F(ScheduleProcessTest, ABadScheduleStopsTheWorkerWithExitTwoNamingTheKey) {
  std::string config = WriteConfig("concurrency = 1", "tick", {"/bin/true"});
  std::ofstream(config, std::ios::app) << "\n[schedules.tick]\ncron = \"61 * * * *\"\nkind = \"tick\"\n";
  ChildProcess& w = StartWorker(config);
  const int status = w.WaitFor(20s);
  EXPECT_TRUE(ExitedWith(status, 2)) << w.Stderr();
  EXPECT_NE(w.Stderr().find("schedules.tick.cron: field 1 (minute) '61': 61 is out of range 0-59"), std::string::npos)
      << w.Stderr();
}

}  // namespace
}  // namespace jobwarden::testing
