// A connected TCP socket for Boost.Beast's synchronous HTTP reader and
// writer (it models SyncReadStream and SyncWriteStream), with what Beast's
// blocking API leaves out: a deadline on every wait, a stop descriptor that
// interrupts a wait for the next request, and gathered writes.
//
// Why not Asio's socket: its blocking read retries a timed-out receive by
// polling forever (SO_RCVTIMEO cannot bound it), and its timers work only
// with asynchronous operations. Here the descriptor is non-blocking and each
// operation tries the system call first and polls only when it would block,
// so a request whose bytes are already there costs one recv, and an answer
// of header and body costs one sendmsg.
//
// Not safe for concurrent use, except Shutdown(), which any thread may call
// to end the operations in flight.
#pragma once

#include <sys/uio.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <cstddef>
#include <string>

#include "core/status.h"
#include "core/time.h"

namespace jobwarden::net {

class SocketStream {
 public:
  // Takes ownership of a connected socket (made non-blocking here).
  explicit SocketStream(int fd);
  ~SocketStream();
  SocketStream(const SocketStream&) = delete;
  SocketStream& operator=(const SocketStream&) = delete;

  // Connects to host:port within `timeout` (TCP_NODELAY set).
  static Result<int> Connect(const std::string& host, int port, Duration timeout);

  int fd() const { return fd_; }
  // Applies to every later read and write: how long one of them may wait for
  // the peer before it fails with `timed_out`.
  void set_timeout(Duration timeout) { timeout_ = timeout; }
  // A bound on the sum of those waits: no read or write waits past it (a
  // peer that trickles a byte per timeout cannot hold a request open for
  // ever). Until set, there is none.
  void set_deadline(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }
  void clear_deadline() { deadline_ = std::chrono::steady_clock::time_point::max(); }

  // Waits until a byte can be read, the peer closed, `timeout` passed, or
  // `stop_fd` (when >= 0) became readable. True when there is something to
  // read (or an end of stream to see).
  bool WaitReadable(Duration timeout, int stop_fd) const;
  // True when a byte can be read or the peer closed; never blocks.
  bool Readable() const;
  // Busy-polls: checks Readable() again and again for at most `limit`,
  // yielding the CPU to any other runnable thread between checks, so it
  // takes only time no other thread wanted. For a peer expected to send
  // within microseconds, where sleeping and being woken would cost more (on
  // a machine whose idle CPUs halt, a wake-up costs ~20 us). True when there
  // is something to read.
  bool BusyPollReadable(std::chrono::microseconds limit) const;
  // False once the peer has closed or reset the connection (never blocks).
  bool PeerOpen() const;
  // Ends the reads and writes in flight and every later one (shutdown(2)).
  void Shutdown();
  // "address" of the peer, "" when unknown.
  std::string PeerAddress() const;

  // SyncReadStream / SyncWriteStream.
  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, boost::system::error_code& ec) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const boost::asio::mutable_buffer b = *it;
      if (b.size() > 0) return Read(b.data(), b.size(), ec);
    }
    ec = {};
    return 0;
  }
  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    boost::system::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  template <typename ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers, boost::system::error_code& ec) {
    std::array<iovec, kMaxIov> iov;
    std::size_t n = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && n < iov.size(); ++it) {
      const boost::asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      iov[n++] = iovec{const_cast<void*>(b.data()), b.size()};
    }
    return Write(iov.data(), n, ec);
  }
  template <typename ConstBuffers>
  std::size_t write_some(const ConstBuffers& buffers) {
    boost::system::error_code ec;
    const std::size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  static constexpr std::size_t kMaxIov = 16;

  std::size_t Read(void* data, std::size_t size, boost::system::error_code& ec);
  std::size_t Write(const iovec* iov, std::size_t count, boost::system::error_code& ec);
  // Polls for `events` until the deadline; sets ec to timed_out on expiry.
  bool Await(short events, boost::system::error_code& ec) const;

  int fd_;
  Duration timeout_ = std::chrono::seconds(10);
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
};

// A listening TCP socket (non-blocking, close-on-exec, SO_REUSEADDR) on
// host:port, and the port it is bound to (useful with port 0).
struct Listener {
  int fd = -1;
  int port = 0;
};
Result<Listener> Listen(const std::string& host, int port, int backlog);

}  // namespace jobwarden::net
