// What a log line is about, for structured logs (`--log-format json`,
// docs/server.md "Logs"): the job a thread is working on while it logs. A
// thread-local scope, read by the JSON formatter (app/logging.h) on the thread
// that logs (the process's logger is synchronous), so that the lines of one
// job carry its `job_id`, `kind`, `attempt` and `worker_id` without every
// log statement passing them.
//
// Cost when logs are text: setting and restoring one thread-local pointer per
// scope; nothing per log line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/job.h"

namespace jobwarden {

// How log lines are written. Default: kText.
enum class LogFormat : std::uint8_t {
  kText,  // "2026-12-04 18:55:01.123 info  job 7 [...] ...": for a person at a terminal
  kJson,  // one JSON object per line: for log shippers
};
std::string_view ToString(LogFormat f);
std::optional<LogFormat> ParseLogFormat(std::string_view s);  // "text" | "json"

// The fields known about the job a log line concerns; absent or empty ones are
// left out of the line. Views: what they point to must outlive the scope
// that holds them (in practice the Job and the worker id of the code that logs).
struct LogFields {
  std::optional<JobId> job_id;
  std::string_view kind;
  std::optional<int> attempt;
  std::string_view worker_id;
};

// LogFields that own their strings: for the lines about a job written where
// its Job is not at hand (a handler process's supervisor thread).
struct OwnedLogFields {
  std::optional<JobId> job_id;
  std::string kind;
  std::optional<int> attempt;
  std::string worker_id;

  OwnedLogFields() = default;
  explicit OwnedLogFields(const LogFields& f)
      : job_id(f.job_id), kind(f.kind), attempt(f.attempt), worker_id(f.worker_id) {}
  LogFields view() const { return {.job_id = job_id, .kind = kind, .attempt = attempt, .worker_id = worker_id}; }
};

// The fields of `job` (id, kind, attempt when it was fetched) and the worker's id.
LogFields JobLogFields(const Job& job, std::string_view worker_id = {});

// The current thread's fields, or nullptr outside any ScopedLogFields.
const LogFields* CurrentLogFields();

// Sets the current thread's fields for its lifetime and restores the previous
// ones after. A scope for the job an enclosing scope is already about keeps
// what that one knows and this one does not (the engine knows no worker id,
// the embedded worker around it does).
class ScopedLogFields {
 public:
  explicit ScopedLogFields(const LogFields& fields);
  ~ScopedLogFields();
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

 private:
  LogFields fields_;
  const LogFields* previous_;
};

}  // namespace jobwarden
