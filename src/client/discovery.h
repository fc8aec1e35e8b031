// The discovery file: how a running server tells the CLI where it listens.
//
// `jobwarden server` (and `up`) writes <state dir>/server.json once it
// listens (default: the database's directory, so ./var/server.json) and
// removes it on a clean exit. A job command run without --server looks for
// it beside its --db file: when the server it names is alive and serves that
// very database, the command goes through the server's API, so every change
// passes the server and its event stream (issue 4, DESIGN "Architecture").
// A file left behind by a server that died (kill -9) names a process that is
// gone, and is ignored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/status.h"

namespace jobwarden {

struct ServerDiscovery {
  std::string url;  // "http://127.0.0.1:7070"
  std::int64_t pid = 0;
  std::optional<std::int64_t> pid_start_time;  // /proc/PID/stat field 22; tells a reused pid apart
  std::string db;                              // absolute path of the database it serves
  std::int64_t session_epoch = 0;              // the server's worker-session epoch
  std::string started_at;                      // RFC 3339
};

// The file's name in a state directory.
std::filesystem::path DiscoveryFile(const std::filesystem::path& state_dir);

// Writes atomically (temporary file, then rename). kUnavailable on I/O errors.
Status WriteDiscovery(const std::filesystem::path& file, const ServerDiscovery& d);

// kNotFound when there is no file; kInvalidArgument (naming the file) when it
// is not a discovery file.
Result<ServerDiscovery> ReadDiscovery(const std::filesystem::path& file);

// The server to use for database `db`: the discovery file beside it, when its
// process is alive (same pid and start time) and serves `db`; nullopt when
// there is no such file or it names a server that is gone or serves another
// database. kInvalidArgument (naming the file) when the file is malformed:
// the caller decides whether to warn and go on with the database file.
Result<std::optional<ServerDiscovery>> FindServerFor(const std::filesystem::path& db);

}  // namespace jobwarden
