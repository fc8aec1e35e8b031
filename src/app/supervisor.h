// `jobwarden up`'s worker supervisor: keeps N worker processes running, each
// in a numbered slot, and restarts one that dies, with exponential backoff.
//
// Each start of a slot is a new worker with its own id,
// "<id_prefix>-<slot>-<generation>", given to it with `--worker-id`, so that
// when a worker dies the supervisor can say whose jobs to take back at once
// (on_exit; DESIGN.md G1: a supervised child that exited is a death seen).
//
// All logic is in RunOnce(now), which tests drive with a fake ProcessControl;
// Start() runs it in a loop on its own thread (exits are polled, every
// kPollInterval, with waitpid(WNOHANG): no SIGCHLD handler).
//
// Thread-safety: RunOnce runs on one thread at a time (the loop's, or a
// test's); BeginStop, SignalAll, WaitAllExited and pids are safe from any
// thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/owned_thread.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/time.h"

namespace jobwarden {

// How worker processes are started, signalled and reaped.
class ProcessControl {
 public:
  virtual ~ProcessControl() = default;
  // Starts argv[0] with argv; returns its pid.
  virtual Result<pid_t> Spawn(const std::vector<std::string>& argv) = 0;
  virtual void Signal(pid_t pid, int signo) = 0;
  // The wait status of `pid` when it has exited (it is reaped), else nullopt.
  virtual std::optional<int> TryReap(pid_t pid) = 0;
};

// The real one. Spawn forks and execs `exe` (argv[0] is only the name shown)
// with this process's environment plus `env` ("NAME=value", replacing), in
// its own process group (a Ctrl-C reaches only the supervisor, which decides
// what the workers get), with signals unblocked, stdin on /dev/null, no other
// inherited descriptor than stdout/stderr, and SIGKILL as its parent-death
// signal: a supervisor killed with -9 leaves no worker running against a
// server that is gone (the next start's reaper sees them gone and takes
// their jobs back at once). The parent-death signal follows the thread that
// spawned: spawn from a thread that outlives the workers (the loop's).
std::unique_ptr<ProcessControl> MakeProcessControl(std::string exe, std::vector<std::string> env);

// "exited with status 3", "was killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int wait_status);

struct SupervisorOptions {
  std::vector<std::string> argv;  // the worker command; "--worker-id ID" is appended per start
  int workers = 1;
  std::string id_prefix = "up";
  Duration restart_base = std::chrono::seconds(1);   // Default: 1 s, doubled for each quick death in a row
  Duration restart_cap = std::chrono::seconds(30);   // Default: 30 s
  Duration stable_after = std::chrono::seconds(30);  // Default: a worker that ran 30 s restarts after base again
};

struct SupervisedExit {
  int slot = 0;
  std::string worker_id;
  pid_t pid = 0;
  int wait_status = 0;
  bool stopping = false;  // the supervisor was stopping (the exit was asked for)
};

class WorkerSupervisor {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  using OnExit = std::function<void(const SupervisedExit&)>;
  static constexpr Duration kPollInterval = std::chrono::milliseconds(100);

  // `on_exit` is called on RunOnce's thread, with no lock held, once per
  // worker exit (before its restart is scheduled).
  WorkerSupervisor(SupervisorOptions options, ProcessControl& control, OnExit on_exit);
  // Stop()s.
  ~WorkerSupervisor();
  WorkerSupervisor(const WorkerSupervisor&) = delete;
  WorkerSupervisor& operator=(const WorkerSupervisor&) = delete;

  // One pass at `now`: reaps every worker that exited (logs it with its wait
  // status, calls on_exit, schedules its restart with backoff), then, unless
  // stopping, starts every slot whose restart is due. Returns when the next
  // pass is due at the latest (kPollInterval from now, or sooner for a restart).
  SteadyTime RunOnce(SteadyTime now);

  // Runs RunOnce on a thread until Stop().
  void Start();
  // No more (re)starts; SIGTERM to every running worker (they drain and hand
  // their jobs back). Idempotent.
  void BeginStop();
  void SignalAll(int signo);
  // True once no worker runs (all reaped by RunOnce); false after `timeout`.
  bool WaitAllExited(Duration timeout);
  // BeginStop(), then ends the loop; a worker still running is SIGKILLed and
  // reaped (on_exit is called for it). Idempotent.
  void Stop();

  std::vector<pid_t> pids() const;
  int running() const;

 private:
  struct Slot {
    int index = 0;
    int generation = 0;
    pid_t pid = 0;  // 0: not running
    std::string worker_id;
    SteadyTime started{};
    SteadyTime restart_at{};  // when pid == 0: the next start
    int quick_deaths = 0;     // in a row; sets the backoff
  };
  Duration BackoffFor(int quick_deaths) const;
  void Loop(const std::stop_token& stop) EXCLUDES(mu_);
  // REQUIRES: mu_ held. No slot has a running worker.
  bool AllExitedLocked() const REQUIRES(mu_);

  const SupervisorOptions options_;
  ProcessControl& control_;
  const OnExit on_exit_;

  mutable Mutex mu_;
  CondVar changed_;  // a worker exited; Stop() wakes the loop's wait through the OwnedThread's wake
  std::vector<Slot> slots_ GUARDED_BY(mu_);  // only RunOnce's thread changes pids
  bool stopping_ GUARDED_BY(mu_) = false;
  OwnedThread thread_;  // the RunOnce loop; joined by Stop()
};

}  // namespace jobwarden
