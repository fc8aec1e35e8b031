// HttpServer over Boost.Beast's HTTP/1.1 parser and serializer, thread per
// connection.
//
// Why this and not cpp-httplib, which served before: per request httplib
// polled the socket six times and wrote the header and the body in two sends,
// each waking the client; on loopback those wake-ups were most of the cost of
// a small request (docs/benchmarks.md). Here a connection's thread reads with
// recv and polls only when no byte is waiting, and writes an answer in one
// sendmsg (net/socket_stream.h). Beast does the parsing and framing, the part
// that must be right; the model stays the one the handlers are written for:
// a handler may block (long-polls, streams) because its connection has a
// thread of its own, and the threads grow with the connections, up to
// `max_threads`, and end when idle.
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <optional>
#include <thread>

#include "core/thread_annotations.h"
#include "net/busy_poll.h"
#include "net/socket_stream.h"
#include "server/error_mapping.h"
#include "server/http_server.h"

namespace jobwarden::server {

namespace {

namespace http = boost::beast::http;
using boost::system::error_code;
using net::SocketStream;

// A request body kept up to the route's limit: past it the rest is read and
// dropped (so the connection stays in step with the client, which is still
// sending) and the request is marked too large, for the handler to answer 413.
// Memory stays bounded by the route's limit, not by the server's largest.
struct CappedBody {
  struct value_type {
    std::string data;
    std::size_t cap = 0;
    bool over = false;
  };

  class reader {
   public:
    template <bool kIsRequest, typename Fields>
    reader(http::header<kIsRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, error_code& ec) {
      ec = {};
      if (!length) return;
      if (*length > body_.cap) {
        body_.over = true;
      } else {
        body_.data.reserve(static_cast<std::size_t>(*length));
      }
    }

    template <typename ConstBuffers>
    std::size_t put(const ConstBuffers& buffers, error_code& ec) {
      ec = {};
      std::size_t n = 0;
      for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
           ++it) {
        const boost::asio::const_buffer b = *it;
        n += b.size();
        if (body_.over) continue;
        if (body_.data.size() + b.size() > body_.cap) {
          body_.over = true;
          continue;
        }
        body_.data.append(static_cast<const char*>(b.data()), b.size());
      }
      return n;
    }

    void finish(error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

using Parser = http::request_parser<CappedBody>;

void ParseTarget(std::string_view target, HttpRequest& r) {
  const std::size_t q = target.find('?');
  r.raw_path = std::string(target.substr(0, q));
  r.path = PercentDecode(r.raw_path, /*plus_is_space=*/false);
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  const std::size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    r.query.emplace(PercentDecode(pair.substr(0, eq), true),
                    eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1), true));
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Where a stream producer writes: one chunk per Write (or the bytes as they
// are, for an HTTP/1.0 client, whose body ends when the connection does).
class BodySink final : public StreamSink {
 public:
  BodySink(SocketStream& stream, bool chunked) : stream_(stream), chunked_(chunked) {}
  bool Write(std::string_view data) override {
    if (failed_) return false;
    if (data.empty()) return true;  // an empty chunk would end the stream
    error_code ec;
    const boost::asio::const_buffer bytes(data.data(), data.size());
    if (chunked_) {
      boost::asio::write(stream_, http::make_chunk(bytes), ec);
    } else {
      boost::asio::write(stream_, bytes, ec);
    }
    if (ec) failed_ = true;
    return !failed_;
  }
  bool failed() const { return failed_; }

 private:
  SocketStream& stream_;
  const bool chunked_;
  bool failed_ = false;
};

class BeastServer final : public HttpServer {
 public:
  BeastServer(HttpServerOptions options, HttpHandler handler, BodyLimit body_limit)
      : options_(options), handler_(std::move(handler)), body_limit_(std::move(body_limit)) {
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }

  ~BeastServer() override {
    Stop();
    JoinAll();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (stop_fd_ >= 0) ::close(stop_fd_);
  }

  Result<int> Listen(const std::string& host, int port) override {
    if (stop_fd_ < 0) return Status::Internal(std::string("http: eventfd: ") + std::strerror(errno));
    JW_ASSIGN_OR_RETURN(const net::Listener listener, net::Listen(host, port, options_.listen_backlog));
    listen_fd_ = listener.fd;
    return listener.port;
  }

  Status Serve() override {
    if (listen_fd_ < 0) return Status::Internal("http: Serve() before Listen()");
    Status result = Status::Ok();
    while (!stopped_.load()) {
      pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        result = Status::Unavailable(std::string("http: poll on the listening socket: ") + std::strerror(errno));
        break;
      }
      if (p[1].revents != 0) break;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: the pending connection stays queued; wait for one to close.
          spdlog::warn("http: accept: {}; retrying", std::strerror(errno));
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        result = Status::Unavailable(std::string("http: accept: ") + std::strerror(errno));
        break;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Dispatch(fd);
    }
    ::close(listen_fd_);
    listen_fd_ = -1;
    Stop();
    JoinAll();
    return result;
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    const std::uint64_t one = 1;
    if (stop_fd_ >= 0 && ::write(stop_fd_, &one, sizeof one) < 0) {
      spdlog::warn("http: could not signal the stop: {}", std::strerror(errno));
    }
    MutexLock lock(mu_);
    work_cv_.NotifyAll();
  }

 private:
  struct Worker {
    std::thread thread;
    // Its loop returned, join it. Guarded by BeastServer::mu_, and not
    // annotated: Clang's analysis cannot name the enclosing object's mutex.
    bool exited = false;
  };

  // Hands a new connection to an idle thread, or starts one.
  void Dispatch(int fd) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    ReapExited();
    pending_.push_back(fd);
    if (idle_ >= pending_.size()) {
      work_cv_.NotifyOne();
    } else if (live_ < options_.max_threads) {
      workers_.emplace_back();
      auto it = std::prev(workers_.end());
      try {
        it->thread = std::thread([this, it] { ThreadMain(it); });
        ++live_;
      } catch (const std::system_error& e) {
        // Out of threads: the connection waits in pending_ for a busy thread.
        workers_.erase(it);
        spdlog::warn("http: cannot start a connection thread ({}); the connection waits", e.what());
      }
    } else if (!warned_full_) {
      warned_full_ = true;
      spdlog::warn("http: all {} connection threads are busy; new connections wait", options_.max_threads);
    }
  }

