// The SQLite driver's WAL checkpointer.
//
// Checkpoints the WAL from its own connection and thread, so that no commit
// waits for one. SQLite's default auto-checkpoint runs inside the commit that
// pushes the WAL past 1,000 pages: it copies the pages back into the database
// file and syncs both files, while every caller of that group commit (and
// every caller queued behind it) waits (perf: 5-12% of the writer's CPU and an
// fsync of a few ms on the commit path every ~100 commits; docs/benchmarks.md).
// Here the writer's commit only signals; checkpoints are PASSIVE (they never
// block the writer or readers). Should this thread fall far behind, the
// writer checkpoints inline as SQLite would have, so the WAL stays bounded.
#pragma once

#include <memory>
#include <stop_token>

#include "core/owned_thread.h"
#include "core/thread_annotations.h"
#include "store/sqlite/sqlite_db.h"

namespace jobwarden::sqlite {

class Checkpointer {
 public:
  static constexpr int kPages = 1000;         // SQLite's default auto-checkpoint size
  static constexpr int kInlinePages = 10000;  // the writer does it itself past this (~40 MB of WAL)

  // Starts the checkpoint thread on `conn`; the destructor stops and joins it.
  explicit Checkpointer(std::unique_ptr<Connection> conn);

  // Installs the commit hook on the writer's connection (replacing its auto-checkpoint).
  void Attach(Connection& writer);

 private:
  // Runs on the committing thread, after the commit, with the WAL's size in pages.
  static int OnCommit(void* self, sqlite3* db, const char* schema, int wal_pages);
  void Loop(const std::stop_token& stop);

  std::unique_ptr<Connection> conn_;  // used by the thread only
  Mutex mu_;
  CondVar cv_;                            // a checkpoint is wanted (or, by the OwnedThread's wake, the store closes)
  bool wanted_ GUARDED_BY(mu_) = false;   // a commit found kPages frames to copy
  bool running_ GUARDED_BY(mu_) = false;  // a checkpoint is under way
  int copied_ GUARDED_BY(mu_) = 0;        // WAL frames the last checkpoint left copied
  OwnedThread thread_;                    // declared last: stopped and joined before the members it uses go
};

}  // namespace jobwarden::sqlite
