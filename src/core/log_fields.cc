#include "core/log_fields.h"

namespace jobwarden {

namespace {

thread_local const LogFields* current_fields = nullptr;

}  // namespace

std::string_view ToString(LogFormat f) {
  switch (f) {
    case LogFormat::kText: return "text";
    case LogFormat::kJson: return "json";
  }
  return "text";
}

std::optional<LogFormat> ParseLogFormat(std::string_view s) {
  if (s == "text") return LogFormat::kText;
  if (s == "json") return LogFormat::kJson;
  return std::nullopt;
}

LogFields JobLogFields(const Job& job, std::string_view worker_id) {
  LogFields f;
  f.job_id = job.id;
  f.kind = job.kind;
  // Attempt 0 is a job never fetched: no attempt to name.
  if (job.attempt > 0) f.attempt = job.attempt;
  f.worker_id = worker_id;
  return f;
}

const LogFields* CurrentLogFields() { return current_fields; }

ScopedLogFields::ScopedLogFields(const LogFields& fields) : fields_(fields), previous_(current_fields) {
  if (previous_ != nullptr && previous_->job_id == fields_.job_id) {
    if (fields_.kind.empty()) fields_.kind = previous_->kind;
    if (!fields_.attempt) fields_.attempt = previous_->attempt;
    if (fields_.worker_id.empty()) fields_.worker_id = previous_->worker_id;
  }
  current_fields = &fields_;
}

ScopedLogFields::~ScopedLogFields() { current_fields = previous_; }

}  // namespace jobwarden
