// A handler's stdin and its captured output: the job written to stdin as the
// pipe takes it, and the bounded tail of stdout+stderr kept for ExitInfo.
// Supervisor thread only.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>

#include "worker/subprocess_internal.h"

namespace jobwarden::subprocess_internal {

namespace {

// A SIGPIPE raised by a write to a closed stdin pipe stays pending on the
// supervisor thread (which blocks it); take it so it never piles up.
void ConsumePendingSigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  const timespec zero{0, 0};
  while (::sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
  }
}

}  // namespace

std::string OutputTail(const std::string& raw, std::size_t limit) {
  std::size_t start = raw.size() > limit ? raw.size() - limit : 0;
  while (start < raw.size() && start > 0 && (static_cast<unsigned char>(raw[start]) & 0xC0) == 0x80) ++start;
  std::string out;
  out.reserve(raw.size() - start);
  std::size_t i = start;
  while (i < raw.size()) {
    const auto c = static_cast<unsigned char>(raw[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = len > 0 && i + len <= raw.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(raw[i + k]) & 0xC0) == 0x80;
    }
    if (valid && (c == 0xC0 || c == 0xC1 || c > 0xF4)) valid = false;
    if (valid) {
      out.append(raw, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  return out;
}

void SupervisorImpl::WriteInput(Attempt& a) {
  while (a.in_ && a.in_off_ < a.in_data_.size()) {
    const ssize_t n = ::write(a.in_.get(), a.in_data_.data() + a.in_off_, a.in_data_.size() - a.in_off_);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      if (errno == EPIPE) {
        ConsumePendingSigpipe();
        spdlog::debug("{}: closed its stdin before reading all of the job", a.name_);
      } else {
        spdlog::warn("{}: writing the job to its stdin: {}", a.name_, ErrnoText(errno));
      }
      break;
    }
    a.in_off_ += static_cast<std::size_t>(n);
  }
  Unwatch(a.in_);
  std::string().swap(a.in_data_);
}

void SupervisorImpl::ReadOutput(Attempt& a) {
  char buf[kReadChunk];
  for (int i = 0; i < 8 && a.out_; ++i) {
    const ssize_t n = ::read(a.out_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      if (n < 0) spdlog::warn("{}: reading its output: {}", a.name_, ErrnoText(errno));
      Unwatch(a.out_);
      return;
    }
    if (a.tail_limit_ == 0) continue;
    a.tail_.append(buf, static_cast<std::size_t>(n));
    // Bounded: trim once it is twice the tail, so trimming costs O(1) per byte.
    if (a.tail_.size() > 2 * a.tail_limit_) a.tail_.erase(0, a.tail_.size() - a.tail_limit_);
  }
}

}  // namespace jobwarden::subprocess_internal
