// The SQLite driver (embedded default).
//
// - WAL mode; durability `process` = synchronous=NORMAL (survives any process
//   crash), `power` = synchronous=FULL (survives power loss).
// - Group commit: the writes of concurrent callers run in one transaction,
//   led by the caller at the head of the queue on its own thread; a caller
//   returns only once its change is committed, and many callers share one
//   commit (and one fsync in `power`).
// - Reads use a small pool of read connections (WAL readers never block the writer).
// - Several processes may open the same file: write transactions start with
//   BEGIN IMMEDIATE under a busy timeout and are retried, so a busy database
//   is a wait, never an error a user sees (kUnavailable only after ~60 s).
// - Every statement is prepared once per connection; SQL lives in sql/*.sql.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace jobwarden {

struct SqliteStoreOptions {
  std::string path;                                 // the database file; its directory must exist
  Durability durability = Durability::kProcess;     // Default: process
  Duration busy_timeout = std::chrono::seconds(5);  // per attempt; BEGIN is retried up to lock_wait
  Duration lock_wait = std::chrono::seconds(60);    // give up (kUnavailable) after this long busy
  int read_connections = 4;
};

// Opens (creating if needed) and migrates the database.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options);

// The plan SQLite chooses for the statement of sql/queries.sql called `name`
// on the database at `path` (EXPLAIN QUERY PLAN: one line per step, e.g.
// "SEARCH jobs USING INDEX jobs_finished (finished_at<?)"). Tests pin with it
// the plans of the queries that run on every reaper tick, which must never
// visit every waiting or finished job.
Result<std::vector<std::string>> ExplainSqliteStatement(const std::string& path, const std::string& name);

}  // namespace jobwarden
