// The SQLite store: opening a database (WAL, pragmas, migrations, the
// connections of the writer, the checkpointer and the readers) and the
// store's construction. Its operations are in sqlite_job_writes.cc,
// sqlite_job_reads.cc and sqlite_queues_workers.cc (see sqlite_store_impl.h).
#include "store/sqlite/sqlite_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <thread>

#include "store/sqlite/embedded_sql.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_rows.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace jobwarden {
namespace sqlite {

SqliteStore::SqliteStore(SqliteStoreOptions options, std::unique_ptr<Connection> writer,
                         std::unique_ptr<Connection> checkpoints)
    : options_(std::move(options)),
      queue_counts_([this] { return CountQueues(); }),
      checkpointer_(std::move(checkpoints)),
      writer_(std::move(writer), options_.lock_wait) {
  checkpointer_.Attach(writer_.connection());  // before any commit: none runs until the store is returned
}

std::string SqliteStore::Describe() const {
  return "sqlite:" + options_.path + " (durability=" + std::string(ToString(options_.durability)) + ")";
}

}  // namespace sqlite

namespace {

using sqlite::Connection;
using sqlite::Query;
using sqlite::SqliteStore;

struct Migration {
  int version;
  std::string_view sql;
};
constexpr Migration kMigrations[] = {{1, sqlite_sql::k_001_init},
                                     {2, sqlite_sql::k_002_scheduled_due},
                                     {3, sqlite_sql::k_003_flow_control},
                                     {4, sqlite_sql::k_004_schedules},
                                     {5, sqlite_sql::k_005_batches}};

// Runs `step` again while it fails with kUnavailable (the database is busy),
// up to `lock_wait`. Opening a file that another process is opening too can
// answer SQLITE_BUSY at once, without waiting in the busy handler (switching a
// new file to WAL does), so the busy timeout alone does not cover it.
Status RetryWhileBusy(Duration lock_wait, const std::function<Status()>& step) {
  const auto give_up = std::chrono::steady_clock::now() + lock_wait;
  Duration pause = std::chrono::milliseconds(1);
  while (true) {
    Status s = step();
    if (s.ok() || s.code() != StatusCode::kUnavailable || std::chrono::steady_clock::now() >= give_up) return s;
    std::this_thread::sleep_for(pause);
    pause = std::min<Duration>(pause * 2, std::chrono::milliseconds(50));
  }
}

// Whether `version` is recorded as applied (inside the migration's transaction).
Result<bool> MigrationApplied(Connection& conn, int version) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(conn.raw(), "SELECT 1 FROM schema_migrations WHERE version = ?1", -1, &raw, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);
    return sqlite::FromSqliteError(rc, conn.raw(), "read schema_migrations");
  }
  sqlite3_bind_int(raw, 1, version);
  rc = sqlite3_step(raw);
  sqlite3_finalize(raw);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqlite::FromSqliteError(rc, conn.raw(), "read schema_migrations");
}

Status Migrate(Connection& conn) {
  JW_RETURN_IF_ERROR(
      conn.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "applied_at INTEGER NOT NULL)",
                "create schema_migrations"));
  for (const Migration& m : kMigrations) {
    JW_RETURN_IF_ERROR(conn.Exec("BEGIN IMMEDIATE", "begin migration"));
    // A failed read must not pass for "not applied": that would apply it twice.
    Result<bool> applied_or = MigrationApplied(conn, m.version);
    Status s = applied_or.status();
    const bool applied = applied_or.ok() && *applied_or;
    if (s.ok() && !applied) {
      s = conn.Exec(m.sql, "apply migration " + std::to_string(m.version));
      if (s.ok()) {
        s = conn.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (" + std::to_string(m.version) +
                          ", CAST(strftime('%s','now') AS INTEGER) * 1000)",
                      "record migration");
      }
    }
    if (s.ok()) s = conn.Exec("COMMIT", "commit migration");
    if (!s.ok()) {
      if (sqlite3_get_autocommit(conn.raw()) == 0) {
        Status rb = conn.Exec("ROLLBACK", "rollback migration");
        if (!rb.ok()) spdlog::error("sqlite: {}", rb.ToString());
      }
      return s;
    }
    if (!applied) spdlog::info("sqlite: applied migration {}", m.version);
  }
  return Status::Ok();
}

