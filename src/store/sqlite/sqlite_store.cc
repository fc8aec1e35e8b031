#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "store/sqlite/embedded_sql.h"
#include "store/sqlite/sqlite_db.h"

namespace jobwarden {
namespace {

using sqlite::Connection;
using sqlite::Query;

// ---------------------------------------------------------------------------
// Statements: parsed once from sql/queries.sql.

constexpr std::string_view kJobColumns =
    "id, kind, queue, priority, state, args, attempt, max_attempts, timeout_ms, stall_timeout_ms, deadline_at, "
    "run_at, created_at, started_at, finished_at, heartbeat_at, lease_expires_at, lease_token, lease_ttl_ms, "
    "grace_ms, worker_id, cancel_requested, cancel_reason, takeback_at, progress_done, progress_total, "
    "progress_message, progress_updated_at, stall_since, checkpoint, result, unique_key, resource_key, batch_id, tags";

struct Migration {
  int version;
  std::string_view sql;
};
// Listing by state alone merges the queues' runs up to this many queues (JobList).
constexpr int kMaxMergedQueues = 64;

constexpr Migration kMigrations[] = {{1, sqlite_sql::k_001_init}, {2, sqlite_sql::k_002_scheduled_due}};

const std::vector<std::pair<std::string, std::string>>& Statements() {
  static const auto* statements = [] {
    auto* out = new std::vector<std::pair<std::string, std::string>>();
    const std::string_view text = sqlite_sql::k_queries;
    constexpr std::string_view kMarker = "-- name: ";
    std::size_t pos = text.find(kMarker);
    while (pos != std::string_view::npos) {
      const std::size_t name_end = text.find('\n', pos);
      std::string name(text.substr(pos + kMarker.size(), name_end - pos - kMarker.size()));
      const std::size_t next = text.find(kMarker, name_end);
      std::string sql(text.substr(name_end + 1, next == std::string_view::npos ? std::string_view::npos : next - name_end - 1));
      const std::string placeholder = "{JOB_COLUMNS}";
      for (std::size_t at = sql.find(placeholder); at != std::string::npos; at = sql.find(placeholder)) {
        sql.replace(at, placeholder.size(), kJobColumns);
      }
      out->emplace_back(std::move(name), std::move(sql));
      pos = next;
    }
    return out;
  }();
  return *statements;
}

Status PrepareAll(Connection& conn) {
  for (const auto& [name, sql] : Statements()) JW_RETURN_IF_ERROR(conn.Prepare(name, sql));
  return Status::Ok();
}

// Decodes a JSON array of strings written by EncodeTags.
std::vector<std::string> DecodeTags(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  bool in_str = false, esc = false;
  for (char ch : text) {
    if (!in_str) {
      if (ch == '"') in_str = true;
      continue;
    }
    if (esc) {
      cur += ch;
      esc = false;
    } else if (ch == '\\') {
      esc = true;
    } else if (ch == '"') {
      out.push_back(std::move(cur));
      cur.clear();
      in_str = false;
    } else {
      cur += ch;
    }
  }
  return out;
}

// Reads a row selected with {JOB_COLUMNS} (columns from `first`).
Result<Job> ReadJob(const Query& q) {
  Job j;
  int c = 0;
  j.id = q.Int(c++);
  j.kind = q.Text(c++);
  j.queue = q.Text(c++);
  j.priority = static_cast<int>(q.Int(c++));
  const std::string state = q.Text(c++);
  auto parsed = ParseJobState(state);
  if (!parsed) return Status::Internal("job " + std::to_string(j.id) + " has unknown state '" + state + "'");
  j.state = *parsed;
  j.args = q.Text(c++);
  j.attempt = static_cast<int>(q.Int(c++));
  j.max_attempts = static_cast<int>(q.Int(c++));
  j.timeout = Duration(q.Int(c++));
  if (auto v = q.OptInt(c++)) j.stall_timeout = Duration(*v);
  j.deadline_at = q.OptTime(c++);
  j.run_at = q.Time(c++);
  j.created_at = q.Time(c++);
  j.started_at = q.OptTime(c++);
  j.finished_at = q.OptTime(c++);
  j.heartbeat_at = q.OptTime(c++);
  j.lease_expires_at = q.OptTime(c++);
  j.lease_token = q.Int(c++);
  j.lease_ttl = Duration(q.Int(c++));
  j.grace = Duration(q.Int(c++));
  j.worker_id = q.OptText(c++);
  j.cancel_requested = q.Int(c++) != 0;
  j.cancel_reason = ParseCancelReason(q.Text(c++)).value_or(CancelReason::kNone);
  j.takeback_at = q.OptTime(c++);
  j.progress.done = q.Int(c++);
  j.progress.total = q.OptInt(c++);
  j.progress.message = q.Text(c++);
  j.progress.updated_at = q.OptTime(c++);
  j.stall_since = q.OptTime(c++);
  j.checkpoint = q.OptText(c++);
  j.result = q.OptText(c++);
  j.unique_key = q.OptText(c++);
  j.resource_key = q.OptText(c++);
  j.batch_id = q.OptText(c++);
  j.tags = DecodeTags(q.Text(c++));
  return j;
}

// The changes of the JobLease statement (sql/queries.sql), applied to the row
// read before it: fetch answers with the leased job without reading it again.
void LeaseFields(Job& j, const JobFetchParams& p) {
  const Timestamp now = FromMillis(ToMillis(p.now));  // as stored: whole ms
  j.state = JobState::kRunning;
  j.attempt += 1;
  j.lease_token += 1;
  j.started_at = now;
  j.heartbeat_at = now;
  j.lease_expires_at = now + p.lease_ttl;
  j.lease_ttl = p.lease_ttl;
  j.grace = p.grace;
  j.worker_id = p.worker_id;
  j.stall_since = now;
  j.cancel_requested = false;
  j.cancel_reason = CancelReason::kNone;
  j.takeback_at = std::nullopt;
}

std::string EncodeTags(const std::vector<std::string>& tags) {
  std::string out = "[";
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char ch : tags[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += ']';
  return out;
}

Status LoadErrors(Connection& conn, Job& job) {
  Query q(conn, "JobErrors");
  q.Bind(1, job.id);
  while (true) {
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    ErrorEntry e;
    e.attempt = static_cast<int>(q.Int(0));
    e.error_class = ParseErrorClass(q.Text(1)).value_or(ErrorClass::kTransient);
    e.message = q.Text(2);
    e.at = q.Time(3);
    e.counted = q.Int(4) != 0;
    e.limit = q.OptText(5);
    e.output_tail = q.OptText(6);
    job.errors.push_back(std::move(e));
  }
  return Status::Ok();
}

// Binds an optional Progress as (flag, done, total, message) at `first`..first+3.
void BindProgress(Query& q, int first, const std::optional<Progress>& p) {
  q.Bind(first, p.has_value());
  if (p) {
    q.Bind(first + 1, p->done).Bind(first + 2, p->total).Bind(first + 3, p->message);
  } else {
    q.BindNull(first + 1).BindNull(first + 2).BindNull(first + 3);
  }
}

// Reads a row of the WorkerList/WorkerGet column list.
WorkerRecord ReadWorker(const Query& q) {
  WorkerRecord w;
  w.id = q.Text(0);
  w.host = q.Text(1);
  w.pid = q.Int(2);
  w.pid_start_time = q.OptInt(3);
  w.boot_id = q.OptText(4);
  w.pid_namespace = q.OptText(5);
  w.queues = DecodeTags(q.Text(6));
  w.slots = static_cast<int>(q.Int(7));
  w.busy = static_cast<int>(q.Int(8));
  w.started_at = q.Time(9);
  w.last_seen_at = q.Time(10);
  w.stopped_at = q.OptTime(11);
  return w;
}

// Why a guarded write matched no row.
Status GuardFailure(Connection& conn, JobId id, JobState expected_state, std::int64_t token) {
  Query q(conn, "JobGuardState");
  q.Bind(1, id);
  JW_ASSIGN_OR_RETURN(bool row, q.Step());
  const std::string ref = "job " + FormatJobId(id);
  if (!row) return Status::NotFound(ref + " does not exist");
  const std::string state = q.Text(0);
  if (expected_state == JobState::kRunning) {
    if (state == "running" && q.Int(1) == token) {
      // Only the lease_expired_by guard can fail with the same token.
      return Status::Conflict(ref + ": its lease was renewed meanwhile");
    }
    if (state == "running" && q.Int(1) != token) {
      return Status::LeaseLost(ref + ": lease token " + std::to_string(token) + " is stale (current " +
                               std::to_string(q.Int(1)) + ")");
    }
    return Status::LeaseLost(ref + " is " + state + ": the lease is no longer held");
  }
  return Status::Conflict(ref + " is " + state + " (expected " + std::string(ToString(expected_state)) + ")");
}

// ---------------------------------------------------------------------------
// Group commit: one write connection, used by one thread at a time.
//
// Callers queue their operation; the caller at the head of the queue, when no
// transaction is running, becomes the leader: it takes every queued operation
// (up to ~10k rows), runs them in one BEGIN IMMEDIATE ... COMMIT, and wakes
// their callers. Everyone else sleeps on its own condition variable until its
// operation committed (or it becomes the next leader). So a lone caller runs
// its write on its own thread with no hand-off, and concurrent callers share
// one commit, as with a dedicated writer thread but without its two thread
// switches per call (perf: those hops, and a notify_all that woke every
// waiting caller after each commit, cost more than the SQL; docs/benchmarks.md).
class Writer {
 public:
  // A non-owning reference to the caller's operation: it lives on the
  // caller's stack until Submit returns.
  class Op {
   public:
    template <typename F>
      requires(!std::is_same_v<std::remove_cvref_t<F>, Op>)
    explicit Op(F& f) : obj_(&f), call_([](void* o, Connection& c) -> Status { return (*static_cast<F*>(o))(c); }) {}
    Status operator()(Connection& c) const { return call_(obj_, c); }

   private:
    void* obj_;
    Status (*call_)(void*, Connection&);
  };

  Writer(std::unique_ptr<Connection> conn, Duration lock_wait) : conn_(std::move(conn)), lock_wait_(lock_wait) {}
  // For setup before the first Submit only (the connection belongs to the leader afterwards).
  Connection& connection() { return *conn_; }
  ~Writer() {
    std::unique_lock<std::mutex> lock(mu_);
    stop_ = true;
    idle_cv_.wait(lock, [&] { return !leading_ && queue_.empty(); });
  }

  // Runs `op` inside a write transaction shared with other callers' ops and
  // returns once that transaction committed (or failed). `weight` is the
  // op's row count, so one transaction stays under ~10k rows.
  template <typename F>
  Status Submit(F&& fn, int weight = 1) {
    Pending p(Op(fn), weight);
    std::unique_lock<std::mutex> lock(mu_);
    if (stop_) return Status::Unavailable("the store is closing");
    queue_.push_back(&p);
    p.cv.wait(lock, [&] { return p.done || (!leading_ && queue_.front() == &p); });
    if (p.done) return p.result;
    Lead(lock);
    return p.result;
  }

 private:
  struct Pending {
    Pending(Op o, int w) : op(o), weight(w) {}
    Op op;
    int weight;
    Status result = Status::Ok();
    bool done = false;           // GUARDED_BY(mu_)
    std::condition_variable cv;  // its caller waits here; notified under mu_ (the waiter outlives it)
  };

  static constexpr int kMaxRowsPerTransaction = 10'000;
  static constexpr int kMaxBatchesPerLead = 4;

  // REQUIRES: mu_ held by `lock`, the caller is at the head of the queue and no one leads.
  // A leader that finds more callers queued when its transaction committed
  // runs their batch too (a few times, a bounded delay for its own caller):
  // it is on a CPU already, while waking the next leader costs a thread switch
  // on the one serial path, which on a loaded machine waits for a time slice.
  // noexcept: an exception here would leave leading_ set and every caller waiting
  // forever; terminating is what the old writer thread did too.
  void Lead(std::unique_lock<std::mutex>& lock) noexcept {
    leading_ = true;
    int led_rows = 0;
    for (int round = 0; round < kMaxBatchesPerLead && !queue_.empty() && led_rows < kMaxRowsPerTransaction;
         ++round) {
      int rows = 0;
      while (!queue_.empty() && (batch_.empty() || rows + queue_.front()->weight <= kMaxRowsPerTransaction)) {
        rows += queue_.front()->weight;
        batch_.push_back(queue_.front());
        queue_.pop_front();
      }
      led_rows += rows;
      lock.unlock();
      RunBatch(batch_);
      lock.lock();
      for (Pending* q : batch_) {
        q->done = true;
        q->cv.notify_one();
      }
      batch_.clear();
    }
    leading_ = false;
    if (!queue_.empty()) {
      queue_.front()->cv.notify_one();  // the next leader
    } else if (stop_) {
      idle_cv_.notify_all();
    }
  }

  // BEGIN IMMEDIATE, waiting out other processes' write locks.
  Status Begin() {
    const auto give_up = std::chrono::steady_clock::now() + lock_wait_;
    while (true) {
      Status s = conn_->ExecCached("BEGIN IMMEDIATE", "begin write transaction");
      if (s.ok() || s.code() != StatusCode::kUnavailable) return s;
      if (std::chrono::steady_clock::now() >= give_up) {
        return s.WithContext("database stayed locked by another process for " + FormatDurationShort(lock_wait_));
      }
      spdlog::debug("sqlite: database busy, retrying BEGIN");
    }
  }

  Status Commit() {
    const auto give_up = std::chrono::steady_clock::now() + lock_wait_;
    while (true) {
      Status s = conn_->ExecCached("COMMIT", "commit");
      if (s.ok() || s.code() != StatusCode::kUnavailable || std::chrono::steady_clock::now() >= give_up) return s;
    }
  }

  void RunBatch(std::vector<Pending*>& batch) {
    Status begin = Begin();
    if (!begin.ok()) {
      for (Pending* p : batch) p->result = begin;
      return;
    }
    const bool isolate = batch.size() > 1;  // one op's failure must not undo the others
    for (Pending* p : batch) {
      if (isolate) {
        Status sp = conn_->ExecCached("SAVEPOINT op", "savepoint");
        if (!sp.ok()) {
          p->result = sp;
          continue;
        }
      }
      p->result = p->op(*conn_);
      if (isolate) {
        if (!p->result.ok() && !conn_->InTransaction()) {
          // SQLite rolled the whole transaction back (a full disk, an I/O
          // error): the ops before this one are undone too, and the rest
          // would run outside any transaction. None of them succeeded.
          const Status undone = Status::Unavailable(
              "the write transaction was rolled back by SQLite after an error in another operation of it: " +
              p->result.message());
          for (Pending* q : batch) {
            if (q->result.ok()) q->result = undone;
          }
          return;
        }
        if (!p->result.ok()) {
          Status rb = conn_->ExecCached("ROLLBACK TO op", "rollback to savepoint");
          if (!rb.ok()) spdlog::error("sqlite: {}", rb.ToString());
        }
        Status rel = conn_->ExecCached("RELEASE op", "release savepoint");
        if (!rel.ok() && p->result.ok()) p->result = rel;
      } else if (!p->result.ok()) {
        Status rb = conn_->ExecCached("ROLLBACK", "rollback");
        if (!rb.ok()) spdlog::error("sqlite: {}", rb.ToString());
        return;
      }
    }
    Status commit = Commit();
    if (!commit.ok()) {
      // The transaction did not commit: no op's change is durable.
      Status rb = conn_->ExecCached("ROLLBACK", "rollback after failed commit");
      if (!rb.ok()) spdlog::debug("sqlite: {}", rb.ToString());
      for (Pending* p : batch) {
        if (p->result.ok()) p->result = commit;
      }
    }
  }

  std::unique_ptr<Connection> conn_;  // used only by the leader, outside mu_
  const Duration lock_wait_;
  std::mutex mu_;
  std::condition_variable idle_cv_;  // the destructor waits here for the last leader
  std::deque<Pending*> queue_;       // GUARDED_BY(mu_): waiting, in arrival order
  bool leading_ = false;             // GUARDED_BY(mu_): a caller is running a batch
  bool stop_ = false;                // GUARDED_BY(mu_)
  std::vector<Pending*> batch_;      // used by the leader only (reused: no allocation per batch)
};

// Checkpoints the WAL from its own connection and thread, so that no commit
// waits for one. SQLite's default auto-checkpoint runs inside the commit that
// pushes the WAL past 1,000 pages: it copies the pages back into the database
// file and syncs both files, while every caller of that group commit (and
// every caller queued behind it) waits (perf: 5-12% of the writer's CPU and an
// fsync of a few ms on the commit path every ~100 commits; docs/benchmarks.md).
// Here the writer's commit only signals; checkpoints are PASSIVE (they never
// block the writer or readers). Should this thread fall far behind, the
// writer checkpoints inline as SQLite would have, so the WAL stays bounded.
class Checkpointer {
 public:
  static constexpr int kPages = 1000;         // SQLite's default auto-checkpoint size
  static constexpr int kInlinePages = 10000;  // the writer does it itself past this (~40 MB of WAL)

  explicit Checkpointer(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Checkpointer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  // Installs the commit hook on the writer's connection (replacing its auto-checkpoint).
  void Attach(Connection& writer) { sqlite3_wal_hook(writer.raw(), &Checkpointer::OnCommit, this); }

 private:
  // Runs on the committing thread, after the commit, with the WAL's size in pages.
  static int OnCommit(void* self, sqlite3* db, const char* schema, int wal_pages) {
    auto* c = static_cast<Checkpointer*>(self);
    if (wal_pages >= kInlinePages) {
      int log = 0, done = 0;
      const int rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
      // BUSY: the checkpointer is running one right now, which is what we want.
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        spdlog::warn("sqlite: inline checkpoint of a {}-page WAL: {}", wal_pages, sqlite3_errstr(rc));
      }
      return SQLITE_OK;  // the commit itself succeeded either way
    }
    if (wal_pages < kPages) return SQLITE_OK;
    {
      std::lock_guard<std::mutex> lock(c->mu_);
      if (c->wanted_ || c->running_) return SQLITE_OK;
      // Ask again only once kPages more frames await copying. The WAL starts
      // over only when a checkpoint copied every frame before the next commit,
      // which under steady writes never happens: asking at every commit past
      // kPages ran checkpoints back to back, each with two fsyncs (a pool of
      // no-op jobs: 4,600 fdatasyncs per 50,000 jobs). A WAL that shrank
      // started over, and none of its frames is copied yet.
      const int copied = wal_pages >= c->copied_ ? c->copied_ : 0;
      if (wal_pages - copied < kPages) return SQLITE_OK;
      c->wanted_ = true;
    }
    c->cv_.notify_one();
    return SQLITE_OK;
  }

  void Loop() {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || wanted_; });
        if (stop_) return;
        wanted_ = false;
        running_ = true;
      }
      int log = 0, done = 0;
      const int rc = sqlite3_wal_checkpoint_v2(conn_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
      {
        std::lock_guard<std::mutex> lock(mu_);
        running_ = false;
        copied_ = rc == SQLITE_OK ? done : 0;  // frames of the WAL now in the database file
      }
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        // Not fatal: the next commit past the threshold asks again, and past
        // kInlinePages the writer checkpoints itself.
        spdlog::warn("sqlite: background checkpoint: {}",
                     sqlite::FromSqliteError(rc, conn_->raw(), "checkpoint").ToString());
      }
    }
  }

  std::unique_ptr<Connection> conn_;  // used by the thread only
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;   // GUARDED_BY(mu_): a commit found kPages frames to copy
  bool running_ = false;  // GUARDED_BY(mu_): a checkpoint is under way
  int copied_ = 0;        // GUARDED_BY(mu_): WAL frames the last checkpoint left copied
  bool stop_ = false;    // GUARDED_BY(mu_)
  std::thread thread_;   // owned; joined in the destructor
};