  // REQUIRES: mu_ held. Joins the threads that ended on their idle timeout.
  void ReapExited() REQUIRES(mu_) {
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (!it->exited) {
        ++it;
        continue;
      }
      it->thread.join();
      it = workers_.erase(it);
    }
  }

  void JoinAll() EXCLUDES(mu_) {
    std::list<Worker> all;
    {
      MutexLock lock(mu_);
      all.swap(workers_);
    }
    for (Worker& w : all) w.thread.join();
    MutexLock lock(mu_);
    for (int fd : pending_) ::close(fd);  // accepted, never read: the client retries elsewhere
    pending_.clear();
  }

  void ThreadMain(std::list<Worker>::iterator self) {
    MutexLock lock(mu_);
    while (true) {
      if (!pending_.empty()) {
        const int fd = pending_.front();
        pending_.pop_front();
        MutexUnlock unlock(mu_);
        ServeConnection(fd);
        continue;
      }
      if (stopped_.load()) break;
      ++idle_;
      const auto idle_until = std::chrono::steady_clock::now() + options_.idle_thread_timeout;
      bool woke = true;
      while (pending_.empty() && !stopped_.load()) {
        if (work_cv_.WaitUntil(mu_, idle_until) == std::cv_status::timeout) {
          woke = !pending_.empty() || stopped_.load();
          break;
        }
      }
      --idle_;
      if (!woke && live_ > options_.min_threads) break;
    }
    --live_;
    warned_full_ = false;
    self->exited = true;
  }

  // noexcept in effect: whatever a request throws past the handler's own
  // catch (an allocation, a producer) ends its connection, not the process.
  void ServeConnection(int fd) EXCLUDES(mu_) {
    SocketStream stream(fd);
    try {
      const std::string peer = stream.PeerAddress();
      boost::beast::flat_buffer buffer;
      // The last pause between an answer and the next request; "long" until one was seen.
      std::chrono::steady_clock::duration last_pause = std::chrono::steady_clock::duration::max();
      for (std::size_t served = 0;; ++served) {
        // Between requests: wait for the next one; a stop ends an idle connection at once.
        if (buffer.size() == 0) {
          const bool stopping = stopped_.load();
          const auto answered = std::chrono::steady_clock::now();
          if (stopping || !BusyPoll(stream, last_pause)) {
            const Duration wait = stopping ? Duration(0) : options_.keep_alive_timeout;
            if (!stream.WaitReadable(wait, stopping ? -1 : stop_fd_)) return;
          }
          // The wait for the first request is the client connecting, not a pause between requests.
          if (served > 0) last_pause = std::chrono::steady_clock::now() - answered;
        }
        if (!ServeOne(stream, buffer, peer, served + 1 < options_.keep_alive_max_requests)) return;
      }
    } catch (const std::exception& e) {
      spdlog::error("http: connection ended by an exception: {}", e.what());
    }
  }

