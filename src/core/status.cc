#include "core/status.h"

namespace jobwarden {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kInvalidArgument: return "invalid_argument";
    case StatusCode::kConflict: return "conflict";
    case StatusCode::kLeaseLost: return "lease_lost";
    case StatusCode::kCheckpointTooLarge: return "checkpoint_too_large";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kNotSupported: return "not_supported";
    case StatusCode::kInternal: return "internal";
  }
  return "internal";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  Status s(code_, std::move(m));
  s.field_ = field_;
  return s;
}

}  // namespace jobwarden
