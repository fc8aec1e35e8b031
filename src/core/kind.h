// A job kind as the configuration declares it ([kinds.NAME], docs/worker.md):
// the defaults its jobs inherit at enqueue (job > kind > global), and, for a
// kind run as a command, how the worker runs it. Plain data: config/kinds.h
// reads it, the engine applies the defaults, the worker runs the command.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/backoff.h"
#include "core/error_class.h"
#include "core/time.h"

namespace jobwarden {

// Each absent field falls back to the engine's global default.
struct KindDefaults {
  std::optional<std::string> queue;
  std::optional<Duration> timeout;
  std::optional<int> max_attempts;
  std::optional<Duration> stall_timeout;
  std::optional<BackoffPolicy> backoff;
  std::optional<std::string> resource_key;
};

// A kind run as a command (DESIGN.md "Command-handler contract").
struct CommandKind {
  std::vector<std::string> command;        // argv; relative paths already resolved
  std::map<std::string, std::string> env;  // added to the handler's environment
  std::optional<std::string> cwd;
  std::map<int, ErrorClass> exit_codes;  // exit code -> class; unlisted non-zero codes are transient
  std::optional<Duration> grace;         // SIGTERM -> SIGKILL for this kind; default: the worker's grace
};

}  // namespace jobwarden
