#include "os/process_identity.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace jobwarden {

namespace {

std::optional<std::string> ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

}  // namespace

std::optional<std::int64_t> ProcessStartTime(pid_t pid) {
  auto line = ReadFirstLine("/proc/" + std::to_string(pid) + "/stat");
  if (!line) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
  const auto close = line->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line->substr(close + 2));
  std::string field;
  // Fields after the name start at 3 (state); start time is field 22.
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return std::nullopt;
    if (i == 3 && field == "Z") return std::nullopt;  // a zombie has exited
  }
  try {
    return std::stoll(field);
  } catch (const std::exception&) {
    return std::nullopt;  // unparsable /proc content: treat as unknown process
  }
}

ProcessIdentity SelfIdentity() {
  ProcessIdentity id;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) id.host = host;
  id.pid = getpid();
  id.start_time = ProcessStartTime(getpid());
  id.boot_id = ReadFirstLine("/proc/sys/kernel/random/boot_id");
  char ns[128] = {};
  const ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
  if (n > 0) id.pid_namespace = std::string(ns, static_cast<std::size_t>(n));
  return id;
}

bool SeenGoneOnThisHost(const ProcessIdentity& self, const ProcessIdentity& who) {
  if (!self.boot_id || !who.boot_id || *self.boot_id != *who.boot_id) return false;
  if (!self.pid_namespace || !who.pid_namespace || *self.pid_namespace != *who.pid_namespace) return false;
  if (!who.start_time || who.pid <= 0) return false;
  const auto now_start = ProcessStartTime(static_cast<pid_t>(who.pid));
  return !now_start || *now_start != *who.start_time;
}

}  // namespace jobwarden
