// G4 "Nothing accepted is lost": a process killed with SIGKILL right after
// Enqueue returned still has every job it was told about, once the database
// is opened again. In both durability modes.
//
// The child is this very test binary, re-executed with kChildFlag (see main()
// below): it opens the database, enqueues in a loop from several threads and
// writes each id to stdout only after Enqueue returned. The parent reads the
// ids, kills the child with SIGKILL (or the child kills itself right after
// the Nth enqueue, the tightest moment), reopens the file and looks for each.
#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "engine/engine.h"
#include "store/sqlite/sqlite_store.h"
#include "testutil/process.h"
#include "testutil/temp_dir.h"

namespace jobwarden {
namespace {

constexpr std::string_view kChildFlag = "--durability-child";

// Child mode: argv = [exe, kChildFlag, db, durability, threads, self_kill_after].
// Never returns normally: it is killed, or exits 1 on an error.
int RunEnqueueChild(int argc, char** argv) {
  // Logs must not mix with the ids on stdout.
  spdlog::set_default_logger(spdlog::stderr_color_mt("child"));
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s %s DB process|power THREADS SELF_KILL_AFTER\n", argv[0], kChildFlag.data());
    return 1;
  }
  const std::optional<Durability> durability = ParseDurability(argv[3]);
  const int threads = std::atoi(argv[4]);
  const int self_kill_after = std::atoi(argv[5]);
  if (!durability || threads < 1) return 1;
  auto store = OpenSqliteStore({.path = argv[2], .durability = *durability});
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  SystemClock clock;
  Engine engine(**store, clock);
  std::mutex mu;
  int printed = 0;
  auto loop = [&](int thread) {
    for (int i = 0;; ++i) {
      EnqueueRequest request;
      request.kind = "durable";
      request.args = "{\"thread\": " + std::to_string(thread) + ", \"i\": " + std::to_string(i) + "}";
      auto r = engine.Enqueue(request);
      if (!r.ok()) {
        std::fprintf(stderr, "enqueue: %s\n", r.status().ToString().c_str());
        _exit(1);
      }
      // Enqueue returned: the job is accepted. Only now is its id told (unbuffered write).
      const std::string line = FormatJobId(r->job.id) + "\n";
      std::lock_guard<std::mutex> lock(mu);
      if (write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(1);
      if (++printed == self_kill_after) raise(SIGKILL);  // no destructor, no checkpoint, no close
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(loop, t);
  for (auto& t : pool) t.join();
  return 1;
}

std::string SelfExe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<std::size_t>(n));
}

// Complete lines only: a line cut by the kill is not a promise.
std::vector<JobId> PrintedIds(const std::string& out) {
  std::vector<JobId> ids;
  std::size_t start = 0;
  for (std::size_t nl = out.find('\n'); nl != std::string::npos; start = nl + 1, nl = out.find('\n', start)) {
    auto id = ParseJobId(std::string_view(out).substr(start, nl - start));
    EXPECT_TRUE(id.ok()) << "unexpected line on the child's stdout: " << out.substr(start, nl - start);
    if (id.ok()) ids.push_back(*id);
  }
  return ids;
}

class DurabilityTest : public ::testing::TestWithParam<Durability> {
 protected:
  // Reopens the database after the child's death and checks every printed id.
  void ExpectAllPresent(const std::vector<JobId>& ids) {
    auto store = OpenSqliteStore({.path = db_, .durability = GetParam()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    std::set<JobId> unique(ids.begin(), ids.end());
    EXPECT_EQ(unique.size(), ids.size()) << "an id was printed twice";
    std::size_t missing = 0;
    for (JobId id : ids) {
      auto job = (*store)->JobGet(id);
      if (!job.ok()) {
        ++missing;
        ADD_FAILURE() << "job " << id << " was accepted but is gone: " << job.status().ToString();
        continue;
      }
      EXPECT_EQ(job->kind, "durable");
      EXPECT_EQ(job->state, JobState::kAvailable);
    }
    EXPECT_EQ(missing, 0u) << "of " << ids.size() << " accepted jobs";
  }

  std::vector<std::string> ChildArgv(int threads, int self_kill_after) {
    return {SelfExe(),
            std::string(kChildFlag),
            db_,
            std::string(ToString(GetParam())),
            std::to_string(threads),
            std::to_string(self_kill_after)};
  }

  testing::TempDir dir_;
  std::string db_ = dir_.File("jobs.db");
};

TEST_P(DurabilityTest, KilledWithSigkillWhileEnqueuingKeepsEveryAcceptedJob) {
  testing::ChildProcess child(ChildArgv(/*threads=*/4, /*self_kill_after=*/0), dir_.File("child"));
  const bool enough = testing::WaitUntil(
      [&] {
        const std::string out = child.Stdout();
        return std::count(out.begin(), out.end(), '\n') >= 500;
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(enough) << "the child printed too few ids; stderr: " << child.Stderr();
  child.Signal(SIGKILL);  // at whatever point it is: mid-transaction, mid-commit, mid-write
  const int status = child.WaitFor(std::chrono::seconds(10));
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status << "; " << child.Stderr();

  const std::vector<JobId> ids = PrintedIds(child.Stdout());
  ASSERT_GE(ids.size(), 500u);
  ExpectAllPresent(ids);
}

TEST_P(DurabilityTest, KilledRightAfterEnqueueReturnedKeepsTheJob) {
  for (const int n : {1, 37}) {
    SCOPED_TRACE("self-kill after " + std::to_string(n) + " enqueues");
    testing::ChildProcess child(ChildArgv(/*threads=*/1, /*self_kill_after=*/n),
                                dir_.File("child" + std::to_string(n)));
    const int status = child.WaitFor(std::chrono::seconds(60));
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status << "; " << child.Stderr();
    const std::vector<JobId> ids = PrintedIds(child.Stdout());
    ASSERT_EQ(ids.size(), static_cast<std::size_t>(n));
    ExpectAllPresent(ids);
  }
}

INSTANTIATE_TEST_SUITE_P(BothModes, DurabilityTest, ::testing::Values(Durability::kProcess, Durability::kPower),
                         [](const ::testing::TestParamInfo<Durability>& p) {
                           return p.param == Durability::kProcess ? std::string("Process") : std::string("Power");
                         });

}  // namespace
}  // namespace jobwarden

// A custom main so this binary can also be the child (see the top comment).
int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == jobwarden::kChildFlag) {
    return jobwarden::RunEnqueueChild(argc, argv);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
