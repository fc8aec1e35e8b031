#include "net/socket_stream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/busy_poll.h"

namespace jobwarden::net {

namespace {

namespace asio_error = boost::asio::error;
using SteadyClock = std::chrono::steady_clock;

boost::system::error_code ErrnoCode(int err) { return {err, boost::system::system_category()}; }

int PollMs(SteadyClock::duration d) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return ms <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>(ms, 1 << 30));
}

// poll(2) on fd (and stop_fd) until `deadline`; EINTR restarts with the time left.
int PollUntil(pollfd* fds, nfds_t n, SteadyClock::time_point deadline) {
  while (true) {
    const int r = ::poll(fds, n, PollMs(deadline - SteadyClock::now()));
    if (r >= 0 || errno != EINTR) return r;
  }
}

}  // namespace

SocketStream::SocketStream(int fd) : fd_(fd) {
  const int flags = ::fcntl(fd_, F_GETFL, 0);
  if (flags >= 0 && (flags & O_NONBLOCK) == 0) ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

SocketStream::~SocketStream() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

// The one resolve-and-try loop of Connect and Listen: `open` gets each address
// of host:port in turn and returns a descriptor, or -1 with `why` set; the
// first descriptor wins. `what` ("connect to", "listen on") starts the errors.
template <typename Open>
Result<int> FirstAddress(const std::string& host, int port, bool passive, const char* what, Open open) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
    return Status::Unavailable(std::string(what) + " " + where + ": " + ::gai_strerror(rc));
  }
  std::string why = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = open(*a, why);
    if (fd >= 0) {
      ::freeaddrinfo(found);
      return fd;
    }
  }
  ::freeaddrinfo(found);
  return Status::Unavailable(std::string(what) + " " + where + ": " + why);
}

}  // namespace

Result<int> SocketStream::Connect(const std::string& host, int port, Duration timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  return FirstAddress(host, port, /*passive=*/false, "connect to", [&](const addrinfo& a, std::string& why) {
    const int fd = ::socket(a.ai_family, a.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a.ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      return -1;
    }
    int rc = ::connect(fd, a.ai_addr, a.ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = PollUntil(&p, 1, deadline);
      if (rc == 0) {
        errno = ETIMEDOUT;
        rc = -1;
      } else if (rc > 0) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        rc = err == 0 ? 0 : -1;
      }
    }
    if (rc != 0) {
      why = std::strerror(errno);
      ::close(fd);
      return -1;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  });
}

Result<Listener> Listen(const std::string& host, int port, int backlog) {
  JW_ASSIGN_OR_RETURN(
      const int fd, FirstAddress(host, port, /*passive=*/true, "listen on", [&](const addrinfo& a, std::string& why) {
        const int s = ::socket(a.ai_family, a.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a.ai_protocol);
        if (s < 0) {
          why = std::strerror(errno);
          return -1;
        }
        const int one = 1;
        ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(s, a.ai_addr, a.ai_addrlen) != 0 || ::listen(s, backlog) != 0) {
          why = std::strerror(errno);
          ::close(s);
          return -1;
        }
        return s;
      }));
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  const int bound = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(ss).sin6_port
                                                   : reinterpret_cast<sockaddr_in&>(ss).sin_port);
  return Listener{fd, bound};
}

bool SocketStream::WaitReadable(Duration timeout, int stop_fd) const {
  pollfd p[2] = {{fd_, POLLIN | POLLRDHUP, 0}, {stop_fd, POLLIN, 0}};
  const int n = PollUntil(p, stop_fd >= 0 ? 2 : 1, SteadyClock::now() + timeout);
  return n > 0 && p[0].revents != 0;
}

bool SocketStream::Readable() const {
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0;
}

bool SocketStream::BusyPollReadable(std::chrono::microseconds limit) const {
  const auto until = SteadyClock::now() + limit;
  while (true) {
    if (Readable()) return true;
    if (SteadyClock::now() >= until) return false;
    sched_yield();
  }
}

BusyPoller::Outcome BusyPoller::Poll(const SocketStream& stream, std::chrono::steady_clock::duration last_wait) {
  if (limit_.count() <= 0 || last_wait > limit_) return Outcome::kSkipped;
  if (polling_.exchange(true, std::memory_order_acquire)) return Outcome::kSkipped;
  const bool caught = stream.BusyPollReadable(limit_);
  polling_.store(false, std::memory_order_release);
  return caught ? Outcome::kCaught : Outcome::kMissed;
}

bool SocketStream::PeerOpen() const {
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return true;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return false;
  char c;
  const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

void SocketStream::Shutdown() { ::shutdown(fd_, SHUT_RDWR); }

std::string SocketStream::PeerAddress() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char text[INET6_ADDRSTRLEN] = {};
  const void* addr = ss.ss_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6&>(ss).sin6_addr)
                                              : static_cast<const void*>(&reinterpret_cast<sockaddr_in&>(ss).sin_addr);
  if (::inet_ntop(ss.ss_family, addr, text, sizeof text) == nullptr) return "";
  return text;
}

bool SocketStream::Await(short events, boost::system::error_code& ec) const {
  pollfd p{fd_, events, 0};
  const int n = PollUntil(&p, 1, std::min(deadline_, SteadyClock::now() + timeout_));
  if (n > 0) return true;
  ec = n == 0 ? asio_error::timed_out : ErrnoCode(errno);
  return false;
}

std::size_t SocketStream::Read(void* data, std::size_t size, boost::system::error_code& ec) {
  ec = {};
  while (true) {
    const ssize_t n = ::recv(fd_, data, size, 0);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      ec = asio_error::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = ErrnoCode(errno);
      return 0;
    }
    if (!Await(POLLIN, ec)) return 0;
  }
}

std::size_t SocketStream::Write(const iovec* iov, std::size_t count, boost::system::error_code& ec) {
  ec = {};
  if (count == 0) return 0;
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = count;
  while (true) {
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = ErrnoCode(errno);
      return 0;
    }
    if (!Await(POLLOUT, ec)) return 0;
  }
}

}  // namespace jobwarden::net
