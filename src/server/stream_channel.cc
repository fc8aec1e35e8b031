#include "server/stream_channel.h"

namespace jobwarden::server {

StreamChannel::StreamChannel(std::size_t max_pending) : max_pending_(max_pending) {}

bool StreamChannel::Push(std::string frame) {
  {
    MutexLock lock(mu_);
    if (closed_) return false;
    if (frames_.size() >= max_pending_) {
      frames_.push_back(SseFrame("overflow", R"({"message":"the client fell too far behind; reconnect"})"));
      closed_ = true;
    } else {
      frames_.push_back(std::move(frame));
    }
  }
  cv_.NotifyOne();
  return true;
}

void StreamChannel::Close(std::string final_frame) {
  {
    MutexLock lock(mu_);
    if (closed_) return;
    if (!final_frame.empty()) frames_.push_back(std::move(final_frame));
    closed_ = true;
  }
  cv_.NotifyOne();
}

bool StreamChannel::closed() const {
  MutexLock lock(mu_);
  return closed_;
}

bool StreamChannel::Next(Duration tick, std::string& out) {
  const auto until = std::chrono::steady_clock::now() + tick;
  MutexLock lock(mu_);
  while (frames_.empty() && !closed_ && cv_.WaitUntil(mu_, until) == std::cv_status::no_timeout) {
  }
  while (!frames_.empty()) {
    out += frames_.front();
    frames_.pop_front();
  }
  return !closed_;
}

std::string SseFrame(std::string_view event, std::string_view data) {
  std::string f;
  f.reserve(event.size() + data.size() + 16);
  f += "event: ";
  f += event;
  f += "\ndata: ";
  f += data;  // JSON from dump() has no raw newlines
  f += "\n\n";
  return f;
}

StreamProducer ChannelProducer(std::shared_ptr<StreamChannel> channel, Duration tick) {
  return [channel = std::move(channel), tick](StreamSink& sink) {
    std::string out;
    const bool more = channel->Next(tick, out);
    if (out.empty() && more) out = ": tick\n\n";
    if (!out.empty() && !sink.Write(out)) return false;
    return more;
  };
}

}  // namespace jobwarden::server
