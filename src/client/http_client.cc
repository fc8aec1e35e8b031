#include "client/http_client.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <random>
#include <thread>

#include "net/socket_stream.h"

namespace jobwarden::client {

namespace {

StatusCode CodeFromName(const std::string& name) {
  if (name == "invalid_argument" || name == "payload_too_large") return StatusCode::kInvalidArgument;
  if (name == "checkpoint_too_large") return StatusCode::kCheckpointTooLarge;
  if (name == "not_found") return StatusCode::kNotFound;
  if (name == "conflict") return StatusCode::kConflict;
  if (name == "lease_lost") return StatusCode::kLeaseLost;
  if (name == "unavailable") return StatusCode::kUnavailable;
  if (name == "not_supported") return StatusCode::kNotSupported;
  // unauthorized / forbidden: a token the server does not accept is the
  // caller's input (--token), not something a retry fixes.
  if (name == "unauthorized" || name == "forbidden") return StatusCode::kInvalidArgument;
  return StatusCode::kOk;  // unknown: decided by the HTTP status
}

StatusCode CodeFromHttpStatus(int status) {
  if (status == 404) return StatusCode::kNotFound;
  if (status == 409) return StatusCode::kConflict;
  if (status == 501) return StatusCode::kNotSupported;
  if (status == 429 || status >= 500) return StatusCode::kUnavailable;
  if (status >= 400) return StatusCode::kInvalidArgument;
  return StatusCode::kInternal;  // a 1xx/3xx answer the API never gives
}

}  // namespace

Status StatusFromHttp(int http_status, const nlohmann::json& body, const std::string& fallback_message) {
  if (http_status == 0) return Status::Unavailable(fallback_message);
  if (http_status >= 200 && http_status < 300) return Status::Ok();
  std::string message = fallback_message;
  std::string field;
  StatusCode code = StatusCode::kOk;
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const nlohmann::json& e = body["error"];
    if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
    if (e.contains("code") && e["code"].is_string()) code = CodeFromName(e["code"].get<std::string>());
    if (e.contains("field") && e["field"].is_string()) field = e["field"].get<std::string>();
    if (http_status == 401 || http_status == 403) message = "the server refused the token (--token): " + message;
  }
  if (code == StatusCode::kOk) code = CodeFromHttpStatus(http_status);
  return Status(code, message).WithField(std::move(field));
}

Result<ServerAddress> ParseServerUrl(const std::string& url) {
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    return Status::InvalidArgument("--server: https is not supported; put a TLS proxy in front, or use http://");
  }
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    return Status::InvalidArgument("--server: '" + url + "' must be http://HOST:PORT, without a path");
  }
  ServerAddress a;
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    a.host = std::string(rest);
    a.port = 7070;
  } else {
    a.host = std::string(rest.substr(0, colon));
    const std::string_view port = rest.substr(colon + 1);
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
    if (ec != std::errc() || ptr != port.data() + port.size() || a.port < 1 || a.port > 65535) {
      return Status::InvalidArgument("--server: '" + url + "' has no valid port (1-65535)");
    }
  }
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  if (a.host.empty()) return Status::InvalidArgument("--server: '" + url + "' names no host");
  return a;
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// `aborted` and `idle_since` (while idle) are guarded by HttpClient::mu_, and
// not annotated: Clang's analysis cannot name another object's mutex.
struct HttpClient::Connection {
  std::unique_ptr<net::SocketStream> stream;         // null until connected; set under HttpClient::mu_
  boost::beast::flat_buffer buffer;                  // bytes read past the last answer (none, normally)
  bool aborted = false;                              // under HttpClient::mu_
  std::chrono::steady_clock::time_point idle_since;  // under HttpClient::mu_ while idle
  // How long its last answer (not a long-poll's) took; "long" until there was one.
  std::chrono::steady_clock::duration last_answer = std::chrono::steady_clock::duration::max();
};

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)), busy_poller_(options_.busy_poll) {
  host_header_ = options_.server.HostHeader();
  if (!options_.token.empty()) authorization_ = "Bearer " + options_.token;
}

HttpClient::~HttpClient() = default;

