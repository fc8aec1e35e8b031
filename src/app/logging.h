// The log of a long-running command: spdlog to stderr, one line per event,
// as text (the default) or as one JSON object per line (`--log-format json`,
// docs/server.md "Logs").
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string_view>

#include "core/log_fields.h"

namespace jobwarden {

// Sends the default logger to stderr with timestamps, in the format last set
// by SetLogFormat (default: text). The level comes from $JOBWARDEN_LOG_LEVEL
// (trace, debug, info, warn, error). Default: info. Idempotent: reuses the
// "jobwarden" logger if it exists.
void InitProcessLogging();

// Chooses how the default logger writes its lines, from now on. main() sets
// it from --log-format / $JOBWARDEN_LOG_FORMAT; the server from its config's
// `[server] log_format` when neither was given.
void SetLogFormat(LogFormat format);
LogFormat CurrentLogFormat();

// A line that must reach stderr whatever the log level: the server's
// "listening on URL", a command's final error. Text: `line` as-is; JSON: an
// object with `msg` = `line` at `level`, so that every stderr line of a
// process that logs JSON is JSON.
void WriteStderrLine(spdlog::level::level_enum level, std::string_view line);

// One JSON object per line: {"ts", "level", "msg"} and, from the thread's
// ScopedLogFields, "job_id", "kind", "attempt", "worker_id" (each only when
// known). `ts` is RFC 3339 UTC with milliseconds; `level` is one of trace,
// debug, info, warn, error, critical. Any message gives one valid
// line: control characters are escaped and invalid UTF-8 is replaced (U+FFFD).
// The fields are read on the logging thread: for synchronous loggers only.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace jobwarden
