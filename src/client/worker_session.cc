#include "client/worker_session.h"

#include <spdlog/spdlog.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "net/socket_stream.h"

namespace jobwarden::client {

namespace {

using SteadyClock = std::chrono::steady_clock;

}  // namespace

WorkerSession::WorkerSession(HttpClientOptions http, std::string worker_id, Duration grace,
                             WorkerSessionCallbacks callbacks)
    : http_options_(std::move(http)),
      worker_id_(std::move(worker_id)),
      grace_(grace),
      callbacks_(std::move(callbacks)) {}

WorkerSession::~WorkerSession() { Stop(); }

void WorkerSession::Start() {
  if (thread_.running()) return;
  {
    MutexLock lock(mu_);
    stop_ = false;
  }
  thread_.Start([this](const std::stop_token&) { Loop(); },
                [this] {
                  {
                    MutexLock lock(mu_);
                    stop_ = true;
                    if (stream_ != nullptr) stream_->Shutdown();
                  }
                  cv_.NotifyAll();
                });
}

void WorkerSession::Stop() { thread_.Stop(); }

void WorkerSession::OnEvent(const std::string& name, const std::string& data, bool& shutdown_seen) {
  const nlohmann::json j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (name == "hello") {
    if (j.is_object() && j.contains("session_epoch") && j["session_epoch"].is_number_integer()) {
      epoch_ = j["session_epoch"].get<std::int64_t>();
    }
    shutdown_seen = false;
    connected_ = true;
    ++opens_;
  } else if (name == "cancel") {
    if (!j.is_object() || !callbacks_.on_cancel) return;
    auto id = ParseJobId(j.value("job_id", ""));
    if (!id.ok()) return;
    const std::int64_t token =
        j.contains("token") && j["token"].is_number_integer() ? j["token"].get<std::int64_t>() : 0;
    std::string reason;
    if (j.contains("reason") && j["reason"].is_string()) reason = j["reason"].get<std::string>();
    callbacks_.on_cancel(*id, token, ParseCancelReason(reason).value_or(CancelReason::kUser));
  } else if (name == "shutdown") {
    // The server is stopping on purpose: never a take-back, so never a reason to kill.
    shutdown_seen = true;
    spdlog::info("worker {}: the server is shutting down; reconnecting until it is back", worker_id_);
  } else if (name == "bye") {
    // Deregistered: there is nothing to keep open any more.
    MutexLock lock(mu_);
    stop_ = true;
  } else if (name == "replaced" || name == "overflow") {
    spdlog::info("worker {}: session ended by the server ({})", worker_id_, name);
  }
}

int WorkerSession::RunOnce(bool& shutdown_seen, SteadyClock::time_point& last_rx) {
  namespace http = boost::beast::http;
  {
    MutexLock lock(mu_);
    if (stop_) return 0;
  }
  // Quick to notice a dead server: it ticks the stream every 100 ms, and a
  // reopen must fit in half the grace.
  Result<int> fd = net::SocketStream::Connect(
      http_options_.server.host, http_options_.server.port,
      std::clamp<Duration>(grace_ / 4, std::chrono::milliseconds(100), std::chrono::seconds(1)));
  if (!fd.ok()) return 0;
  net::SocketStream stream(*fd);
  stream.set_timeout(std::clamp<Duration>(grace_ / 2, std::chrono::milliseconds(300), std::chrono::seconds(2)));
  {
    MutexLock lock(mu_);
    if (stop_) return 0;
    stream_ = &stream;
  }
  struct Unpublish {
    WorkerSession* self;
    ~Unpublish() {
      MutexLock lock(self->mu_);
      self->stream_ = nullptr;
    }
  } unpublish{this};

  http::request<http::empty_body> req{http::verb::get, "/v1/worker/session?worker_id=" + UrlEncode(worker_id_), 11};
  req.set(http::field::host, http_options_.server.HostHeader());
  if (!http_options_.token.empty()) req.set(http::field::authorization, "Bearer " + http_options_.token);
  boost::system::error_code ec;
  http::write(stream, req, ec);
  if (ec) return 0;

  // The events arrive as chunks of a never-ending answer; each complete
  // "event: ...\ndata: ...\n\n" frame is handled as soon as it is in.
  std::string pending;
  auto on_chunk = [&](std::uint64_t, boost::beast::string_view data, boost::system::error_code&) {
    last_rx = SteadyClock::now();
    pending.append(data.data(), data.size());
    std::size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      std::string name, payload;
      std::size_t pos = 0;
      while (pos < end) {
        std::size_t nl = pending.find('\n', pos);
        if (nl == std::string::npos || nl > end) nl = end;
        const std::string_view line(pending.data() + pos, nl - pos);
        if (line.starts_with("event: ")) name = std::string(line.substr(7));
        if (line.starts_with("data: ")) payload += std::string(line.substr(6));
        pos = nl + 1;
      }
      pending.erase(0, end + 2);
      if (!name.empty()) OnEvent(name, payload, shutdown_seen);
    }
    return data.size();
  };
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  parser.on_chunk_body(on_chunk);
  http::read_header(stream, buffer, parser, ec);
  if (ec) return 0;
  last_rx = SteadyClock::now();
  const int status = static_cast<int>(parser.get().result_int());
  if (status == 200) {
    while (!parser.is_done()) {
      http::read_some(stream, buffer, parser, ec);
      if (ec) break;
      MutexLock lock(mu_);
      if (stop_) break;
    }
  } else {
    stream.set_timeout(std::chrono::seconds(2));
    http::read(stream, buffer, parser, ec);  // an error body: read it for the log
  }
  connected_ = false;
  if (status != 200) {
    const nlohmann::json body = nlohmann::json::parse(parser.get().body(), nullptr, false);
    spdlog::warn("worker {}: session refused: {}", worker_id_,
                 StatusFromHttp(status, body, "HTTP " + std::to_string(status)).ToString());
  }
  return status;
}

