// ReapRouter: exit statuses of this process's children, reaped by any
// subprocess supervisor and routed by pid to the supervisor that owns the
// child. Part of the supervisor's internals (see subprocess_internal.h).
//
// Every supervisor reaps with waitpid(-1), so one may reap another's attempt
// leader (or an orphaned grandchild, re-parented to the subreaper worker);
// routing through one process-wide table keeps each status for its owner.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <unordered_map>

#include "core/thread_annotations.h"
#include "worker/subprocess_internal.h"

namespace jobwarden::subprocess_internal {

class ReapRouter {
 public:
  static ReapRouter& Get();

  // Runs `spawn` (which starts a child and returns its pid, or -1) with the
  // router locked, and owns the child before any waitpid(-1) of another
  // supervisor in this process can route its exit: a handler that exits at
  // once never has its status taken for an orphan's.
  template <typename Spawn>
  pid_t SpawnOwned(Spawn&& spawn, const std::shared_ptr<Waker>& owner) {
    MutexLock lock(mu_);
    const pid_t pid = spawn();
    if (pid > 0) owners_[pid] = owner;
    return pid;
  }
  void Disown(pid_t pid);
  // Records a reaped status; wakes its owner. False for a pid nobody owns (an orphan).
  bool Route(pid_t pid, int status);
  // Whether `pid` is the live leader of some supervisor's attempt (not yet reaped).
  bool Owns(pid_t pid);
  std::optional<int> Take(pid_t pid);

 private:
  Mutex mu_;
  std::unordered_map<pid_t, std::shared_ptr<Waker>> owners_ GUARDED_BY(mu_);
  std::unordered_map<pid_t, int> statuses_ GUARDED_BY(mu_);
};

// Reaps every child that has exited, routing each status by pid.
void ReapAll();

}  // namespace jobwarden::subprocess_internal
