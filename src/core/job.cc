#include "core/job.h"

#include <charconv>

namespace jobwarden {

bool IsValidName(std::string_view s, std::size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.' || c == ':' || c == '/';
    if (!ok) return false;
  }
  return true;
}

std::string_view ToString(CancelReason r) {
  switch (r) {
    case CancelReason::kNone: return "";
    case CancelReason::kUser: return "cancel";
    case CancelReason::kTimeout: return "timeout";
    case CancelReason::kStalled: return "stalled";
    case CancelReason::kDeadline: return "deadline";
  }
  return "";
}

std::optional<CancelReason> ParseCancelReason(std::string_view s) {
  for (CancelReason r : {CancelReason::kNone, CancelReason::kUser, CancelReason::kTimeout, CancelReason::kStalled,
                         CancelReason::kDeadline}) {
    if (ToString(r) == s) return r;
  }
  return std::nullopt;
}

std::string FormatJobId(JobId id) { return std::to_string(id); }

Result<JobId> ParseJobId(std::string_view text) {
  JobId id = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || ptr != text.data() + text.size() || id <= 0) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not a job id");
  }
  return id;
}

}  // namespace jobwarden
