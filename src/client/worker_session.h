// The worker's end of GET /v1/worker/session: a stream kept open for the
// worker's whole life on its own thread (owned and joined), carrying cancel
// notices at once and revealing a dead worker to the server (DESIGN.md
// "Timing rules").
//
// When the stream drops it is reopened at once (then every 50-200 ms). A
// drop the server announced with a `shutdown` event never counts: the
// server is restarting and takes nothing back. Otherwise, if no session is
// open again within half the take-back grace (counted from the last byte
// received), `on_lost` is called once: the server is about to give this
// worker's jobs to others, so the worker must kill them now. A server that
// answers the reopen with 404 (unknown worker) or 409 (declared lost) has
// forgotten or given up on this worker: `on_unknown` re-registers it, and a
// 409 also calls `on_lost` (its jobs were taken back already).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "client/http_client.h"
#include "core/job.h"
#include "core/owned_thread.h"
#include "core/thread_annotations.h"

namespace jobwarden::net {
class SocketStream;
}

namespace jobwarden::client {

struct WorkerSessionCallbacks {
  std::function<void(JobId id, std::int64_t token, CancelReason reason)> on_cancel;
  std::function<void()> on_lost;
  std::function<void()> on_unknown;
};

class WorkerSession {
 public:
  // `grace` is the server's take-back grace (register's session_grace_s).
  WorkerSession(HttpClientOptions http, std::string worker_id, Duration grace, WorkerSessionCallbacks callbacks);
  ~WorkerSession();  // Stop()
  WorkerSession(const WorkerSession&) = delete;
  WorkerSession& operator=(const WorkerSession&) = delete;

  void Start();
  // Ends the stream and joins the thread. No callback runs after it returns.
  void Stop();

  bool connected() const { return connected_.load(); }
  std::int64_t epoch() const { return epoch_.load(); }
  // How many times a session was (re)opened (hello received).
  std::int64_t opens() const { return opens_.load(); }

 private:
  void Loop();
  // One stream, until it ends; returns the HTTP status (0: none).
  int RunOnce(bool& shutdown_seen, std::chrono::steady_clock::time_point& last_rx);
  void OnEvent(const std::string& name, const std::string& data, bool& shutdown_seen);

  const HttpClientOptions http_options_;
  const std::string worker_id_;
  const Duration grace_;
  const WorkerSessionCallbacks callbacks_;

  Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  net::SocketStream* stream_ GUARDED_BY(mu_) = nullptr;  // the open stream, for Stop() to shut down
  std::atomic<bool> connected_{false};
  std::atomic<std::int64_t> epoch_{0};
  std::atomic<std::int64_t> opens_{0};
  OwnedThread thread_;  // Loop(); Stop() wakes it (stop_, the stream shut down) and joins
};

}  // namespace jobwarden::client