// A small pool of read connections.
class ReaderPool {
 public:
  void Add(std::unique_ptr<Connection> c) { free_.push_back(std::move(c)); }

  class Lease {
   public:
    Lease(ReaderPool& pool, std::unique_ptr<Connection> c) : pool_(pool), conn_(std::move(c)) {}
    ~Lease() { pool_.Return(std::move(conn_)); }
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    ReaderPool& pool_;
    std::unique_ptr<Connection> conn_;
  };

  Lease Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !free_.empty(); });
    auto c = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(c));
  }

 private:
  void Return(std::unique_ptr<Connection> c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(std::move(c));
    }
    cv_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> free_;  // GUARDED_BY(mu_)
};

// Runs a read in one snapshot (BEGIN ... COMMIT on a reader connection).
template <typename Fn>
Status InReadTx(Connection& conn, Fn&& fn) {
  JW_RETURN_IF_ERROR(conn.Exec("BEGIN", "begin read"));
  Status s = fn(conn);
  Status end = conn.Exec("COMMIT", "end read");
  return s.ok() ? end : s;
}

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
  JW_RETURN_IF_ERROR(conn.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
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

std::string StatesJson(const std::vector<JobState>& states) {
  std::string out = "[";
  for (std::size_t i = 0; i < states.size(); ++i) {
    if (i) out += ',';
    out += '"';
    out += ToString(states[i]);
    out += '"';
  }
  return out + "]";
}

// ---------------------------------------------------------------------------

class SqliteStore final : public Store {
 public:
  SqliteStore(SqliteStoreOptions options, std::unique_ptr<Connection> writer,
              std::unique_ptr<Connection> checkpoints)
      : options_(std::move(options)),
        checkpointer_(std::move(checkpoints)),
        writer_(std::move(writer), options_.lock_wait) {
    checkpointer_.Attach(writer_.connection());  // before any commit: none runs until the store is returned
  }

  ReaderPool& readers() { return readers_; }

  Result<std::vector<InsertedJob>> JobInsertMany(const JobInsertParams& p) override {
    if (p.jobs.size() > static_cast<std::size_t>(kMaxBulkJobs)) {
      return Status::InvalidArgument("at most " + std::to_string(kMaxBulkJobs) + " jobs per call");
    }
    std::vector<InsertedJob> out;
    Status s = writer_.Submit(
        [&](Connection& conn) -> Status {
          out.clear();
          out.reserve(p.jobs.size());
          for (const NewJob& j : p.jobs) {
            if (j.unique_key) {
              Query find(conn, "JobFindUnique");
              find.Bind(1, *j.unique_key);
              JW_ASSIGN_OR_RETURN(bool row, find.Step());
              if (row) {
                out.push_back({find.Int(0), true});
                continue;
              }
            }
            Query q(conn, "JobInsert");
            q.Bind(1, j.kind).Bind(2, j.queue).Bind(3, j.priority).Bind(4, ToString(j.state)).Bind(5, j.args);
            q.Bind(6, j.max_attempts).Bind(7, j.timeout).Bind(8, j.stall_timeout).Bind(9, j.deadline_at);
            q.Bind(10, j.run_at).Bind(11, p.now).Bind(12, j.unique_key).Bind(13, j.resource_key);
            q.Bind(14, j.batch_id).Bind(15, EncodeTags(j.tags));
            JW_RETURN_IF_ERROR(q.Run());
            out.push_back({conn.LastInsertRowid(), false});
          }
          return Status::Ok();
        },
        static_cast<int>(p.jobs.size()));
    if (!s.ok()) return s.WithContext("insert jobs");
    return out;
  }

  Result<std::vector<Job>> JobFetch(const JobFetchParams& p) override {
    std::vector<Job> out;
    Status s = writer_.Submit([&](Connection& conn) { return FetchIn(conn, p, out); }, p.max);
    if (!s.ok()) return s.WithContext("fetch jobs");
    return out;
  }

  Result<std::vector<HeartbeatResult>> LeaseExtendMany(const LeaseExtendParams& p) override {
    std::vector<HeartbeatResult> out;
    Status s = writer_.Submit(
        [&](Connection& conn) -> Status {
          out.clear();
          for (const HeartbeatItem& item : p.items) {
            HeartbeatResult r;
            r.id = item.id;
            Progress old_progress;
            std::optional<std::string> old_checkpoint;
            bool cancel = false;
            CancelReason reason = CancelReason::kNone;
            {
              Query q(conn, "JobLeaseState");
              q.Bind(1, item.id);
              JW_ASSIGN_OR_RETURN(bool row, q.Step());
              if (!row || q.Text(0) != "running" || q.Int(1) != item.token) {
                out.push_back(r);  // lost
                continue;
              }
              cancel = q.Int(2) != 0;
              reason = ParseCancelReason(q.Text(3)).value_or(CancelReason::kNone);
              old_progress.done = q.Int(4);
              old_progress.message = q.Text(5);
              old_checkpoint = q.OptText(6);
            }
            const bool reset = ResetsStallClock(old_progress, old_checkpoint, item.progress, item.checkpoint);
            Query u(conn, "LeaseExtend");
            u.Bind(1, item.id).Bind(2, item.token).Bind(3, p.now);
            BindProgress(u, 4, item.progress);
            u.Bind(8, item.checkpoint).Bind(9, reset);
            JW_ASSIGN_OR_RETURN(bool row, u.Step());
            if (!row) {
              out.push_back(r);
              continue;
            }
            r.lease_expires_at = u.Time(0);
            JW_RETURN_IF_ERROR(u.Run());
            r.answer = cancel ? HeartbeatAnswer::kCancel : HeartbeatAnswer::kContinue;
            r.cancel_reason = reason;
            out.push_back(r);
          }
          return Status::Ok();
        },
        static_cast<int>(p.items.size()));
    if (!s.ok()) return s.WithContext("heartbeat");
    return out;
  }

  Result<std::vector<Status>> JobCompleteMany(const JobCompleteParams& p) override {
    std::vector<Status> out;
    Status s = writer_.Submit([&](Connection& conn) { return CompleteIn(conn, p, out); },
                              static_cast<int>(p.items.size()));
    if (!s.ok()) return s.WithContext("complete jobs");
    return out;
  }

  // One transaction for both: the pages a complete and a fetch touch (the
  // jobs' rows, the state indexes) are written to the WAL once, not twice.
  Result<CompleteAndFetchResult> JobCompleteManyAndFetch(const JobCompleteParams& complete,
                                                         const JobFetchParams& fetch) override {
    CompleteAndFetchResult out;
    Status s = writer_.Submit(
        [&](Connection& conn) {
          JW_RETURN_IF_ERROR(CompleteIn(conn, complete, out.completed));
          return FetchIn(conn, fetch, out.fetched);
        },
        static_cast<int>(complete.items.size()) + fetch.max);
    if (!s.ok()) return s.WithContext("complete and fetch jobs");
    return out;
  }

  Result<std::vector<Status>> JobApplyMany(const JobApplyParams& p) override {
    std::vector<Status> out;
    Status s = writer_.Submit(
        [&](Connection& conn) -> Status {
          out.clear();
          for (const JobChange& c : p.changes) {
            Query q(conn, "JobApply");
            q.Bind(1, c.id).Bind(2, ToString(c.from)).Bind(3, c.token).Bind(4, ToString(c.to));
            q.Bind(5, c.attempt).Bind(6, c.max_attempts).Bind(7, c.run_at).Bind(8, c.finished_at);
            q.Bind(9, c.leaves_running).Bind(10, c.request_cancel).Bind(11, ToString(c.cancel_reason));
            q.Bind(12, c.takeback_at).Bind(13, c.result).Bind(14, c.checkpoint);
            BindProgress(q, 15, c.progress);
            q.Bind(19, p.now).Bind(20, c.lease_expired_by);
            JW_RETURN_IF_ERROR(q.Run());
            if (conn.Changes() != 1) {
              out.push_back(GuardFailure(conn, c.id, c.from, c.token));
              continue;
            }
            if (c.error) {
              const ErrorEntry& e = *c.error;
              Query ins(conn, "JobErrorInsert");
              ins.Bind(1, c.id).Bind(2, e.attempt).Bind(3, ToString(e.error_class)).Bind(4, e.message);
              ins.Bind(5, e.at).Bind(6, e.counted).Bind(7, e.limit).Bind(8, e.output_tail);
              JW_RETURN_IF_ERROR(ins.Run());
            }
            out.push_back(Status::Ok());
          }
          return Status::Ok();
        },
        static_cast<int>(p.changes.size()));
    if (!s.ok()) return s.WithContext("apply job changes");
    return out;
  }

  Result<std::int64_t> JobPromoteScheduled(Timestamp now, int limit) override {
    return WriteCountingChanges(
        "JobPromoteScheduled", [&](Query& q) { q.Bind(1, now).Bind(2, limit); }, limit, "promote scheduled jobs");
  }

  Status JobDelete(JobId id) override {
    Status result;
    Status s = writer_.Submit([&](Connection& conn) -> Status {
      Query q(conn, "JobDelete");
      q.Bind(1, id);
      JW_RETURN_IF_ERROR(q.Run());
      if (conn.Changes() == 1) return Status::Ok();
      Query e(conn, "JobExists");
      e.Bind(1, id);
      JW_ASSIGN_OR_RETURN(bool row, e.Step());
      result = row ? Status::Conflict("job " + FormatJobId(id) + " is running: a running job cannot be deleted "
                                      "(cancel it first)")
                   : Status::NotFound("job " + FormatJobId(id) + " does not exist");
      return Status::Ok();
    });
    if (!s.ok()) return s.WithContext("delete job " + FormatJobId(id));
    return result;
  }

  Result<std::int64_t> JobDeleteMany(const JobDeleteParams& p) override {
    std::vector<JobState> states = p.states;
    if (states.empty()) {
      for (JobState st : kAllJobStates) {
        if (st != JobState::kRunning) states.push_back(st);
      }
    }
    states.erase(std::remove(states.begin(), states.end(), JobState::kRunning), states.end());
    // Terminal jobs older than a time (retention): by finished_at, visiting only what goes.
    const bool finished_before =
        p.before && std::all_of(states.begin(), states.end(), [](JobState st) { return IsTerminal(st); });
    const std::string states_json = StatesJson(states);
    return WriteCountingChanges(
        finished_before ? "JobPurgeFinished" : "JobDeleteMany",
        [&](Query& q) { q.Bind(1, states_json).Bind(2, p.queue).Bind(3, p.before).Bind(4, p.limit); }, p.limit,
        "delete jobs");
  }

  Result<Job> JobGet(JobId id) override {
    auto conn = readers_.Acquire();
    std::optional<Job> job;
    Status s = InReadTx(*conn, [&](Connection& c) -> Status {
      Query q(c, "JobGet");
      q.Bind(1, id);
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) return Status::NotFound("job " + FormatJobId(id) + " does not exist");
      JW_ASSIGN_OR_RETURN(Job j, ReadJob(q));
      JW_RETURN_IF_ERROR(LoadErrors(c, j));
      job = std::move(j);
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return std::move(*job);
  }

  Result<std::vector<Job>> JobList(const JobListParams& p) override {
    auto conn = readers_.Acquire();
    std::vector<Job> out;
    Status s = InReadTx(*conn, [&](Connection& c) -> Status {
      // Appends one statement's page (ids ascending) to `out`.
      auto list = [&](const char* name, const std::optional<std::string>& queue) -> Status {
        Query q(c, name);
        q.Bind(1, p.after_id).Bind(2, p.kind).Bind(3, p.worker_id).Bind(4, p.limit);
        if (p.state) q.Bind(5, ToString(*p.state));
        if (queue) q.Bind(6, *queue);
        while (true) {
          JW_ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) return Status::Ok();
          JW_ASSIGN_OR_RETURN(Job j, ReadJob(q));
          out.push_back(std::move(j));
        }
      };
      if (p.state && !p.queue) {
        // By state alone: the first page of each queue's run in jobs_state_queue,
        // merged, unless there are so many queues that sorting the state is cheaper.
        std::vector<std::string> queues;
        Query q(c, "JobStateQueues");
        q.Bind(1, ToString(*p.state)).Bind(2, kMaxMergedQueues + 1);
        while (true) {
          JW_ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) break;
          queues.push_back(q.Text(0));
        }
        if (queues.size() <= static_cast<std::size_t>(kMaxMergedQueues)) {
          for (const std::string& queue : queues) JW_RETURN_IF_ERROR(list("JobListByStateQueue", queue));
          std::sort(out.begin(), out.end(), [](const Job& a, const Job& b) { return a.id < b.id; });
          if (p.limit >= 0 && out.size() > static_cast<std::size_t>(p.limit)) out.resize(static_cast<std::size_t>(p.limit));
        } else {
          JW_RETURN_IF_ERROR(list("JobListByState", std::nullopt));
        }
      } else {
        JW_RETURN_IF_ERROR(list(p.state ? (p.queue ? "JobListByStateQueue" : "JobListByState")
                                        : (p.queue ? "JobListByQueue" : "JobListAll"),
                                p.queue));
      }
      if (p.with_errors) {
        for (Job& j : out) JW_RETURN_IF_ERROR(LoadErrors(c, j));
      }
      return Status::Ok();
    });
    if (!s.ok()) return s.WithContext("list jobs");
    return out;
  }

  Result<std::vector<Job>> JobListDeadlinePassed(Timestamp now, int limit) override {
    auto conn = readers_.Acquire();
    std::vector<Job> out;
    Status s = InReadTx(*conn, [&](Connection& c) -> Status {
      Query q(c, "JobListDeadlinePassed");
      q.Bind(1, now).Bind(2, limit);
      while (true) {
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        JW_ASSIGN_OR_RETURN(Job j, ReadJob(q));
        out.push_back(std::move(j));
      }
      return Status::Ok();
    });
    if (!s.ok()) return s.WithContext("list jobs past their deadline");
    return out;
  }

  Status QueueSetPaused(const std::string& name, bool paused, Timestamp now) override {
    Status s = writer_.Submit([&](Connection& conn) -> Status {
      Query q(conn, "QueueSetPaused");
      q.Bind(1, name).Bind(2, paused).Bind(3, now);
      return q.Run();
    });
    return s.WithContext(std::string(paused ? "pause" : "resume") + " queue '" + name + "'");
  }

  Result<std::vector<QueueInfo>> QueueList() override {
    auto conn = readers_.Acquire();
    std::map<std::string, QueueInfo> queues;
    Status s = InReadTx(*conn, [&](Connection& c) -> Status {
      {
        Query q(c, "QueueAll");
        while (true) {
          JW_ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) break;
          QueueInfo& info = queues[q.Text(0)];
          info.name = q.Text(0);
          info.paused = q.Int(1) != 0;
        }
      }
      {
        Query q(c, "QueueCounts");
        while (true) {
          JW_ASSIGN_OR_RETURN(bool row, q.Step());
          if (!row) break;
          QueueInfo& info = queues[q.Text(0)];
          info.name = q.Text(0);
          if (auto st = ParseJobState(q.Text(1))) info.counts[static_cast<std::size_t>(*st)] = q.Int(2);
        }
      }
      for (auto& [name, info] : queues) {
        if (info.counts[static_cast<std::size_t>(JobState::kAvailable)] == 0) continue;
        Query q(c, "QueueOldestAvailable");
        q.Bind(1, name);
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (row) info.oldest_available_run_at = q.OptTime(0);
      }
      return Status::Ok();
    });
    if (!s.ok()) return s.WithContext("list queues");
    std::vector<QueueInfo> out;
    for (auto& [name, info] : queues) out.push_back(std::move(info));
    return out;
  }

  Result<ReaperTickResult> ReaperTick(const ReaperTickParams& p) override {
    ReaperTickResult r;
    Status s = writer_.Submit([&](Connection& conn) -> Status {
      {
        Query q(conn, "MetaGet");
        q.Bind(1, "reaper_last_tick_ms");
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (row) r.previous_tick = q.Time(0);
      }
      // With no earlier tick on record nothing is known about a gap: grace only when asked.
      if (r.previous_tick || p.grace_all) {
        Query q(conn, "LeaseGraceAll");
        q.Bind(1, p.now).Bind(2, r.previous_tick.value_or(p.now)).Bind(3, p.grace_all);
        JW_RETURN_IF_ERROR(q.Run());
        r.graced = conn.Changes();
      }
      Query q(conn, "MetaSet");
      q.Bind(1, "reaper_last_tick_ms").Bind(2, p.now);
      return q.Run();
    });
    if (!s.ok()) return s.WithContext("reaper tick");
    return r;
  }

  Status WorkerUpsert(const WorkerRecord& w) override {
    Status s = writer_.Submit([&](Connection& conn) -> Status {
      Query q(conn, "WorkerUpsert");
      q.Bind(1, w.id).Bind(2, w.host).Bind(3, w.pid).Bind(4, w.pid_start_time).Bind(5, w.boot_id);
      q.Bind(6, w.pid_namespace).Bind(7, EncodeTags(w.queues)).Bind(8, w.slots).Bind(9, w.busy);
      q.Bind(10, w.started_at).Bind(11, w.last_seen_at);
      return q.Run();
    });
    return s.WithContext("register worker " + w.id);
  }

  Status WorkerTouch(const std::string& id, int busy, Timestamp now) override {
    Status s = writer_.Submit([&](Connection& conn) -> Status {
      Query q(conn, "WorkerTouch");
      q.Bind(1, id).Bind(2, busy).Bind(3, now);
      return q.Run();
    });
    return s.WithContext("touch worker " + id);
  }

  Status WorkerSetStopped(const std::string& id, Timestamp now) override {
    Status s = writer_.Submit([&](Connection& conn) -> Status {
      Query q(conn, "WorkerSetStopped");
      q.Bind(1, id).Bind(2, now);
      return q.Run();
    });
    return s.WithContext("mark worker " + id + " stopped");
  }

  Result<std::int64_t> WorkerPurgeStopped(Timestamp before) override {
    return WriteCountingChanges(
        "WorkerPurgeStopped", [&](Query& q) { q.Bind(1, before); }, 1, "purge stopped workers");
  }

  Result<std::vector<WorkerRecord>> WorkerList(bool include_stopped) override {
    auto conn = readers_.Acquire();
    std::vector<WorkerRecord> out;
    Status s = InReadTx(*conn, [&](Connection& c) -> Status {
      Query q(c, "WorkerList");
      q.Bind(1, include_stopped);
      while (true) {
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        out.push_back(ReadWorker(q));
      }
      return Status::Ok();
    });
    if (!s.ok()) return s.WithContext("list workers");
    return out;
  }

  Result<WorkerRecord> WorkerGet(const std::string& id) override {
    auto conn = readers_.Acquire();
    std::optional<WorkerRecord> out;
    Status s = InReadTx(*conn, [&](Connection& c) -> Status {
      Query q(c, "WorkerGet");
      q.Bind(1, id);
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (row) out = ReadWorker(q);
      return Status::Ok();
    });
    if (!s.ok()) return s.WithContext("get worker " + id);
    if (!out) return Status::NotFound("worker " + id + " is not registered");
    return std::move(*out);
  }

  bool SupportsNotify() const override { return false; }

  std::string Describe() const override {
    return "sqlite:" + options_.path + " (durability=" + std::string(ToString(options_.durability)) + ")";
  }

 private:
  // The bodies of JobFetch and JobCompleteMany, inside the caller's transaction.
  static Status FetchIn(Connection& conn, const JobFetchParams& p, std::vector<Job>& out) {
    out.clear();
    {
      // In the fetch's own transaction, so a worker marked stopped (its death
      // seen) is leased nothing, however the fetch and the stop interleave.
      Query stopped(conn, "WorkerIsStopped");
      stopped.Bind(1, p.worker_id);
      JW_ASSIGN_OR_RETURN(bool row, stopped.Step());
      if (row) return Status::Ok();
    }
    std::vector<Job> candidates;
    for (const std::string& queue : p.queues) {
      {
        Query paused(conn, "QueueIsPaused");
        paused.Bind(1, queue);
        JW_ASSIGN_OR_RETURN(bool row, paused.Step());
        if (row && paused.Int(0) != 0) continue;
      }
      bool due = false;
      {
        Query probe(conn, "JobHasDueScheduledInQueue");
        probe.Bind(1, queue).Bind(2, p.now);
        JW_ASSIGN_OR_RETURN(due, probe.Step());
      }
      if (due) {
        Query promote(conn, "JobPromoteScheduledInQueue");
        promote.Bind(1, queue).Bind(2, p.now).Bind(3, std::max(p.max, 100));
        JW_RETURN_IF_ERROR(promote.Run());
      }
      Query q(conn, "JobFetchCandidates");
      q.Bind(1, queue).Bind(2, p.now).Bind(3, p.max);
      while (true) {
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        JW_ASSIGN_OR_RETURN(Job job, ReadJob(q));
        candidates.push_back(std::move(job));
      }
    }
    if (p.queues.size() > 1) {
      // Merge the per-queue heads: priority, then run_at, then id.
      std::sort(candidates.begin(), candidates.end(), [](const Job& a, const Job& b) {
        if (a.priority != b.priority) return a.priority > b.priority;
        if (a.run_at != b.run_at) return a.run_at < b.run_at;
        return a.id < b.id;
      });
      if (candidates.size() > static_cast<std::size_t>(p.max)) {
        candidates.resize(static_cast<std::size_t>(p.max));
      }
    }
    out.reserve(candidates.size());
    for (Job& job : candidates) {
      Query lease(conn, "JobLease");
      lease.Bind(1, job.id).Bind(2, p.now).Bind(3, p.lease_ttl).Bind(4, p.grace).Bind(5, p.worker_id);
      JW_RETURN_IF_ERROR(lease.Run());
      if (conn.Changes() != 1) continue;  // not available after all (cannot happen in this transaction)
      LeaseFields(job, p);
      out.push_back(std::move(job));
    }
    return Status::Ok();
  }

  static Status CompleteIn(Connection& conn, const JobCompleteParams& p, std::vector<Status>& out) {
    out.clear();
    for (const CompleteItem& item : p.items) {
      Query q(conn, "JobComplete");
      q.Bind(1, item.id).Bind(2, item.token).Bind(3, p.now);
      q.Bind(4, item.result.value_or("null")).Bind(5, item.checkpoint);
      BindProgress(q, 6, item.progress);
      JW_RETURN_IF_ERROR(q.Run());
      if (conn.Changes() == 1) {
        out.push_back(Status::Ok());
        continue;
      }
      // Idempotent retry: the same token already completed it.
      bool already_done = false;
      {
        Query g(conn, "JobGuardState");
        g.Bind(1, item.id);
        JW_ASSIGN_OR_RETURN(bool row, g.Step());
        already_done = row && g.Text(0) == "succeeded" && g.Int(1) == item.token;
      }
      out.push_back(already_done ? Status::Ok() : GuardFailure(conn, item.id, JobState::kRunning, item.token));
    }
    return Status::Ok();
  }

  // One write statement in the group commit, bound by `bind`; returns the rows
  // it changed. `weight` is its share of a batch (the rows it may touch).
  template <typename BindFn>
  Result<std::int64_t> WriteCountingChanges(std::string_view statement, BindFn bind, int weight,
                                             std::string_view context) {
    std::int64_t n = 0;
    Status s = writer_.Submit(
        [&](Connection& conn) -> Status {
          Query q(conn, statement);
          bind(q);
          JW_RETURN_IF_ERROR(q.Run());
          n = conn.Changes();
          return Status::Ok();
        },
        weight);
    if (!s.ok()) return s.WithContext(context);
    return n;
  }

  SqliteStoreOptions options_;
  ReaderPool readers_;
  Checkpointer checkpointer_;  // outlives the writer, whose commits signal it
  Writer writer_;
};

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
  Status s = RetryWhileBusy(options.lock_wait,
                            [&] { return writer->Exec("PRAGMA journal_mode = WAL", "enable WAL"); });
  if (s.ok()) s = ConfigureConnection(*writer, options.durability);
  // The writer runs each grouped caller's change in a SAVEPOINT. Their sub-journal
  // becomes a temp file past 64 KiB, and then every page a batch touches is also
  // written there (perf: ~20% of the writer's CPU in pwrite, docs/benchmarks.md).
  // In memory it is bounded by one transaction (<= ~10k rows).
  if (s.ok()) s = writer->Exec("PRAGMA temp_store = MEMORY", "keep the writer's temp files in memory");
  if (s.ok()) s = RetryWhileBusy(options.lock_wait, [&] { return Migrate(*writer); });
  if (s.ok()) s = RetryWhileBusy(options.lock_wait, [&] { return PrepareAll(*writer); });
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
    if (cs.ok()) cs = RetryWhileBusy(options.lock_wait, [&] { return PrepareAll(*conn); });
    if (!cs.ok()) return cs.WithContext(context);
    store->readers().Add(std::move(conn));
  }
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::vector<std::string>> ExplainSqliteStatement(const std::string& path, const std::string& name) {
  const std::string context = "explain statement '" + name + "' on '" + path + "'";
  const auto& statements = Statements();
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
