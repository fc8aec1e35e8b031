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
//
// A coalescing channel (a dashboard's GET /v1/events?coalesce_s=…) holds
// keyed events instead: a newer event with the same key (the same job's
// state, the same batch) replaces the older one, and what is pending goes out
// as one `changes` frame at most once per interval. Whatever the rate of
// changes, the client gets a bounded number of messages, and the last event of
// each key is never dropped, so what it shows ends right.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/thread_annotations.h"
#include "core/time.h"
#include "server/http_server.h"

namespace jobwarden::server {

class StreamChannel {
 public:
  static constexpr std::size_t kDefaultMaxPending = 65'536;
  // `coalesce` > 0 makes a coalescing channel (see above); its `max_pending`
  // bounds the distinct keys waiting.
  explicit StreamChannel(std::size_t max_pending = kDefaultMaxPending, Duration coalesce = Duration(0));

  // Queues one frame. Returns false when the channel is closed; a push over
  // `max_pending` closes it with an `overflow` event.
  bool Push(std::string frame);
  // An event with a key: on a coalescing channel it replaces the pending event
  // with the same key (and moves to the end); otherwise Push(SseFrame(event, data)).
  // `data` is a JSON text.
  bool PushKeyed(std::string_view key, std::string_view event, std::string_view data);
  // The same with a JSON text shared by every stream it goes to (one copy per event, not per stream).
  bool PushKeyed(std::string_view key, std::string_view event, std::shared_ptr<const std::string> data);
  // Queues `final_frame` (may be empty) and ends the stream once it is written.
  void Close(std::string final_frame);
  bool closed() const;

  // Waits up to `tick` for frames and appends them to `out`. Returns false
  // when the channel is closed and nothing is left to write.
  bool Next(Duration tick, std::string& out);

 private:
  struct Keyed {
    std::string key;  // empty: replaced by a later event with the same key
    std::string event;
    std::shared_ptr<const std::string> data;
  };
  // Appends the pending keyed events to `out` as one `changes` frame.
  void FlushKeyed(std::string& out) REQUIRES(mu_);

  const std::size_t max_pending_;
  const Duration coalesce_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<std::string> frames_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  std::string final_frame_ GUARDED_BY(mu_);  // written after the last `changes`
  std::vector<Keyed> keyed_ GUARDED_BY(mu_);
  std::unordered_map<std::string, std::size_t> keyed_index_ GUARDED_BY(mu_);  // key -> its entry in keyed_
  std::chrono::steady_clock::time_point last_flush_ GUARDED_BY(mu_){};
};

// One Server-Sent Events frame: "event: <name>\ndata: <data>\n\n".
std::string SseFrame(std::string_view event, std::string_view data);

// A producer that writes the channel's frames, or a ": tick" comment after a
// quiet tick.
StreamProducer ChannelProducer(std::shared_ptr<StreamChannel> channel, Duration tick);

}  // namespace jobwarden::server
