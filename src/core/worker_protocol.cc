#include "core/worker_protocol.h"

namespace jobwarden {

std::string_view ToString(HeartbeatAnswer a) {
  switch (a) {
    case HeartbeatAnswer::kContinue: return "continue";
    case HeartbeatAnswer::kCancel: return "cancel";
    case HeartbeatAnswer::kLost: return "lost";
  }
  return "lost";
}

}  // namespace jobwarden
