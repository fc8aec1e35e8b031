// A small JSON-over-HTTP client for the jobwarden API (docs/openapi.yaml):
// keep-alive connections, a bearer token, and the one mapping from an HTTP
// answer back to a Status (StatusFromHttp).
//
// Connections: a pool of keep-alive connections guarded by a mutex. A call
// borrows one for its whole exchange and returns it, so concurrent calls (a
// long-poll fetch, a heartbeat, completes from many slots) never wait on one
// another's socket; the pool grows as needed and keeps a few idle ones.
//
// Safe for concurrent use. HTTP/1.1 framing is Boost.Beast's (net/socket_stream.h
// says why not Asio's sockets); it stays out of this header.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/time.h"
#include "net/busy_poll.h"

namespace jobwarden::client {

// The one mapping from an HTTP answer to a Status (STYLE.md §5: once per
// boundary). `http_status` 0 means no answer (connection refused, reset,
// timed out): kUnavailable. Otherwise the body's error code decides when
// there is one (`lease_lost` -> kLeaseLost, `conflict` -> kConflict, ...),
// else the HTTP status (400 -> kInvalidArgument, 404 -> kNotFound,
// 409 -> kConflict, 5xx -> kUnavailable). The message is the server's.
Status StatusFromHttp(int http_status, const nlohmann::json& body, const std::string& fallback_message);

// A server address: "http://host:port" (the scheme may be omitted).
struct ServerAddress {
  std::string host;
  int port = 0;
  std::string Url() const { return "http://" + host + ":" + std::to_string(port); }
  // "host:port" as a Host header wants it (an IPv6 address in brackets).
  std::string HostHeader() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
};
// Errors name the flag: "--server: ...". https is not supported (kInvalidArgument).
Result<ServerAddress> ParseServerUrl(const std::string& url);

struct HttpClientOptions {
  ServerAddress server;
  std::string token;                                   // empty: no Authorization header
  Duration connect_timeout = std::chrono::seconds(2);  // Default: 2 s
  Duration read_timeout = std::chrono::seconds(10);    // Default: 10 s (a long-poll adds its wait)
  std::size_t max_idle = 8;                            // idle connections kept for reuse
  // After sending a request on a connection whose last answer came within
  // this long, busy-poll for the answer for up to this long before sleeping
  // (net/busy_poll.h; one call at a time does, never for a long-poll). The
  // server's answer then finds this thread awake instead of paying for
  // waking its CPU. Zero: off.                             Default: 100 us
  std::chrono::microseconds busy_poll{100};
};

// One HTTP answer: status 0 when there was none.
struct HttpAnswer {
  int status = 0;
  nlohmann::json body;  // null when the body is not JSON (or kept as text)
  std::string text;     // the 2xx body's text, when asked to keep it unparsed
  std::string error;    // why there was no answer
};

// How often a call busy-polled for its answer, and whether the answer came within it.
struct BusyPollCounts {
  std::uint64_t caught = 0;
  std::uint64_t missed = 0;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  const HttpClientOptions& options() const { return options_; }
  BusyPollCounts busy_polls() const { return {busy_polls_caught_.load(), busy_polls_missed_.load()}; }

  // One exchange. `body` is sent as application/json unless null (GET,
  // DELETE). `extra_wait` lengthens the read timeout (a long-poll's wait).
  HttpAnswer Send(const std::string& method, const std::string& path, const nlohmann::json& body,
                  Duration extra_wait = Duration(0));

  // Send, then StatusFromHttp: the JSON body of a 2xx answer, or a Status.
  // `what` names the call in messages ("fetch jobs").
  Result<nlohmann::json> Call(const std::string& method, const std::string& path, const nlohmann::json& body,
                              const std::string& what, Duration extra_wait = Duration(0));

