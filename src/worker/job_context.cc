#include "worker/job_context.h"

#include <spdlog/spdlog.h>

#include "core/lifecycle.h"

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
  std::lock_guard<std::mutex> lock(active_->mu);
  return active_->checkpoint;
}

void JobContext::ReportProgress(std::int64_t done, std::optional<std::int64_t> total, std::string message) {
  std::lock_guard<std::mutex> lock(active_->mu);
  active_->progress = Progress{done, total, std::move(message), std::nullopt};
  active_->progress_dirty = true;
}

void JobContext::Checkpoint(std::string json) {
  {
    std::lock_guard<std::mutex> lock(active_->mu);
    active_->checkpoint = std::move(json);
    active_->checkpoint_dirty = true;
  }
  if (active_->notifier) active_->notifier->Notify();
}

void JobContext::SetResult(std::string json) {
  std::lock_guard<std::mutex> lock(active_->mu);
  active_->result = std::move(json);
}

void JobContext::Log(spdlog::level::level_enum level, std::string_view message) const {
  spdlog::log(level, "job {} [{}] attempt {}: {}", active_->job.id, active_->job.kind, active_->job.attempt, message);
}

}  // namespace jobwarden
