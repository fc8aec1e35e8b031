// The HTTP seam: the little the API needs from an HTTP server, so that what
// serves it (Boost.Beast's parser over our sockets, thread per connection;
// Beast's asynchronous model when thousands of connections are needed) can
// change without touching a route.
//
// The server calls one Handler for every request, on a thread of its own
// (thread-per-connection): a handler may block, as long-polls do. A response
// is either a plain body or a stream, whose producer is called again and
// again on the connection's thread until it ends the stream or the peer is
// gone; the producer must return within about one tick (<= 200 ms), which is
// how a dropped peer is noticed and how shutdown reaches every stream.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/time.h"

namespace jobwarden::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string, percent-decoded
  // The path as sent (percent-encoded): routes match it segment by segment,
  // so an encoded '/' (%2F) stays inside its segment (`host:a%2Fb` is one
  // resource key). Empty: `path` holds no escapes.
  std::string raw_path;
  std::multimap<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names lower-cased; the last value wins
  std::string body;
  // The body was over the limit the server was given for this route: `body`
  // holds only a prefix and the request must be answered 413.
  bool body_too_large = false;
  std::string remote_addr;
  // Whether the client still has its end of the connection open (never
  // blocks). A long-poll asks before it leases a job: a client that closed
  // (killed, or its connection cut) could not be given the answer. Unset: unknown.
  std::function<bool()> peer_open;

  // The header's value, or "" (name in lower case).
  const std::string& Header(std::string_view name) const;
};

// Where a stream producer writes. Write returns false once the peer is gone.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual bool Write(std::string_view data) = 0;
};

// Called again and again until it returns false (end of the stream) or a
// write fails. Must return within one tick.
using StreamProducer = std::function<bool(StreamSink& sink)>;

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is streamed (chunked) instead of `body`.
  StreamProducer stream;
  // Called once when a streamed response ends, for whatever reason (the
  // producer ended it, the peer went away, the server stops). `peer_gone` is
  // true when the stream ended because a write failed.
  std::function<void(bool peer_gone)> on_stream_end;
  // Called once after a plain (not streamed) answer was written, with false
  // when it could not be written whole (the peer is gone): a fetch answer
  // that never left hands its jobs back.
  std::function<void(bool written)> on_answered;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;
// The largest body accepted for a method and path, decided before the body
// is read (bulk enqueue has a larger limit than the rest).
using BodyLimit = std::function<std::size_t(std::string_view method, std::string_view path)>;

struct HttpServerOptions {
  // Connection threads (thread-per-connection). Threads are started as
  // connections arrive and end after `idle_thread_timeout` unused, so this is
  // a ceiling, not a cost. It must cover the long-poll and stream caps plus
  // room for ordinary requests; beyond it, new connections wait.
  std::size_t min_threads = 8;
  std::size_t max_threads = 2048;
  Duration idle_thread_timeout = std::chrono::seconds(60);
  // Largest body any route accepts; bodies over it are skipped unread.
  std::size_t max_body_bytes = 64u << 20;
  Duration read_timeout = std::chrono::seconds(10);
  Duration write_timeout = std::chrono::seconds(10);
  Duration keep_alive_timeout = std::chrono::seconds(5);
  std::size_t keep_alive_max_requests = 10'000;
  // After an answer on a keep-alive connection whose last pause between
  // requests was at most this long, its thread busy-polls the socket for up
  // to this long before it sleeps, yielding the CPU to any other runnable
  // thread between checks, and only one thread at a time does. A client that
  // sends its next request at once (an enqueue loop, a worker's cycle) then
  // finds the thread awake: on a machine whose idle CPUs halt, waking one
  // costs tens of microseconds each way (docs/benchmarks.md). Zero: off.
  std::chrono::microseconds busy_poll{100};
  // Told after each busy-poll whether it caught the next request (metrics).
  std::function<void(bool caught)> on_busy_poll;
  int listen_backlog = 1024;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds and listens; returns the bound port (useful with port 0).
  virtual Result<int> Listen(const std::string& host, int port) = 0;
  // Accepts and serves connections until Stop(); returns once every
  // in-flight request has been answered and every connection thread ended.
  virtual Status Serve() = 0;
  // Stops accepting; safe from any thread, idempotent.
  virtual void Stop() = 0;
};

// Percent-decoding (RFC 3986 §2.1); with `plus_is_space` (a query), '+' is a
// space as well. A malformed escape is kept as it is.
std::string PercentDecode(std::string_view s, bool plus_is_space);

// Boost.Beast's parser and serializer over our own sockets, thread per
// connection (beast_server.cc).
std::unique_ptr<HttpServer> MakeBeastServer(HttpServerOptions options, HttpHandler handler, BodyLimit body_limit);

}  // namespace jobwarden::server
