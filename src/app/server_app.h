// `jobwarden server`: the wiring of the HTTP server — config, store, engine,
// reaper, sessions, the API and the HTTP stack — and its life: it serves
// until SIGTERM or SIGINT, then stops accepting new work (503), wakes every
// long-poll, ends worker sessions with a `shutdown` event (never a
// take-back) and event streams, answers what is in flight, and returns.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/log_fields.h"
#include "core/status.h"
#include "store/store.h"

namespace jobwarden {

class Engine;

struct ServerRunOptions {
  std::string db_path;                // the --db URL or path (store/open_store.h); a SQLite file's directory is created
  std::string config_path;            // optional TOML file ([server], [kinds.*])
  std::optional<std::string> listen;  // HOST:PORT, overrides the config
  std::optional<std::string> state_dir;  // where server.json goes; default: the database's directory
  Durability durability = Durability::kProcess;
  // --log-format / $JOBWARDEN_LOG_FORMAT; absent: the config's `[server] log_format`.
  std::optional<LogFormat> log_format;
  // For `jobwarden up` (docs/worker.md), which runs its worker supervisor
  // beside the server. Called once listening (the discovery file written),
  // before serving, with the server's URL and engine; an error stops the
  // server before it serves.
  std::function<Status(const std::string& url, Engine& engine)> on_listening;
  // Called once on the signal thread when SIGTERM or SIGINT arrives, before
  // the shutdown begins: while it runs the server still serves, so
  // supervised workers can hand their jobs back through it; it may take
  // further SIGTERM/SIGINT with sigtimedwait (they are blocked). When serving
  // failed on its own, it is called with signo 0 once serving ended.
  std::function<void(int signo)> before_shutdown;
};

// Blocks until the server was asked to stop and has stopped. Once listening
// it prints "listening on http://HOST:PORT" on stderr and writes the same URL
// to <state_dir>/server.json (removed on exit), so tools and tests find a
// server started on port 0.
Status RunServer(const ServerRunOptions& options);

}  // namespace jobwarden