std::unique_ptr<HttpClient::Connection> HttpClient::Acquire() {
  std::unique_ptr<Connection> c;
  std::vector<std::unique_ptr<Connection>> stale;  // closed outside the lock
  MutexLock lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  while (!idle_.empty() && !c) {
    c = std::move(idle_.back());
    idle_.pop_back();
    // Never send on a connection the server may be closing: one idle for
    // kIdleReuse (under the server's keep-alive timeout), or one with
    // anything to read (a close, a reset, stray bytes).
    if (now - c->idle_since > kIdleReuse || c->stream->WaitReadable(Duration(0), -1)) stale.push_back(std::move(c));
  }
  if (!c) c = std::make_unique<Connection>();
  busy_.push_back(c.get());  // in the same critical section: AbortInFlight sees every call from here on
  return c;
}

void HttpClient::Release(std::unique_ptr<Connection> c, bool reusable) {
  MutexLock lock(mu_);
  busy_.erase(std::remove(busy_.begin(), busy_.end(), c.get()), busy_.end());
  if (reusable && !c->aborted && c->stream && idle_.size() < options_.max_idle) {
    c->idle_since = std::chrono::steady_clock::now();
    idle_.push_back(std::move(c));
  }
}

void HttpClient::AbortInFlight() {
  MutexLock lock(mu_);
  for (Connection* c : busy_) {
    c->aborted = true;
    if (c->stream) c->stream->Shutdown();
  }
}

// One request and its answer on `c`, connecting first if it is new. The
// request's header and body leave in one sendmsg, and the answer is read
// with recv, polling only when nothing is waiting (net/socket_stream.h).
void HttpClient::BusyPollAnswer(const Connection& c) {
  switch (busy_poller_.Poll(*c.stream, c.last_answer)) {
    case net::BusyPoller::Outcome::kSkipped: return;
    case net::BusyPoller::Outcome::kCaught: busy_polls_caught_.fetch_add(1, std::memory_order_relaxed); return;
    case net::BusyPoller::Outcome::kMissed: busy_polls_missed_.fetch_add(1, std::memory_order_relaxed); return;
  }
}

bool HttpClient::Roundtrip(Connection& c, const std::string& method, const std::string& path, const std::string& text,
                           Duration read_timeout, bool long_poll, HttpAnswer& a, std::string& body, bool& keep_alive) {
  namespace http = boost::beast::http;
  if (!c.stream) {
    Result<int> fd = net::SocketStream::Connect(options_.server.host, options_.server.port, options_.connect_timeout);
    if (!fd.ok()) {
      a.error = fd.status().message();
      return false;
    }
    auto stream = std::make_unique<net::SocketStream>(*fd);
    MutexLock lock(mu_);
    if (c.aborted) {
      a.error = "aborted";
      return false;
    }
    c.stream = std::move(stream);
  }
  http::request<http::string_body> req{http::string_to_verb(method), path, 11};
  req.set(http::field::host, host_header_);
  if (!authorization_.empty()) req.set(http::field::authorization, authorization_);
  if (method != "GET" && method != "DELETE") {
    req.set(http::field::content_type, "application/json");
    req.body() = text.empty() ? "{}" : text;
  }
  req.prepare_payload();
  boost::system::error_code ec;
  c.stream->set_timeout(kWriteTimeout);
  http::write(*c.stream, req, ec);
  // A server that refused the request early (413) may have answered and
  // stopped reading while the body was still going out: its answer is worth
  // reading even when the write failed.
  const bool write_failed = static_cast<bool>(ec);
  c.stream->set_timeout(write_failed ? std::chrono::seconds(1) : read_timeout);
  const auto sent = std::chrono::steady_clock::now();
  if (!write_failed && !long_poll) BusyPollAnswer(c);
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  boost::system::error_code read_ec;
  http::read(*c.stream, c.buffer, parser, read_ec);
  if (!long_poll) c.last_answer = std::chrono::steady_clock::now() - sent;
  if (!read_ec) {
    a.status = static_cast<int>(parser.get().result_int());
    keep_alive = !write_failed && parser.keep_alive();
    body = std::move(parser.get().body());
    return true;
  }
  if (!write_failed) ec = read_ec;
  a.error = ec == boost::asio::error::timed_out ? "timed out" : ec.message();
  return false;
}

