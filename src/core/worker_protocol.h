// The worker protocol's vocabulary (DESIGN.md "Interfaces", the worker
// protocol): what a worker asks (fetch, heartbeat, complete, fail), what it
// is answered, and the worker record it registers. Plain data, no I/O: the
// engine, the stores, the worker's Backend, the HTTP codec and the client all
// speak in these types, so none of them needs another's headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/job.h"
#include "core/lifecycle.h"
#include "core/status.h"
#include "core/time.h"

namespace jobwarden {

struct FetchRequest {
  std::vector<std::string> queues;  // default {"default"}
  int max = 1;
  std::optional<Duration> lease_ttl;  // asked; clamped to [min, max] lease TTL
  std::optional<Duration> grace;      // the worker's kill grace; must be <= granted TTL / 2
  std::string worker_id;
};

enum class HeartbeatAnswer { kContinue, kCancel, kLost };
std::string_view ToString(HeartbeatAnswer a);

struct HeartbeatItem {
  JobId id = 0;
  std::int64_t token = 0;
  std::optional<Progress> progress;       // progress.updated_at is set by the driver to `now`
  std::optional<std::string> checkpoint;  // JSON text
};

// A worker's heartbeat lists every job it holds (DESIGN timing rules). With a
// registered worker_id, a job leased to that worker that neither this nor the
// worker's previous heartbeat listed is taken back as `worker_lost`: a lost
// fetch answer leaks nothing, while a fetch answer or a complete still in
// flight while one heartbeat was built is tolerated.
struct HeartbeatRequest {
  std::string worker_id;
  std::vector<HeartbeatItem> jobs;
};

struct HeartbeatResult {
  JobId id = 0;
  HeartbeatAnswer answer = HeartbeatAnswer::kLost;
  std::optional<Timestamp> lease_expires_at;         // the new expiry, unless lost
  CancelReason cancel_reason = CancelReason::kNone;  // with kCancel
};

struct CompleteRequest {
  JobId id = 0;
  std::int64_t token = 0;
  std::optional<std::string> result;
  std::optional<std::string> checkpoint;
  std::optional<Progress> progress;
};

struct FailRequest {
  JobId id = 0;
  std::int64_t token = 0;
  Failure failure;
  std::optional<std::string> checkpoint;
  std::optional<Progress> progress;
};

// What JobCompleteManyAndFetch answers: per complete item, as JobCompleteMany;
// the leased jobs, as JobFetch.
struct CompleteAndFetchResult {
  std::vector<Status> completed;
  std::vector<Job> fetched;
};

// A worker process known to the engine (the worker registry).
struct WorkerRecord {
  std::string id;
  std::string host;
  std::int64_t pid = 0;
  // Process identity, to tell "that pid is gone" from "that pid was reused":
  // the start time in clock ticks since boot (/proc/PID/stat field 22), the
  // kernel boot id, and the pid namespace. Absent when unknown (remote workers).
  std::optional<std::int64_t> pid_start_time;
  std::optional<std::string> boot_id;
  std::optional<std::string> pid_namespace;
  std::vector<std::string> queues;
  int slots = 0;
  int busy = 0;
  Timestamp started_at{};  // its latest registration: WorkerUpsert of a known id starts a new life
  Timestamp last_seen_at{};
  std::optional<Timestamp> stopped_at;
};

}  // namespace jobwarden
