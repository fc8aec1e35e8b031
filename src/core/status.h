// Status and Result<T>: the one error convention of jobwarden.
//
// Every fallible call returns a Status (or a Result<T>, which holds either a
// value or a non-OK Status). Exceptions never cross a module boundary: third
// party exceptions are caught at the adapter that calls the library and turned
// into a Status with context ("insert job: database is locked").
//
// The code set is small and closed. Each boundary maps codes exactly once:
// the SQLite driver maps sqlite result codes in FromSqliteError(), the HTTP
// layer maps Status to HTTP statuses, and the CLI maps Status to exit codes.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace jobwarden {

enum class StatusCode : std::uint8_t {
  kOk,
  kNotFound,            // the named entity does not exist
  kInvalidArgument,     // the caller's input is wrong; retrying will not help
  kConflict,            // the entity is not in a state that allows the call
  kLeaseLost,           // the lease token is not the current one (fencing, G5)
  kCheckpointTooLarge,  // a checkpoint over the size limit
  kUnavailable,         // transient infrastructure trouble; retry may help
  kNotSupported,        // the driver or build cannot do this
  kInternal,            // a bug or an unexpected library failure
};

// The wire name of a code, as in DESIGN.md's error codes ("not_found", ...).
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status LeaseLost(std::string m) { return {StatusCode::kLeaseLost, std::move(m)}; }
  static Status CheckpointTooLarge(std::string m) { return {StatusCode::kCheckpointTooLarge, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status NotSupported(std::string m) { return {StatusCode::kNotSupported, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "not_found: job 12 does not exist"
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` ("fetch jobs: ...").
  Status WithContext(std::string_view context) const;

  // The request field the error is about, for programs: the API's error JSON
  // carries it as `field` ("worker_id"), so a caller branches on it, never on
  // the message. Empty when the error is about no one field. Kept by WithContext.
  const std::string& field() const { return field_; }
  Status WithField(std::string field) const {
    Status s = *this;
    s.field_ = std::move(field);
    return s;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string field_;
};

// Holds a T or a non-OK Status. (std::expected arrives with C++23.)
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status has no value");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace jobwarden

// Propagates a non-OK Status to the caller.
#define JW_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::jobwarden::Status jw_status_ = (expr); \
    if (!jw_status_.ok()) return jw_status_; \
  } while (0)

#define JW_CONCAT_INNER(a, b) a##b
#define JW_CONCAT(a, b) JW_CONCAT_INNER(a, b)
// Declares `lhs` from a Result, or returns its Status.
#define JW_ASSIGN_OR_RETURN(lhs, expr) JW_ASSIGN_OR_RETURN_IMPL(JW_CONCAT(jw_result_, __LINE__), lhs, expr)
#define JW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
