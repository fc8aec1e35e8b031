// The [kinds.NAME] tables of the configuration file: one reader for every
// process that needs them — the server and `up` (the defaults its enqueues
// apply) and every worker (the commands it runs, and the same defaults for
// an embedded engine).
//
//   [kinds.download]
//   command = ["python3", "handlers/download.py"]  # relative paths: against this file's directory
//   timeout = "30s"          # attempt timeout for jobs of this kind
//   stall_timeout = "10s"
//   max_attempts = 3
//   queue = "default"
//   resource_key = "source:pexels"
//   grace = "5s"             # SIGTERM -> SIGKILL for this kind
//   env = { SOURCE_LIST = "a,b" }   # may not set JOBWARDEN_* names: the worker sets those
//   cwd = "."                # relative to this file's directory
//   exit_codes = { "3" = "permanent" }   # 1-255; other non-zero codes are transient
//   backoff_base = "5s"
//   backoff_cap = "10m"
#pragma once

#include <toml++/toml.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "core/kind.h"
#include "core/status.h"
#include "core/time.h"

namespace jobwarden {

struct KindsConfig {
  std::map<std::string, KindDefaults> defaults;  // every declared kind
  std::map<std::string, CommandKind> commands;   // the kinds run as commands
  // The largest `grace` of any kind: the worker reports it at fetch, so the
  // server's take-back (limit + grace + TTL/3) never comes before the kill.
  std::optional<Duration> max_grace;
};

// Reads root["kinds"] (absent: no kinds) of the file `file`; relative paths
// resolve against `dir`. Errors name the file and the key.
Result<KindsConfig> ReadKinds(const toml::table& root, const std::string& file, const std::filesystem::path& dir);

// Parses `path` and reads its [kinds.*] tables only (other sections are
// left to their owners). An empty path: no kinds.
Result<KindsConfig> LoadKinds(const std::string& path);

}  // namespace jobwarden
