#include "worker/job_context.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "core/lifecycle.h"
#include "core/log_fields.h"

namespace jobwarden {

std::string_view ToString(StopReason r) {
  switch (r) {
    case StopReason::kNone: return "none";
    case StopReason::kCancel: return "cancel";
    case StopReason::kTimeout: return "timeout";
    case StopReason::kDeadline: return "deadline";
    case StopReason::kStalled: return "stalled";
    case StopReason::kDrain: return "drain";
    case StopReason::kLeaseLost: return "lease lost";
    case StopReason::kSelfFence: return "lease not renewed";
  }
  return "none";
}

std::optional<Timestamp> JobContext::deadline() const { return AttemptDeadline(active_->job); }

std::optional<std::string> JobContext::last_checkpoint() const {
  MutexLock lock(active_->mu);
  return active_->checkpoint;
}

Status RecordCheckpoint(ActiveJob& a, std::string_view json) {
  if (json.size() > a.max_checkpoint_bytes) {
    return Status::CheckpointTooLarge("checkpoint of " + std::to_string(json.size()) + " bytes is over the limit of " +
                                      std::to_string(a.max_checkpoint_bytes) + " bytes; kept the previous one");
  }
  std::string compact;
  try {
    compact = nlohmann::json::parse(json).dump();
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("checkpoint is not valid JSON (kept the previous one): ") + e.what());
  }
  {
    MutexLock lock(a.mu);
    a.checkpoint = std::move(compact);
    a.checkpoint_dirty = true;
    a.checkpoint_set = true;
  }
  if (a.notifier) a.notifier->Notify();
  return Status::Ok();
}

void RecordProgress(ActiveJob& a, Progress progress) {
  progress.updated_at.reset();  // the engine stamps it
  MutexLock lock(a.mu);
  a.progress = std::move(progress);
  a.progress_dirty = true;
}

void JobContext::ReportProgress(std::int64_t done, std::optional<std::int64_t> total, std::string message) {
  RecordProgress(*active_, Progress{done, total, std::move(message), std::nullopt});
}

void JobContext::Checkpoint(std::string json) {
  Status s = RecordCheckpoint(*active_, json);
  if (!s.ok()) Log(spdlog::level::err, s.message());
}

void JobContext::SetResult(std::string json) {
  MutexLock lock(active_->mu);
  active_->result = std::move(json);
}

Result<BatchInfo> JobContext::SubmitBatch(const BatchRequest& batch) {
  ThrowIfStopped();
  if (!active_->submit_batch) return Status::NotSupported("this job's worker cannot submit batches");
  return active_->submit_batch(batch);
}

void JobContext::Log(spdlog::level::level_enum level, std::string_view message) const {
  // A handler may log from a thread of its own: the fields come with the call.
  const ScopedLogFields log_fields(JobLogFields(active_->job));
  spdlog::log(level, "job {} [{}] attempt {}: {}", active_->job.id, active_->job.kind, active_->job.attempt, message);
}

}  // namespace jobwarden
