// A one-way channel of frames from the server to one streaming client (an
// SSE subscriber or a worker session), and the producer that drains it onto
// the connection.
//
// Publishers Push() from any thread and never block on the network: frames
// wait here, bounded by `max_pending`; a client too slow to keep up is cut
// off (it reconnects and, for events, re-reads current state) rather than
// growing memory without bound. The connection's thread waits at most one
// tick for frames, and writes a keep-alive comment when it had nothing to
// send, so a dropped peer fails a write within about two ticks.
#pragma once

#include <deque>
#include <memory>
#include <string>

#include "core/thread_annotations.h"
#include "core/time.h"
#include "server/http_server.h"

namespace jobwarden::server {

class StreamChannel {
 public:
  explicit StreamChannel(std::size_t max_pending = 65'536);

  // Queues one frame. Returns false when the channel is closed; a push over
  // `max_pending` closes it with an `overflow` event.
  bool Push(std::string frame);
  // Queues `final_frame` (may be empty) and ends the stream once it is written.
  void Close(std::string final_frame);
  bool closed() const;

  // Waits up to `tick` for frames and appends them to `out`. Returns false
  // when the channel is closed and nothing is left to write.
  bool Next(Duration tick, std::string& out);

 private:
  const std::size_t max_pending_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<std::string> frames_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
};

// One Server-Sent Events frame: "event: <name>\ndata: <data>\n\n".
std::string SseFrame(std::string_view event, std::string_view data);

// A producer that writes the channel's frames, or a ": tick" comment after a
// quiet tick.
StreamProducer ChannelProducer(std::shared_ptr<StreamChannel> channel, Duration tick);

}  // namespace jobwarden::server
