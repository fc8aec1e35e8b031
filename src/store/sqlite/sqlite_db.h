// A thin RAII layer over the sqlite3 C API: one connection, its prepared
// statements, and the one place where SQLite result codes become Status.
// Not thread-safe: each connection is used by one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/time.h"

struct sqlite3;
struct sqlite3_stmt;

namespace jobwarden::sqlite {

// The driver's error mapping (STYLE: map errors once per boundary):
// BUSY/LOCKED -> kUnavailable, CONSTRAINT -> kConflict, others -> kInternal.
Status FromSqliteError(int rc, sqlite3* db, std::string_view context);

class Connection {
 public:
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, bool read_only, Duration busy_timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements with no parameters (pragmas, migrations).
  Status Exec(std::string_view sql, std::string_view context);
  // Runs one statement with no parameters, prepared on first use and kept
  // (BEGIN, COMMIT, SAVEPOINT...: on the writer's hot path, where compiling
  // them again for every transaction cost more than running them).
  Status ExecCached(std::string_view sql, std::string_view context);
  // Prepares `sql` under `name` (once; later calls are no-ops).
  Status Prepare(std::string_view name, std::string_view sql);
  sqlite3_stmt* Statement(std::string_view name) const;  // nullptr when unknown
  sqlite3* raw() const { return db_; }
  std::int64_t Changes() const;
  // False once SQLite left the transaction, also when it rolled the whole
  // transaction back on its own after an error (SQLITE_FULL, SQLITE_IOERR,
  // SQLITE_NOMEM).
  bool InTransaction() const;
  std::int64_t LastInsertRowid() const;

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cached_;  // ExecCached, by SQL text
};

// One execution of a prepared statement; resets it on destruction.
class Query {
 public:
  Query(Connection& conn, std::string_view name);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& Bind(int index, std::int64_t value);
  Query& Bind(int index, int value) { return Bind(index, static_cast<std::int64_t>(value)); }
  Query& Bind(int index, bool value) { return Bind(index, static_cast<std::int64_t>(value ? 1 : 0)); }
  Query& Bind(int index, double value);
  Query& Bind(int index, std::string_view value);
  Query& Bind(int index, const std::string& value) { return Bind(index, std::string_view(value)); }
  Query& Bind(int index, const char* value) { return Bind(index, std::string_view(value)); }
  Query& Bind(int index, Timestamp value) { return Bind(index, ToMillis(value)); }
  Query& Bind(int index, Duration value) { return Bind(index, static_cast<std::int64_t>(value.count())); }
  Query& BindNull(int index);
  template <typename T>
  Query& Bind(int index, const std::optional<T>& value) {
    return value ? Bind(index, *value) : BindNull(index);
  }

  // Advances to the next row: true with a row, false when done.
  Result<bool> Step();
  // Steps to completion, ignoring rows.
  Status Run();

  bool IsNull(int col) const;
  std::int64_t Int(int col) const;
  std::optional<std::int64_t> OptInt(int col) const;
  double Real(int col) const;
  std::string Text(int col) const;
  std::optional<std::string> OptText(int col) const;
  Timestamp Time(int col) const { return FromMillis(Int(col)); }
  std::optional<Timestamp> OptTime(int col) const;

 private:
  Connection& conn_;
  std::string_view name_;
  sqlite3_stmt* stmt_;
  Status bind_status_;
};

}  // namespace jobwarden::sqlite
