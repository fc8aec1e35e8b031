// Command handlers: a job kind mapped to a command line (any language).
//
// The contract (DESIGN.md "Command-handler contract", docs/worker.md):
// - stdin: the job JSON; environment: JOBWARDEN_JOB_ID, JOBWARDEN_JOB_KIND,
//   JOBWARDEN_ATTEMPT, JOBWARDEN_DEADLINE (RFC 3339, the nearest limit),
//   JOBWARDEN_LEASE_TOKEN, JOBWARDEN_CONTROL_FD=3, the kind's `env`, and the
//   worker's environment without its own secrets (every JOBWARDEN_* variable,
//   DATABASE_URL and PG* are removed).
// - fd 3: JSON lines for progress, checkpoint, result and classified errors.
// - Outcome precedence: stopped by the worker (the limit or reason that caused
//   it; only when its signal reached the process before it ended) > killed by
//   a signal (`crashed`, with the signal's name) > fd-3 error > exit code (0
//   success, 75 transient, others per kind, default transient) > fd-3 result.
// - The kind's `env` cannot set JOBWARDEN_* names (they are the worker's).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/kind.h"
#include "worker/subprocess.h"
#include "worker/worker_pool.h"

namespace jobwarden {

class CommandRunner final : public JobRunner {
 public:
  CommandRunner(SubprocessSupervisor& supervisor, CommandKind kind);
  RunOutcome Run(const std::shared_ptr<ActiveJob>& active) override;

 private:
  SubprocessSupervisor& supervisor_;
  CommandKind kind_;
};

// The handler environment for `job` (see the contract above).
std::vector<std::string> HandlerEnvironment(const Job& job, const CommandKind& kind);

// Maps how an attempt's process ended to an outcome (the precedence above).
// `stop` is why the worker stopped it, if it did.
RunOutcome FromExitStatus(const Job& job, const ExitInfo& exit, StopReason stop,
                          const std::optional<ControlMessage>& fd3_error, const std::optional<std::string>& fd3_result,
                          const std::map<int, ErrorClass>& exit_codes);

}  // namespace jobwarden
