#include "store/sqlite/sqlite_db.h"

#include <sqlite3.h>

namespace jobwarden::sqlite {

Status FromSqliteError(int rc, sqlite3* db, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return Status::Ok();
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Status::Unavailable(std::move(msg));
    case SQLITE_CONSTRAINT: return Status::Conflict(std::move(msg));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM: return Status::Unavailable(std::move(msg));
    default: return Status::Internal(std::move(msg));
  }
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, bool read_only, Duration busy_timeout) {
  sqlite3* db = nullptr;
  const int flags =
      (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status s = FromSqliteError(rc, db, "open database '" + path + "'");
    sqlite3_close_v2(db);
    return s;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() {
  for (auto& [name, stmt] : statements_) sqlite3_finalize(stmt);
  for (auto& [sql, stmt] : cached_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Connection::Exec(std::string_view sql, std::string_view context) {
  char* err = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    Status s = FromSqliteError(rc, db_, context);
    sqlite3_free(err);
    return s;
  }
  return Status::Ok();
}

Status Connection::ExecCached(std::string_view sql, std::string_view context) {
  auto it = cached_.find(sql);
  if (it == cached_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc =
        sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return FromSqliteError(rc, db_, context);
    it = cached_.emplace(std::string(sql), stmt).first;
  }
  int rc = sqlite3_step(it->second);
  while (rc == SQLITE_ROW) rc = sqlite3_step(it->second);
  // sqlite3_reset repeats the step's error code; the step's own code is the one to map.
  sqlite3_reset(it->second);
  if (rc != SQLITE_DONE) return FromSqliteError(rc, db_, context);
  return Status::Ok();
}

Status Connection::Prepare(std::string_view name, std::string_view sql) {
  if (statements_.find(name) != statements_.end()) return Status::Ok();
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return FromSqliteError(rc, db_, "prepare statement " + std::string(name));
  statements_.emplace(std::string(name), stmt);
  return Status::Ok();
}

sqlite3_stmt* Connection::Statement(std::string_view name) const {
  auto it = statements_.find(name);
  return it == statements_.end() ? nullptr : it->second;
}

bool Connection::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

std::int64_t Connection::Changes() const { return sqlite3_changes64(db_); }
std::int64_t Connection::LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

Query::Query(Connection& conn, std::string_view name) : conn_(conn), name_(name), stmt_(conn.Statement(name)) {
  if (stmt_ == nullptr) bind_status_ = Status::Internal("unknown statement " + std::string(name));
}

Query::~Query() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

namespace {
void Check(Status& status, int rc, sqlite3* db, std::string_view name, int index) {
  if (rc != SQLITE_OK && status.ok()) {
    status = FromSqliteError(rc, db, "bind parameter " + std::to_string(index) + " of " + std::string(name));
  }
}
}  // namespace

Query& Query::Bind(int index, std::int64_t value) {
  if (stmt_ != nullptr) Check(bind_status_, sqlite3_bind_int64(stmt_, index, value), conn_.raw(), name_, index);
  return *this;
}

Query& Query::Bind(int index, double value) {
  if (stmt_ != nullptr) Check(bind_status_, sqlite3_bind_double(stmt_, index, value), conn_.raw(), name_, index);
  return *this;
}

Query& Query::Bind(int index, std::string_view value) {
  if (stmt_ != nullptr) {
    Check(bind_status_, sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
          conn_.raw(), name_, index);
  }
  return *this;
}

Query& Query::BindNull(int index) {
  if (stmt_ != nullptr) Check(bind_status_, sqlite3_bind_null(stmt_, index), conn_.raw(), name_, index);
  return *this;
}

Result<bool> Query::Step() {
  if (!bind_status_.ok()) return bind_status_;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return FromSqliteError(rc, conn_.raw(), std::string(name_));
}

Status Query::Run() {
  while (true) {
    Result<bool> r = Step();
    if (!r.ok()) return r.status();
    if (!*r) return Status::Ok();
  }
}

bool Query::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
std::int64_t Query::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
std::optional<std::int64_t> Query::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}
double Query::Real(int col) const { return sqlite3_column_double(stmt_, col); }
std::string Query::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}
std::optional<std::string> Query::OptText(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Text(col);
}
std::optional<Timestamp> Query::OptTime(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Time(col);
}

}  // namespace jobwarden::sqlite
