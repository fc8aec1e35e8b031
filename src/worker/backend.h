// The one interface a worker talks to: an engine in this process (embedded
// mode, LocalBackend) or a server over HTTP (client/, next). The worker knows
// nothing of storage.
#pragma once

#include <string>
#include <vector>

#include "core/job.h"
#include "core/status.h"
#include "engine/engine.h"

namespace jobwarden {

// Safe for concurrent use.
class Backend {
 public:
  virtual ~Backend() = default;

  // Registers the worker; returns its id.
  virtual Result<std::string> Register(const WorkerRecord& worker) = 0;
  virtual Status Deregister(const std::string& worker_id) = 0;
  // Leases up to request.max jobs; when none is available, waits up to `wait`
  // for one (long-poll) and returns as soon as one can be leased.
  virtual Result<std::vector<Job>> Fetch(const FetchRequest& request, Duration wait) = 0;
  virtual Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& request) = 0;
  virtual Result<std::vector<Status>> CompleteMany(const std::vector<CompleteRequest>& requests) = 0;
  virtual Status Fail(const FailRequest& request) = 0;
  // Shutdown: every waiting Fetch returns at once, and later ones return nothing.
  virtual void WakeAll() = 0;
};

}  // namespace jobwarden