  // Call, retrying kUnavailable (no answer, 5xx) with exponential backoff and
  // jitter (50 ms doubling to 1 s, +-50%) until `budget` is spent or
  // `cancelled` returns true. For idempotent calls only.
  Result<nlohmann::json> CallWithRetry(const std::string& method, const std::string& path, const nlohmann::json& body,
                                       const std::string& what, Duration budget,
                                       const std::function<bool()>& cancelled = {}, Duration extra_wait = Duration(0));

  // The same three with a body already serialized as JSON text (the worker
  // protocol's hot paths build their bodies without a JSON tree).
  // `keep_text`: a 2xx answer's body is left unparsed, in HttpAnswer::text.
  HttpAnswer SendText(const std::string& method, const std::string& path, const std::string& body_text,
                      Duration extra_wait = Duration(0), bool keep_text = false);
  Result<nlohmann::json> CallText(const std::string& method, const std::string& path, const std::string& body_text,
                                  const std::string& what, Duration extra_wait = Duration(0));
  Result<nlohmann::json> CallTextWithRetry(const std::string& method, const std::string& path,
                                           const std::string& body_text, const std::string& what, Duration budget,
                                           const std::function<bool()>& cancelled = {},
                                           Duration extra_wait = Duration(0));
  // CallTextWithRetry, the 2xx answer's body given back as text, unparsed
  // (for a caller with its own decoder; it must still be JSON).
  Result<std::string> CallTextWithRetryRaw(const std::string& method, const std::string& path,
                                           const std::string& body_text, const std::string& what, Duration budget,
                                           const std::function<bool()>& cancelled = {},
                                           Duration extra_wait = Duration(0));

  // Aborts every exchange in flight (their answers are kUnavailable): for a
  // shutdown that must not wait out a long-poll.
  void AbortInFlight();

 private:
  struct Connection;
  std::unique_ptr<Connection> Acquire();
  // Back to the idle pool when `reusable` (the answer kept the connection alive).
  void Release(std::unique_ptr<Connection> c, bool reusable);
  // Sends one request on `c` and reads its answer: false (a.error says why) when there was none.
  // `long_poll`: the server may hold the answer (no busy-poll for it).
  bool Roundtrip(Connection& c, const std::string& method, const std::string& path, const std::string& text,
                 Duration read_timeout, bool long_poll, HttpAnswer& a, std::string& body, bool& keep_alive);
  // Busy-polls for the answer on `c` when its last one came quickly and no
  // other call is busy-polling.
  void BusyPollAnswer(const Connection& c);
  // One exchange: the answer (body as text when `keep_text` and 2xx), or a Status.
  Result<HttpAnswer> Exchange(const std::string& method, const std::string& path, const std::string& body_text,
                              const std::string& what, Duration extra_wait, bool keep_text);
  template <typename T, typename Take>
  Result<T> RetryLoop(const std::string& method, const std::string& path, const std::string& body_text,
                      const std::string& what, Duration budget, const std::function<bool()>& cancelled,
                      Duration extra_wait, bool keep_text, Take take);

  static constexpr Duration kWriteTimeout = std::chrono::seconds(5);
  // An idle connection is reused only this soon: the server closes its idle
  // connections after 2 s, and a request sent as it closes would be lost.
  static constexpr Duration kIdleReuse = std::chrono::seconds(1);
  static constexpr std::uint64_t kMaxAnswerBytes = std::uint64_t{1} << 30;

  const HttpClientOptions options_;
  std::string host_header_;    // "host:port", as the Host header wants it
  std::string authorization_;  // "Bearer <token>", or empty
  Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ GUARDED_BY(mu_);
  std::vector<Connection*> busy_ GUARDED_BY(mu_);  // in an exchange now
  net::BusyPoller busy_poller_;                    // for the answer to a request that is not a long-poll
  std::atomic<std::uint64_t> busy_polls_caught_{0};
  std::atomic<std::uint64_t> busy_polls_missed_{0};
};

// Percent-encodes one path segment or query value.
std::string UrlEncode(std::string_view s);

}  // namespace jobwarden::client