namespace {

std::string BodyText(const nlohmann::json& body) {
  return body.is_null() ? std::string() : body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

HttpAnswer HttpClient::Send(const std::string& method, const std::string& path, const nlohmann::json& body,
                            Duration extra_wait) {
  return SendText(method, path, BodyText(body), extra_wait);
}

HttpAnswer HttpClient::SendText(const std::string& method, const std::string& path, const std::string& text,
                                Duration extra_wait, bool keep_text) {
  std::unique_ptr<Connection> c = Acquire();
  HttpAnswer a;
  std::string body;
  bool keep_alive = false;
  if (!Roundtrip(*c, method, path, text, options_.read_timeout + extra_wait, extra_wait > Duration(0), a, body,
                 keep_alive)) {
    Release(std::move(c), /*reusable=*/false);  // a broken keep-alive socket is not worth keeping
    return a;
  }
  Release(std::move(c), keep_alive);
  if (keep_text && a.status >= 200 && a.status < 300) {
    a.text = std::move(body);
    return a;
  }
  a.body = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (a.body.is_discarded()) a.body = nullptr;
  return a;
}

Result<nlohmann::json> HttpClient::Call(const std::string& method, const std::string& path, const nlohmann::json& body,
                                        const std::string& what, Duration extra_wait) {
  return CallText(method, path, BodyText(body), what, extra_wait);
}

Result<HttpAnswer> HttpClient::Exchange(const std::string& method, const std::string& path,
                                        const std::string& body_text, const std::string& what, Duration extra_wait,
                                        bool keep_text) {
  HttpAnswer a = SendText(method, path, body_text, extra_wait, keep_text);
  if (a.status >= 200 && a.status < 300) return a;
  const std::string fallback = a.status == 0
                                   ? what + ": server " + options_.server.Url() + " unreachable (" + a.error + ")"
                                   : what + ": HTTP " + std::to_string(a.status);
  Status s = StatusFromHttp(a.status, a.body, fallback);
  if (!s.ok()) return s;
  return a;
}

Result<nlohmann::json> HttpClient::CallText(const std::string& method, const std::string& path,
                                            const std::string& body_text, const std::string& what,
                                            Duration extra_wait) {
  JW_ASSIGN_OR_RETURN(HttpAnswer a, Exchange(method, path, body_text, what, extra_wait, /*keep_text=*/false));
  return std::move(a.body);
}

template <typename T, typename Take>
Result<T> HttpClient::RetryLoop(const std::string& method, const std::string& path, const std::string& body_text,
                                const std::string& what, Duration budget, const std::function<bool()>& cancelled,
                                Duration extra_wait, bool keep_text, Take take) {
  thread_local std::mt19937 rng{std::random_device{}()};
  const auto give_up = std::chrono::steady_clock::now() + budget;
  Duration backoff = std::chrono::milliseconds(50);
  while (true) {
    Result<HttpAnswer> r = Exchange(method, path, body_text, what, extra_wait, keep_text);
    if (r.ok()) return take(*r);
    if (r.status().code() != StatusCode::kUnavailable) return r.status();
    if (cancelled && cancelled()) return r.status();
    std::uniform_int_distribution<std::int64_t> jitter(backoff.count() / 2, backoff.count() * 3 / 2);
    const Duration pause(jitter(rng));
    if (std::chrono::steady_clock::now() + pause >= give_up) return r.status();
    std::this_thread::sleep_for(pause);
    backoff = std::min<Duration>(backoff * 2, std::chrono::seconds(1));
  }
}

Result<nlohmann::json> HttpClient::CallWithRetry(const std::string& method, const std::string& path,
                                                 const nlohmann::json& body, const std::string& what, Duration budget,
                                                 const std::function<bool()>& cancelled, Duration extra_wait) {
  return CallTextWithRetry(method, path, BodyText(body), what, budget, cancelled, extra_wait);
}

Result<nlohmann::json> HttpClient::CallTextWithRetry(const std::string& method, const std::string& path,
                                                     const std::string& body_text, const std::string& what,
                                                     Duration budget, const std::function<bool()>& cancelled,
                                                     Duration extra_wait) {
  return RetryLoop<nlohmann::json>(method, path, body_text, what, budget, cancelled, extra_wait, false,
                                   [](HttpAnswer& a) { return std::move(a.body); });
}

Result<std::string> HttpClient::CallTextWithRetryRaw(const std::string& method, const std::string& path,
                                                     const std::string& body_text, const std::string& what,
                                                     Duration budget, const std::function<bool()>& cancelled,
                                                     Duration extra_wait) {
  return RetryLoop<std::string>(method, path, body_text, what, budget, cancelled, extra_wait, true,
                                [](HttpAnswer& a) { return std::move(a.text); });
}

}  // namespace jobwarden::client
