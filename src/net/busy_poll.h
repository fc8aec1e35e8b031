// When to busy-poll a socket instead of sleeping on it: the one rule both
// HTTP ends use (the server waiting for a keep-alive client's next request,
// the client waiting for an answer). A wait qualifies when the last wait like
// it on that connection took at most the limit, so only peers that have just
// been that quick are polled; and one thread per poller polls at a time, so
// polling holds at most one CPU. The poll itself is
// SocketStream::BusyPollReadable (it yields between checks).
#pragma once

#include <atomic>
#include <chrono>

namespace jobwarden::net {

class SocketStream;

class BusyPoller {
 public:
  enum class Outcome { kSkipped, kCaught, kMissed };

  // A zero or negative limit never polls.
  explicit BusyPoller(std::chrono::microseconds limit) : limit_(limit) {}

  // Polls `stream` for up to the limit when `last_wait` qualifies and no
  // other thread of this poller is polling: kCaught when something came to
  // read, kMissed when the limit ran out, kSkipped when it did not poll.
  Outcome Poll(const SocketStream& stream, std::chrono::steady_clock::duration last_wait);

 private:
  const std::chrono::microseconds limit_;
  std::atomic<bool> polling_{false};
};

}  // namespace jobwarden::net
