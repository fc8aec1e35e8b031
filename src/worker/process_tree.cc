#include "worker/process_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace jobwarden {

namespace {

constexpr std::size_t kMaxProcesses = 100'000;  // a bound on the walk, against pathological trees
constexpr std::size_t kMaxEnvironBytes = 4 * 1024 * 1024;

// Reads a small /proc file; empty when it cannot be read.
std::string ReadProcFile(const std::string& path, std::size_t limit) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[16 * 1024];
  while (out.size() < limit) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

template <typename F>
void ForEachNumericEntry(const std::string& dir_path, F&& f) {
  DIR* dir = ::opendir(dir_path.c_str());
  if (dir == nullptr) return;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long v = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || v <= 0) continue;
    f(static_cast<pid_t>(v));
  }
  ::closedir(dir);
}

void AppendPids(const std::string& text, std::vector<pid_t>& out) {
  const char* p = text.c_str();
  while (*p != '\0') {
    char* end = nullptr;
    const long v = std::strtol(p, &end, 10);
    if (end == p) break;
    if (v > 0) out.push_back(static_cast<pid_t>(v));
    p = end;
  }
}

// Whether this kernel has /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN),
// asked once: the walk then reads each file without probing it first.
bool HaveChildrenFiles() {
  static const bool have = ::access(("/proc/self/task/" + std::to_string(::gettid()) + "/children").c_str(), R_OK) == 0;
  return have;
}

// Children of `pid` through /proc/PID/task/*/children; false when the kernel
// has no such file.
bool ChildrenOf(pid_t pid, std::vector<pid_t>& out) {
  if (!HaveChildrenFiles()) return false;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  // A task that is gone has no children: its file cannot be read, and is skipped.
  ForEachNumericEntry(task_dir, [&](pid_t tid) {
    AppendPids(ReadProcFile(task_dir + "/" + std::to_string(tid) + "/children", 1 << 20), out);
  });
  return true;
}

// Parent of every process, from /proc/*/stat (field 4, after the command in parentheses).
std::unordered_map<pid_t, pid_t> ParentMap() {
  std::unordered_map<pid_t, pid_t> parent;
  ForEachNumericEntry("/proc", [&](pid_t pid) {
    const std::string stat = ReadProcFile("/proc/" + std::to_string(pid) + "/stat", 4096);
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) return;
    // ") S PPID ..."
    const char* p = stat.c_str() + close + 2;
    while (*p != '\0' && *p != ' ') ++p;
    parent[pid] = static_cast<pid_t>(std::strtol(p, nullptr, 10));
  });
  return parent;
}

}  // namespace

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

bool PidfdSignal(int pidfd, int sig) {
#ifdef SYS_pidfd_send_signal
  return ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0;
#else
  errno = ENOSYS;
  return false;
#endif
}

std::vector<pid_t> ProcessDescendants(pid_t root, const std::function<bool(pid_t)>& prune) {
  std::vector<pid_t> out;
  std::unordered_set<pid_t> seen{root};
  std::vector<pid_t> frontier{root};
  bool use_children_files = true;
  while (!frontier.empty() && out.size() < kMaxProcesses) {
    const pid_t pid = frontier.back();
    frontier.pop_back();
    std::vector<pid_t> kids;
    if (!ChildrenOf(pid, kids)) {
      use_children_files = false;
      break;
    }
    for (pid_t k : kids) {
      if (!seen.insert(k).second || (prune && prune(k))) continue;
      out.push_back(k);
      frontier.push_back(k);
    }
  }
  if (use_children_files) return out;

  // Fallback: one scan of /proc, then a walk of the parent links.
  out.clear();
  std::unordered_multimap<pid_t, pid_t> children;
  for (const auto& [pid, ppid] : ParentMap()) children.emplace(ppid, pid);
  seen = {root};
  frontier = {root};
  while (!frontier.empty() && out.size() < kMaxProcesses) {
    const pid_t pid = frontier.back();
    frontier.pop_back();
    auto [begin, end] = children.equal_range(pid);
    for (auto it = begin; it != end; ++it) {
      if (!seen.insert(it->second).second || (prune && prune(it->second))) continue;
      out.push_back(it->second);
      frontier.push_back(it->second);
    }
  }
  return out;
}

int ProcessEnvEntryIndex(pid_t pid, const std::vector<std::string_view>& entries) {
  if (entries.empty()) return -1;
  const std::string env = ReadProcFile("/proc/" + std::to_string(pid) + "/environ", kMaxEnvironBytes);
  std::size_t pos = 0;
  while (pos < env.size()) {
    std::size_t end = env.find('\0', pos);
    if (end == std::string::npos) end = env.size();
    const std::string_view e = std::string_view(env).substr(pos, end - pos);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (e == entries[i]) return static_cast<int>(i);
    }
    pos = end + 1;
  }
  return -1;
}

bool ProcessHasEnvEntry(pid_t pid, std::string_view entry) { return ProcessEnvEntryIndex(pid, {entry}) == 0; }

bool SignalProcessIf(pid_t pid, int sig, bool (*still_ours)(pid_t, std::string_view), std::string_view arg) {
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    if (errno == ESRCH) return false;
    // No pidfds: check, then signal by pid (a small reuse window remains).
    if (still_ours != nullptr && !still_ours(pid, arg)) return false;
    return ::kill(pid, sig) == 0;
  }
  bool sent = false;
  if (still_ours == nullptr || still_ours(pid, arg)) sent = PidfdSignal(pidfd, sig);
  ::close(pidfd);
  return sent;
}

}  // namespace jobwarden
