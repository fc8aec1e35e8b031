// Finding and signalling the processes of one command-handler attempt.
//
// Used by the subprocess supervisor (subprocess.cc). An attempt's processes
// are: its process group, every descendant of its leader, and every
// descendant of this worker whose environment carries the attempt's marker
// (JOBWARDEN_ATTEMPT_MARK=<mark>), which finds a grandchild that called
// setsid() and was re-parented to the worker (a child subreaper).
//
// Signals go through a pidfd where the kernel has them, so a pid that exited
// and was reused between the scan and the signal is never hit.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace jobwarden {

// Every live descendant of `root` (not `root` itself), found through
// /proc/PID/task/TID/children, or by a scan of /proc/*/stat where that file
// does not exist. Best effort: processes may come and go during the walk.
// A descendant for which `prune` returns true is left out with its whole
// subtree (the walk does not read it): callers prune what they know is not
// theirs, since every /proc read costs.
std::vector<pid_t> ProcessDescendants(pid_t root, const std::function<bool(pid_t)>& prune = {});

// Whether /proc/PID/environ holds the entry `entry` ("NAME=VALUE") exactly.
// False when the process is gone or its environment cannot be read.
bool ProcessHasEnvEntry(pid_t pid, std::string_view entry);

// The index in `entries` of the first one that /proc/PID/environ holds
// exactly, reading the environment once; -1 when none (or it cannot be read).
int ProcessEnvEntryIndex(pid_t pid, const std::vector<std::string_view>& entries);

// Signals `pid`, through a pidfd that is taken before `still_ours` is
// checked, so the check and the signal see the same process. `still_ours`
// may be empty. Returns true when the signal was sent.
bool SignalProcessIf(pid_t pid, int sig, bool (*still_ours)(pid_t, std::string_view), std::string_view arg);

// pidfd_open(2) and pidfd_send_signal(2) (glibc 2.36's wrappers lack C
// linkage in C++); -1 / false with errno set where unsupported.
int PidfdOpen(pid_t pid);
bool PidfdSignal(int pidfd, int sig);

}  // namespace jobwarden
