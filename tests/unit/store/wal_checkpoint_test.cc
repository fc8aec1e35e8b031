// The SQLite store's WAL under steady writes: checkpoints run in the
// background (every 1,000 new frames, not at every commit) and, since the WAL
// starts over only when a checkpoint copied every frame before the next
// commit, the writer checkpoints itself past 10,000 frames. So the WAL file
// stays bounded however long the writes go on, and nothing is lost.
#include <gtest/gtest.h>

#include <filesystem>
#include <system_error>

#include "store/sqlite/sqlite_store.h"
#include "testutil/temp_dir.h"

namespace jobwarden::testing {
namespace {

TEST(WalCheckpointTest, WalStaysBoundedUnderSteadySingleCommitsAndEveryRowSurvives) {
  TempDir dir;
  const std::string path = dir.File("wal.db");
  constexpr int kJobs = 30'000;  // ~4 frames per commit: ~120,000 frames, ~470 MiB of WAL if never copied
  const Timestamp now(std::chrono::milliseconds(1'700'000'000'000));
  std::uintmax_t largest_wal = 0;
  {
    auto store = OpenSqliteStore({.path = path});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (int i = 0; i < kJobs; ++i) {
      NewJob j;
      j.kind = "k";
      j.queue = "default";
      j.state = JobState::kAvailable;
      j.run_at = now;
      j.timeout = std::chrono::minutes(30);
      auto r = (*store)->JobInsertMany({{std::move(j)}, now});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (i % 500 == 0) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(path + "-wal", ec);
        if (!ec && size > largest_wal) largest_wal = size;
      }
    }
  }
  // 10,000 frames of 4 KiB (~40 MiB) before the writer checkpoints itself, plus what commits
  // while a background checkpoint holds the checkpoint lock (the writer's own attempt is then
  // BUSY; seen: up to ~90 MiB on a loaded machine). A WAL that never started over: ~470 MiB.
  EXPECT_LT(largest_wal, std::uintmax_t{200} << 20) << "largest WAL seen: " << largest_wal << " bytes";
  EXPECT_GT(largest_wal, 0u);
  auto reopened = OpenSqliteStore({.path = path});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto last = (*reopened)->JobGet(kJobs);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(last->id, kJobs);
}

}  // namespace
}  // namespace jobwarden::testing
