// The one interface a worker talks to: an engine in this process (embedded
// mode, LocalBackend) or a server over HTTP (client/, next). The worker knows
// nothing of storage.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "core/batch.h"
#include "core/job.h"
#include "core/status.h"
#include "core/worker_protocol.h"

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
  // CompleteMany, then a Fetch that does not wait, as one write. The pool
  // uses it only where OneWriteCompleteAndFetch() says so: there, a settle and
  // the next lease share a transaction and wait on the same writer anyway; in
  // two calls, a slow complete would hold up fetching. The default makes the
  // two calls.
  virtual bool OneWriteCompleteAndFetch() const { return false; }
  virtual Result<CompleteAndFetchResult> CompleteAndFetch(const std::vector<CompleteRequest>& completions,
                                                          const FetchRequest& fetch) {
    CompleteAndFetchResult out;
    JW_ASSIGN_OR_RETURN(out.completed, CompleteMany(completions));
    // The completes are settled: their answers must reach the pool even if
    // the fetch fails (it leases nothing then, and the pool fetches again).
    auto fetched = Fetch(fetch, Duration(0));
    if (fetched.ok()) {
      out.fetched = std::move(fetched).value();
    } else {
      spdlog::warn("complete-and-fetch: the completes were settled, the fetch failed: {}", fetched.status().ToString());
    }
    return out;
  }
  virtual Status Fail(const FailRequest& request) = 0;
  // A fan-out from inside job `parent` (fd-3 {"batch": ...}, or an
  // in-process handler's JobContext::SubmitBatch), fenced by its lease
  // `token`. Not retried: a lost answer must not submit the batch twice.
  virtual Result<BatchInfo> SubmitBatch(JobId parent, std::int64_t token, const BatchRequest& request) = 0;
  // Shutdown: every waiting Fetch returns at once, and later ones return nothing.
  virtual void WakeAll() = 0;
};

}  // namespace jobwarden
