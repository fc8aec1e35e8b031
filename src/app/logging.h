// The log of a long-running command: spdlog to stderr, one line per event.
#pragma once

namespace jobwarden {

// Sends the default logger to stderr with timestamps. The level comes from
// $JOBWARDEN_LOG_LEVEL (trace, debug, info, warn, error). Default: info.
// Idempotent: reuses the "jobwarden" logger if it exists.
void InitProcessLogging();

}  // namespace jobwarden
