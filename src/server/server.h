// The HTTP side of a jobwarden server over one engine: the API, the worker
// protocol (long-poll waiters, worker sessions), the event stream, metrics
// and the HTTP stack, wired together.
//
// It knows nothing of storage, workers, signals or files: the caller
// (app/server_app.cc) opens the store, builds the engine, runs the reaper,
// writes the discovery file and decides when to stop. Life:
//   Server s(engine, config, epoch);  Listen();  Start();  Serve() blocks
//   until Shutdown() (from another thread) has stopped the HTTP stack;
//   then Stop().
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "core/status.h"
#include "server/server_config.h"

namespace jobwarden {
class Engine;
struct ReapStats;
}  // namespace jobwarden

namespace jobwarden::server {

class Server {
 public:
  // `session_epoch` identifies this server's worker sessions (a worker that
  // sees another epoch knows the server restarted). Registers event and flow
  // listeners on `engine`: construct before the engine is shared by threads.
  Server(Engine& engine, ServerConfig config, std::int64_t session_epoch);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds config.listen_host:listen_port; returns the bound port (for port 0).
  Result<int> Listen();
  // Starts the worker sessions' take-back timers. After Listen().
  void Start();
  // Serves until Shutdown() stops the HTTP stack, or the stack fails.
  Status Serve();
  // The graceful stop, from any thread: new requests get 503, every long-poll
  // wakes, worker sessions end with a `shutdown` event (never a take-back)
  // and event streams with a last event (waiting up to 2 s for both to be
  // delivered), then the HTTP stack stops; requests in flight are answered.
  void Shutdown();
  // After Serve() returned: stops the session timers.
  void Stop();

  // After each reaper pass: `stats.promoted` scheduled jobs became available
  // (promotions emit no event), so as many long-polls are woken; and the
  // engine's flow watch runs (Engine::WatchFlow), whose queue warnings and
  // breaker changes go to the event stream.
  void OnReapPass(const ReapStats& stats);

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace jobwarden::server
