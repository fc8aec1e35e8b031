// The server's settings: the `[server]` section of the config file, then
// JOBWARDEN_* environment variables, then command-line flags (the caller
// applies those last).
//
//   [server]
//   listen = "127.0.0.1:7070"      # HOST:PORT; port 0 picks a free one     Default: 127.0.0.1:7070
//   tokens = { admin = "…", worker = ["…", "…"], read = "…" }   # bearer tokens by role   Default: none
//   state_dir = "var"              # where server.json (discovery) goes      Default: the database's directory
//   max_body_bytes = 1048576       # request body limit                      Default: 1 MiB
//   max_bulk_body_bytes = 67108864 # POST /v1/jobs/bulk body limit           Default: 64 MiB
//   max_wait = "30s"               # cap of a fetch's wait_ms                Default: 30 s
//   max_long_polls = 1000          # waiting fetches; beyond, fetch answers at once   Default: 1000
//   max_event_streams = 256        # open GET /v1/events streams; beyond, 503        Default: 256
//   max_sessions = 1024            # open worker sessions; beyond, 503               Default: 1024
//   session_grace = "2s"           # a dropped session not reopened within this → take-back   Default: 2 s
//   busy_poll_us = 100             # busy-poll a keep-alive connection this long for its next request; 0 = off Default:
//   100
//   log_format = "json"            # logs on stderr: "text" or "json" (one object per line)   Default: text
//                                  # (--log-format and JOBWARDEN_LOG_FORMAT win over it)
//
// Environment: JOBWARDEN_ADMIN_TOKEN, JOBWARDEN_WORKER_TOKEN, JOBWARDEN_READ_TOKEN add
// one token each; JOBWARDEN_LISTEN replaces `listen`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/log_fields.h"
#include "core/status.h"
#include "core/time.h"

namespace jobwarden::server {

// What a bearer token may do. Each role includes the ones below it.
enum class Role : std::uint8_t {
  kPublic,  // no token needed (health probes); never a caller's role
  kRead,    // reads only
  kWorker,  // the worker protocol, and reads
  kAdmin,   // everything
};
std::string_view ToString(Role role);

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  int listen_port = 7070;
  std::vector<std::pair<std::string, Role>> tokens;
  std::string state_dir;  // empty: the database's directory
  std::size_t max_body_bytes = 1u << 20;
  std::size_t max_bulk_body_bytes = 64u << 20;
  Duration max_wait = std::chrono::seconds(30);
  std::size_t max_long_polls = 1000;
  std::size_t max_event_streams = 256;
  std::size_t max_sessions = 1024;
  Duration session_grace = std::chrono::seconds(2);
  // HttpServerOptions::busy_poll (http_server.h).
  std::chrono::microseconds busy_poll{100};
  // How the server logs when neither --log-format nor $JOBWARDEN_LOG_FORMAT says (app/logging.h).
  LogFormat log_format = LogFormat::kText;
  // Streams write at least this often, so a dropped peer is noticed within
  // about two ticks (the second write after a peer's close fails).
  Duration session_tick = std::chrono::milliseconds(100);
  Duration event_tick = std::chrono::milliseconds(200);
};

// Reads `[server]` from `path` (other sections are left to their owners),
// then the environment. An empty path reads the environment only. Errors
// name the file and key.
Result<ServerConfig> LoadServerConfig(const std::string& path);

// "127.0.0.1:7070", "localhost:0", "[::1]:7070" -> host and port.
Status ParseListen(std::string_view text, std::string& host, int& port);

// Whether a bind address or Host-header name is this machine's loopback:
// localhost, 127.0.0.0/8, ::1 (brackets allowed).
bool IsLoopbackName(std::string_view host);

// Refuses what would expose an unauthenticated server: a non-loopback bind
// with no token configured.
Status ValidateServerConfig(const ServerConfig& config);

}  // namespace jobwarden::server
