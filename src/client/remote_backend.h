// The worker's Backend over HTTP (DESIGN.md "Interfaces", worker protocol):
// the same WorkerPool that runs in embedded mode runs against a server.
//
// Connections: fetch long-polls on its own connections (WakeAll aborts them
// without touching the others); heartbeats, completes and fails share a pool
// of keep-alive connections; the session stream has its own, on its own
// thread (client/worker_session.h). So a long-poll never delays a heartbeat.
//
// Transient trouble (no answer, 5xx) is retried inside each call with
// exponential backoff and jitter, within a budget per call: fetch and
// heartbeat briefly (the pool retries them itself and self-fences from
// lease expiry - grace), complete and fail for long (they are idempotent
// with the same token, so retrying after a lost answer is safe, and a
// finished job's outcome is worth waiting for through a server restart).
//
// Session loss: when the session cannot be reopened within half the
// take-back grace, every lease held at that moment is condemned: the next
// heartbeat answers `lost` for it (without sending it, so the server takes
// it back as omitted) and the `lost` callback, if set, is called at once so
// the pool can kill those jobs before they run elsewhere.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "client/http_client.h"
#include "client/worker_session.h"
#include "core/thread_annotations.h"
#include "protocol/backend.h"

namespace jobwarden::client {

struct RemoteBackendOptions {
  HttpClientOptions http;
  Duration fetch_retry = std::chrono::seconds(1);      // Default: 1 s, then the pool's own backoff
  Duration heartbeat_retry = std::chrono::seconds(2);  // Default: 2 s, then the pool retries sooner
  Duration settle_retry = std::chrono::minutes(2);     // Default: 2 min for complete and fail
  bool open_session = true;                            // Default: on (tests of the protocol may skip it)
};

class RemoteBackend final : public Backend {
 public:
  explicit RemoteBackend(RemoteBackendOptions options);
  ~RemoteBackend() override;  // stops the session thread
  RemoteBackend(const RemoteBackend&) = delete;
  RemoteBackend& operator=(const RemoteBackend&) = delete;

  // Called on the session thread. Set before Register().
  using CancelCallback = std::function<void(JobId id, std::int64_t token, CancelReason reason)>;
  using LostCallback = std::function<void(const std::vector<std::pair<JobId, std::int64_t>>& condemned)>;
  void SetCancelCallback(CancelCallback cb) { on_cancel_ = std::move(cb); }
  void SetLostCallback(LostCallback cb) { on_lost_ = std::move(cb); }

  // Registers (server-issued id and session epoch) and opens the session.
  Result<std::string> Register(const WorkerRecord& worker) override;
  Status Deregister(const std::string& worker_id) override;
  Result<std::vector<Job>> Fetch(const FetchRequest& request, Duration wait) override;
  Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& request) override;
  Result<std::vector<Status>> CompleteMany(const std::vector<CompleteRequest>& requests) override;
  Status Fail(const FailRequest& request) override;
  Result<BatchInfo> SubmitBatch(JobId parent, std::int64_t token, const BatchRequest& request) override;
  void WakeAll() override;

  bool session_connected() const { return session_ && session_->connected(); }
  std::int64_t session_opens() const { return session_ ? session_->opens() : 0; }

 private:
  using Lease = std::pair<JobId, std::int64_t>;
  Result<nlohmann::json> RegisterCall(const WorkerRecord& worker);
  // Registers again under the same id (the server forgot or gave up on us).
  void Reregister();
  // The worker's calls answered 404/409 about the worker itself (error field "worker_id").
  static bool WorkerUnknown(const Status& s);
  void SessionLost();
  void Settled(const Lease& lease);

  const RemoteBackendOptions options_;
  HttpClient http_;        // heartbeat, complete, fail, register
  HttpClient fetch_http_;  // long-polls only
  CancelCallback on_cancel_;
  LostCallback on_lost_;
  std::unique_ptr<WorkerSession> session_;
  std::atomic<bool> shut_down_{false};

  Mutex mu_;
  WorkerRecord record_ GUARDED_BY(mu_);        // as registered, for re-registration
  std::set<Lease> held_ GUARDED_BY(mu_);       // leased and not settled
  std::set<Lease> condemned_ GUARDED_BY(mu_);  // held when the session was lost
};

}  // namespace jobwarden::client