Status ConfigureConnection(Connection& conn, Durability durability) {
  JW_RETURN_IF_ERROR(conn.Exec("PRAGMA foreign_keys = ON", "enable foreign keys"));
  return conn.Exec(durability == Durability::kPower ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                   "set synchronous");
}
}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options) {
  static std::once_flag configured;
  std::call_once(configured, [] {
    // SQLite's memory statistics take a global mutex around every malloc and
    // free (~4% of the writer's CPU in fetch + complete); nothing reads them.
    // Only possible before SQLite initialises: a process that opened a database
    // another way first keeps the default, which is only slower.
    const int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (rc != SQLITE_OK) spdlog::debug("sqlite: memory statistics stay on: {}", sqlite3_errstr(rc));
  });
  const std::string context = "open sqlite store '" + options.path + "'";
  auto writer_or = Connection::Open(options.path, false, options.busy_timeout);
  if (!writer_or.ok()) return writer_or.status().WithContext(context);
  std::unique_ptr<Connection> writer = std::move(writer_or).value();
  // WAL: readers never block the writer, and a commit in `process` mode costs no fsync.
  // Several processes may open the same file at once: busy is waited out, never surfaced.
  Status s = RetryWhileBusy(options.lock_wait, [&] { return writer->Exec("PRAGMA journal_mode = WAL", "enable WAL"); });
  if (s.ok()) s = ConfigureConnection(*writer, options.durability);
  // The writer runs each grouped caller's change in a SAVEPOINT. Their sub-journal
  // becomes a temp file past 64 KiB, and then every page a batch touches is also
  // written there (perf: ~20% of the writer's CPU in pwrite, docs/benchmarks.md).
  // In memory it is bounded by one transaction (<= ~10k rows).
  if (s.ok()) s = writer->Exec("PRAGMA temp_store = MEMORY", "keep the writer's temp files in memory");
  if (s.ok()) s = RetryWhileBusy(options.lock_wait, [&] { return Migrate(*writer); });
  if (s.ok()) s = RetryWhileBusy(options.lock_wait, [&] { return sqlite::PrepareAll(*writer); });
  if (!s.ok()) return s.WithContext(context);

  auto checkpoints = Connection::Open(options.path, false, options.busy_timeout);
  if (!checkpoints.ok()) return checkpoints.status().WithContext(context);
  s = ConfigureConnection(**checkpoints, options.durability);
  if (!s.ok()) return s.WithContext(context);
  auto store = std::make_unique<SqliteStore>(options, std::move(writer), std::move(checkpoints).value());
  for (int i = 0; i < std::max(1, options.read_connections); ++i) {
    auto r = Connection::Open(options.path, false, options.busy_timeout);
    if (!r.ok()) return r.status().WithContext(context);
    std::unique_ptr<Connection> conn = std::move(r).value();
    Status cs = ConfigureConnection(*conn, options.durability);
    if (cs.ok()) cs = conn->Exec("PRAGMA query_only = ON", "make reader read-only");
    if (cs.ok()) cs = RetryWhileBusy(options.lock_wait, [&] { return sqlite::PrepareAll(*conn); });
    if (!cs.ok()) return cs.WithContext(context);
    store->readers().Add(std::move(conn));
  }
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::vector<std::string>> ExplainSqliteStatement(const std::string& path, const std::string& name) {
  const std::string context = "explain statement '" + name + "' on '" + path + "'";
  const auto& statements = sqlite::Statements();
  auto it = std::find_if(statements.begin(), statements.end(), [&](const auto& st) { return st.first == name; });
  if (it == statements.end()) return Status::NotFound("no statement named '" + name + "' in queries.sql");
  auto conn = Connection::Open(path, /*read_only=*/true, std::chrono::seconds(5));
  if (!conn.ok()) return conn.status().WithContext(context);
  JW_RETURN_IF_ERROR((*conn)->Prepare("explain", "EXPLAIN QUERY PLAN " + it->second).WithContext(context));
  Query q(**conn, "explain");
  std::vector<std::string> plan;
  while (true) {
    Result<bool> row = q.Step();
    if (!row.ok()) return row.status().WithContext(context);
    if (!*row) break;
    plan.push_back(q.Text(3));  // id, parent, notused, detail
  }
  return plan;
}

}  // namespace jobwarden