  // Busy-polls for the next request when this connection's last pause was
  // short enough to be caught and no other thread is busy-polling (so it
  // holds at most one CPU). True when the next request has arrived.
  bool BusyPoll(const SocketStream& stream, std::chrono::steady_clock::duration last_pause) {
    const net::BusyPoller::Outcome outcome = busy_poller_.Poll(stream, last_pause);
    if (outcome == net::BusyPoller::Outcome::kSkipped) return false;
    const bool arrived = outcome == net::BusyPoller::Outcome::kCaught;
    if (options_.on_busy_poll) options_.on_busy_poll(arrived);
    return arrived;
  }

  // Reads one request and answers it. False when the connection must close.
  bool ServeOne(SocketStream& stream, boost::beast::flat_buffer& buffer, const std::string& peer, bool keep_alive) {
    // Each wait for the client is bounded by read_timeout, and the whole
    // request by kRequestDeadline, so a client that trickles cannot hold a
    // thread for long.
    stream.set_timeout(options_.read_timeout);
    stream.set_deadline(std::chrono::steady_clock::now() + kRequestDeadline);
    Parser parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(options_.max_body_bytes);
    error_code ec;
    http::read_header(stream, buffer, parser, ec);
    if (ec == http::error::end_of_stream || ec == boost::asio::error::eof) return false;
    // Beast refuses a Content-Length over the limit as soon as it reads the header.
    if (ec == http::error::body_limit) return AnswerTooLarge(stream);
    if (ec) return AnswerBadRequest(stream, ec, ec == http::error::header_limit ? 431 : 400);

    HttpRequest r;
    const auto& head = parser.get();
    r.method = std::string(head.method_string());
    const auto target = head.target();
    ParseTarget(std::string_view(target.data(), target.size()), r);
    for (const auto& field : head) {
      const auto name = field.name_string();
      r.headers[Lower(std::string_view(name.data(), name.size()))] = std::string(field.value());
    }
    r.remote_addr = peer;
    r.peer_open = [&stream] { return stream.PeerOpen(); };
    const unsigned version = head.version();

    const std::size_t cap = body_limit_ ? body_limit_(r.method, r.raw_path) : options_.max_body_bytes;
    parser.get().body().cap = cap;
    if (!parser.is_done()) {
      // "Send it" only to a client that asked, speaks HTTP/1.1, and whose body is
      // not already known to be too large (that one is read and dropped: 413).
      const auto length = parser.content_length();
      if (version >= 11 && boost::beast::iequals(head[http::field::expect], "100-continue") &&
          !(length && *length > cap)) {
        http::response<http::empty_body> cont{http::status::continue_, version};
        http::write(stream, cont, ec);
        if (ec) return false;
      }
      http::read(stream, buffer, parser, ec);
      if (ec == http::error::body_limit) return AnswerTooLarge(stream);  // a chunked body that grew past it
      if (ec) return AnswerBadRequest(stream, ec, 400);
    }
    r.body = std::move(parser.get().body().data);
    r.body_too_large = parser.get().body().over;
    keep_alive = keep_alive && parser.get().keep_alive();

    const bool head_only = r.method == "HEAD";
    if (head_only) r.method = "GET";
    HttpResponse out;
    try {
      handler_(r, out);
    } catch (const std::exception& e) {
      spdlog::error("http: handler for {} {} threw: {}", r.method, r.path, e.what());
      out = HttpResponse{};
      out.status = 500;
      out.body = ErrorJson("internal", "internal error").dump();
    }
    // A stop that came while the handler ran (a long-poll) closes the connection after this answer.
    keep_alive = keep_alive && !stopped_.load();
    stream.set_timeout(options_.write_timeout);
    stream.set_deadline(std::chrono::steady_clock::now() + kRequestDeadline);
    if (out.stream) return AnswerStream(stream, out, version, keep_alive, head_only);
    bool written = false;
    const bool keep = Answer(stream, out.status, std::move(out.body), out.content_type, out.headers, version,
                             keep_alive, head_only, &written);
    if (out.on_answered) out.on_answered(written);
    return keep;
  }

  // Over the largest limit of any route: answered without reading the body.
  static bool AnswerTooLarge(SocketStream& stream) {
    Answer(stream, 413, ErrorJson("payload_too_large", "body: over the server's largest body limit").dump(),
           "application/json", {}, 11, false);
    LingeringClose(stream);
    return false;
  }

  static bool AnswerBadRequest(SocketStream& stream, const error_code& ec, int status) {
    if (ec == boost::asio::error::timed_out || ec == boost::asio::error::eof || ec == http::error::partial_message) {
      return false;  // the client went quiet or away mid-request: nobody to answer
    }
    Answer(stream, status, ErrorJson("invalid_argument", "bad request: " + ec.message()).dump(), "application/json", {},
           11, false);
    LingeringClose(stream);
    return false;
  }

