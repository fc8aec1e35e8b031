#include "server/stream_channel.h"

namespace jobwarden::server {

StreamChannel::StreamChannel(std::size_t max_pending, Duration coalesce)
    : max_pending_(max_pending), coalesce_(coalesce) {}

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

bool StreamChannel::PushKeyed(std::string_view key, std::string_view event, std::string_view data) {
  if (coalesce_.count() <= 0) return Push(SseFrame(event, data));
  return PushKeyed(key, event, std::make_shared<const std::string>(data));
}

bool StreamChannel::PushKeyed(std::string_view key, std::string_view event, std::shared_ptr<const std::string> data) {
  if (coalesce_.count() <= 0) return Push(SseFrame(event, *data));
  bool first = false;
  {
    MutexLock lock(mu_);
    if (closed_) return false;
    auto [it, inserted] = keyed_index_.try_emplace(std::string(key), keyed_.size());
    if (!inserted) {
      keyed_[it->second].key.clear();  // the older event of this key is dropped
      it->second = keyed_.size();
    } else if (keyed_index_.size() > max_pending_) {
      keyed_.clear();
      keyed_index_.clear();
      frames_.push_back(SseFrame("overflow", R"({"message":"the client fell too far behind; reconnect"})"));
      closed_ = true;
      cv_.NotifyOne();
      return true;
    }
    first = keyed_.empty();
    keyed_.push_back(Keyed{std::string(key), std::string(event), std::move(data)});
  }
  // The writer waits for the interval anyway: only the first event of a
  // quiet channel needs to wake it.
  if (first) cv_.NotifyOne();
  return true;
}

void StreamChannel::FlushKeyed(std::string& out) {
  if (keyed_index_.empty()) {
    keyed_.clear();
    return;
  }
  out += "event: changes\ndata: {\"events\":[";
  bool comma = false;
  for (const Keyed& k : keyed_) {
    if (k.key.empty()) continue;
    if (comma) out += ',';
    comma = true;
    out += "{\"type\":\"";
    out += k.event;  // an event name: no characters to escape
    out += "\",\"data\":";
    out += *k.data;
    out += '}';
  }
  out += "]}\n\n";
  keyed_.clear();
  keyed_index_.clear();
  last_flush_ = std::chrono::steady_clock::now();
}

void StreamChannel::Close(std::string final_frame) {
  {
    MutexLock lock(mu_);
    if (closed_) return;
    final_frame_ = std::move(final_frame);
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
  // Wakes for a frame, for the close, for the tick, and (coalescing) when the
  // pending keyed events are due: one interval after the last flush.
  for (;;) {
    if (!frames_.empty() || closed_) break;
    auto wake = until;
    if (!keyed_.empty()) {
      const auto due = last_flush_ + coalesce_;
      if (std::chrono::steady_clock::now() >= due) break;
      wake = std::min(wake, due);
    }
    if (cv_.WaitUntil(mu_, wake) == std::cv_status::timeout && wake == until) break;
  }
  while (!frames_.empty()) {
    out += frames_.front();
    frames_.pop_front();
  }
  if (!keyed_.empty() && (closed_ || std::chrono::steady_clock::now() >= last_flush_ + coalesce_)) FlushKeyed(out);
  if (closed_ && !final_frame_.empty()) {
    out += final_frame_;
    final_frame_.clear();
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
