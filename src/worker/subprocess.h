// Running command handlers: one process group per attempt, supervised by one
// long-lived thread.
//
// Why one supervisor thread does all forking, reaping and pipe reading:
// - PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so
//   forking from short-lived threads would kill handlers at random; forking
//   from one thread that lives as long as the worker ties handlers to the worker.
// - The worker is a child subreaper (PR_SET_CHILD_SUBREAPER), so orphaned
//   grandchildren are re-parented to it and must be reaped by someone: the
//   supervisor reaps every child (waitpid(-1)) and routes exit statuses by pid.
// - One epoll loop over pidfds and pipes costs no thread per job.
// - Handlers are spawned with vfork semantics (clone(CLONE_VM | CLONE_VFORK)
//   on a stack of their own): no page table of the (large, multithreaded)
//   worker is copied, and the child makes only async-signal-safe calls on
//   data built beforehand until it execs. An exec failure comes back with its
//   errno through memory the child shares until then.
//
// An attempt's processes are found two ways when it must be stopped: its
// process group (SIGTERM, then SIGKILL after the grace), and an environment
// marker (JOBWARDEN_ATTEMPT_MARK) inherited by every descendant, so even a
// grandchild that called setsid() is killed with the attempt. When an attempt's
// leader exits, whatever it left running is killed too: nothing outlives its attempt.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error_class.h"
#include "core/job.h"
#include "core/log_fields.h"
#include "core/status.h"
#include "core/time.h"

namespace jobwarden {

// One line a handler wrote on fd 3 (JOBWARDEN_CONTROL_FD), parsed.
struct ControlMessage {
  enum class Type { kProgress, kCheckpoint, kResult, kError, kBatch };
  Type type = Type::kProgress;
  Progress progress;                                // kProgress
  std::string json;                                 // kCheckpoint / kResult / kBatch: compact JSON text
  ErrorClass error_class = ErrorClass::kTransient;  // kError: transient, permanent or rate_limited only
  std::string error_message;                        // kError
  std::optional<Duration> retry_after;              // kError
};

// Parses one fd-3 line. Malformed lines (bad JSON, unknown key, a class a
// handler may not declare) return InvalidArgument with the reason; callers log
// and ignore them, never fail the job for it.
Result<ControlMessage> ParseControlLine(std::string_view line);

struct CommandSpec {
  std::vector<std::string> argv;  // argv[0] is a path or a name looked up in PATH
  // The complete environment of the handler ("KEY=VALUE"). The caller builds
  // it: the worker's own secrets are never passed on.
  std::vector<std::string> env;
  std::string stdin_data;  // written to the handler's stdin, then stdin is closed
  std::optional<std::string> cwd;
  std::size_t output_tail_bytes = 64 * 1024;   // Default: 64 KiB of stdout+stderr kept
  std::size_t max_control_line = 1024 * 1024;  // Default: 1 MiB; longer fd-3 lines are ignored and logged
  std::string name;  // for log lines, e.g. "job 12 [download] attempt 2"; default: "handler pid N"
  // The job it runs, for the fields of JSON log lines (core/log_fields.h).
  // Default: none (a persistent process serves many jobs).
  OwnedLogFields log_fields;
};

struct ExitInfo {
  bool signaled = false;
  int exit_code = 0;          // when !signaled
  int signal = 0;             // when signaled
  bool killed_by_us = false;  // Terminate()/Kill() was called before it exited
  std::string output_tail;    // the last output_tail_bytes of stdout and stderr, interleaved
};

// "SIGSEGV" for 11.
std::string SignalName(int sig);

class SubprocessSupervisor;

// A running attempt. Thread-safe.
class Subprocess {
 public:
  virtual ~Subprocess() = default;
  virtual pid_t pid() const = 0;
  // SIGTERM to the attempt's processes now; SIGKILL to all of them `grace`
  // later if the leader has not exited. Returns at once. Idempotent.
  virtual void Terminate(Duration grace) = 0;
  // SIGKILL to all of the attempt's processes now.
  virtual void Kill() = 0;
  // Blocks until the leader exited, its processes are gone and its pipes are drained.
  virtual ExitInfo Wait() = 0;
  // As Wait, up to `timeout`; nullopt on timeout.
  virtual std::optional<ExitInfo> WaitFor(Duration timeout) = 0;
};

using ControlCallback = std::function<void(const ControlMessage&)>;

// Owns the supervisor thread. Create one per worker process, before starting
// handlers; destroying it kills every attempt still running and joins the thread.
//
// While a supervisor exists it reaps *every* child of this process
// (waitpid(-1)): exit statuses of children that other code forks are
// discarded, so such code must not rely on waitpid() for them. Statuses of
// attempts are routed by pid to their owner, even across supervisors.
// Start fails with a clear error when the program cannot be run ("command not
// found: xyz", "permission denied: ..."), never with a bare exit code 127.
class SubprocessSupervisor {
 public:
  // Makes this process a child subreaper.
  static Result<std::unique_ptr<SubprocessSupervisor>> Create();
  virtual ~SubprocessSupervisor() = default;

  // Starts an attempt in its own process group, with PR_SET_PDEATHSIG(SIGKILL)
  // set from the supervisor thread. `on_control` is called on the supervisor
  // thread for each valid fd-3 line, in order; it must not block.
  virtual Result<std::shared_ptr<Subprocess>> Start(const CommandSpec& spec, ControlCallback on_control) = 0;
};

}  // namespace jobwarden