  // Closing with unread input makes the kernel send a reset, which can
  // destroy the answer before the client has read it (the client is likely
  // still sending its body). So: end our side, then read and drop what
  // comes, until the client closes or kLinger passes.
  static void LingeringClose(SocketStream& stream) {
    ::shutdown(stream.fd(), SHUT_WR);
    stream.set_timeout(kLinger);
    stream.set_deadline(std::chrono::steady_clock::now() + kLinger);
    char sink[16384];
    error_code ec;
    while (!ec) stream.read_some(boost::asio::buffer(sink), ec);
  }

  static bool Answer(SocketStream& stream, int status, std::string body, const std::string& content_type,
                     const std::vector<std::pair<std::string, std::string>>& headers, unsigned version, bool keep_alive,
                     bool head_only = false, bool* written = nullptr) {
    http::response<http::string_body> res{static_cast<http::status>(status), version};
    res.set(http::field::content_type, content_type);
    for (const auto& [k, v] : headers) res.insert(k, v);
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();  // Content-Length of the body, also for HEAD, which then sends no body
    error_code ec;
    if (head_only) {
      http::response_serializer<http::string_body> sr{res};
      http::write_header(stream, sr, ec);
    } else {
      http::write(stream, res, ec);
    }
    if (written != nullptr) *written = !ec;
    return !ec && keep_alive;
  }

  // A streamed answer fed by the producer until it ends, the peer goes, or
  // the server stops (the application closes its streams before it stops
  // us). Chunked for HTTP/1.1; for HTTP/1.0 the close ends the body.
  bool AnswerStream(SocketStream& stream, HttpResponse& out, unsigned version, bool keep_alive, bool head_only) {
    const bool chunked = version >= 11;
    keep_alive = keep_alive && chunked;
    http::response<http::empty_body> res{static_cast<http::status>(out.status), version};
    res.set(http::field::content_type, out.content_type);
    for (const auto& [k, v] : out.headers) res.insert(k, v);
    res.chunked(chunked);
    res.keep_alive(keep_alive);
    http::response_serializer<http::empty_body> sr{res};
    error_code ec;
    http::write_header(stream, sr, ec);
    bool peer_gone = static_cast<bool>(ec);
    bool ended = head_only;  // HEAD: the head alone, the producer never runs
    // A stream lives as long as its client reads: each write is bounded by
    // write_timeout, the whole by nothing.
    stream.clear_deadline();
    BodySink sink(stream, chunked);
    while (!ended && !peer_gone && !stopped_.load()) {
      if (!stream.PeerOpen()) {
        peer_gone = true;
        break;
      }
      const bool more = out.stream(sink);
      if (sink.failed()) {
        peer_gone = true;
        break;
      }
      if (!more) ended = true;
    }
    if (!peer_gone && chunked && !head_only) {
      boost::asio::write(stream, http::make_chunk_last(), ec);
      peer_gone = static_cast<bool>(ec);
    }
    if (out.on_stream_end) out.on_stream_end(peer_gone);
    return ended && !peer_gone && keep_alive;
  }

  static constexpr std::uint32_t kHeaderLimit = 16 * 1024;
  static constexpr Duration kRequestDeadline = std::chrono::minutes(2);
  static constexpr Duration kLinger = std::chrono::seconds(2);

  const HttpServerOptions options_;
  HttpHandler handler_;
  BodyLimit body_limit_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // readable once stopped: ends idle waits
  std::atomic<bool> stopped_{false};
  net::BusyPoller busy_poller_{options_.busy_poll};  // for the next request of a keep-alive connection

  Mutex mu_;
  CondVar work_cv_;
  std::list<Worker> workers_ GUARDED_BY(mu_);  // joined when exited, or by JoinAll
  std::deque<int> pending_ GUARDED_BY(mu_);    // accepted connections no thread has taken yet
  std::size_t live_ GUARDED_BY(mu_) = 0;       // threads whose loop has not returned
  std::size_t idle_ GUARDED_BY(mu_) = 0;
  bool warned_full_ GUARDED_BY(mu_) = false;
};

}  // namespace

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

const std::string& HttpRequest::Header(std::string_view name) const {
  static const std::string kEmpty;
  auto it = headers.find(std::string(name));
  return it == headers.end() ? kEmpty : it->second;
}

std::unique_ptr<HttpServer> MakeBeastServer(HttpServerOptions options, HttpHandler handler, BodyLimit body_limit) {
  return std::make_unique<BeastServer>(options, std::move(handler), std::move(body_limit));
}

}  // namespace jobwarden::server