void WorkerSession::Loop() {
  bool shutdown_seen = false;
  bool lost_fired = false;
  auto last_rx = SteadyClock::now();
  Duration pause(0);
  while (true) {
    const std::int64_t opens_before = opens_.load();
    const int status = RunOnce(shutdown_seen, last_rx);
    {
      MutexLock lock(mu_);
      if (stop_) return;
    }
    if (opens_.load() != opens_before) {
      // It was open: this is a fresh drop.
      lost_fired = false;
      pause = Duration(0);
      if (!shutdown_seen) {
        spdlog::warn("worker {}: session dropped; reopening (jobs are killed if it stays closed {})", worker_id_,
                     FormatDurationShort(grace_ / 2));
      }
    }
    if (status == 404 || status == 409) {
      // Forgotten (404) or declared lost (409, its jobs already taken back).
      if (status == 409 && !lost_fired && callbacks_.on_lost) {
        lost_fired = true;
        callbacks_.on_lost();
      }
      if (callbacks_.on_unknown) callbacks_.on_unknown();
    }
    if (!shutdown_seen && !lost_fired && SteadyClock::now() - last_rx >= grace_ / 2) {
      lost_fired = true;
      spdlog::error(
          "worker {}: session could not be reopened within {}: killing held jobs (the server is about to "
          "run them elsewhere)",
          worker_id_, FormatDurationShort(grace_ / 2));
      if (callbacks_.on_lost) callbacks_.on_lost();
    }
    {
      MutexLock lock(mu_);
      const auto until = SteadyClock::now() + pause;
      while (!stop_ && cv_.WaitUntil(mu_, until) == std::cv_status::no_timeout) {
      }
      if (stop_) return;
    }
    pause = std::clamp<Duration>(pause * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(200));
  }
}

}  // namespace jobwarden::client
