// Who a process is, precisely enough to say "that process is gone" on this
// host (DESIGN.md timing rules): a worker's death is "seen" only when the boot
// id, the pid namespace, the pid and the process start time all match a
// process that no longer exists.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace jobwarden {

struct ProcessIdentity {
  std::string host;
  std::int64_t pid = 0;
  std::optional<std::int64_t> start_time;    // clock ticks since boot, /proc/PID/stat field 22
  std::optional<std::string> boot_id;        // /proc/sys/kernel/random/boot_id
  std::optional<std::string> pid_namespace;  // readlink /proc/self/ns/pid, e.g. "pid:[4026531836]"
};

// This process.
ProcessIdentity SelfIdentity();

// The start time of `pid`, or nullopt when no such process exists (or it is a zombie).
std::optional<std::int64_t> ProcessStartTime(pid_t pid);

// True when `who` ran on this host (same boot and pid namespace) and is gone:
// its pid is absent or now belongs to a process that started at another time.
// False when it is alive or when it cannot be known from here.
bool SeenGoneOnThisHost(const ProcessIdentity& self, const ProcessIdentity& who);

}  // namespace jobwarden
