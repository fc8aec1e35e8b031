// HttpServer over cpp-httplib (Debian's 0.11.4 shared library).
//
// cpp-httplib serves each connection on one task of its TaskQueue for the
// connection's whole life (keep-alive included), and a handler that blocks
// (a long-poll, a stream) holds that task. Its default queue is a fixed pool
// whose size Debian compiled in (max(8, cores - 1)): eight idle long-polls
// would starve every other request. So the queue here is our own pool that
// grows with the connections, up to a ceiling sized for the long-poll and
// stream caps plus ordinary requests, and shrinks when idle.
//
// Build note: httplib.h must be compiled with the CPPHTTPLIB_*_SUPPORT
// definitions the library was built with (they change class layouts); they
// come from its pkg-config file (src/server/CMakeLists.txt).
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "server/http_server.h"

namespace jobwarden::server {

const std::string& HttpRequest::Header(std::string_view name) const {
  static const std::string kEmpty;
  auto it = headers.find(std::string(name));
  return it == headers.end() ? kEmpty : it->second;
}

namespace {

// A pool that starts a thread whenever a task arrives and no thread is idle,
// up to `max_threads`; threads unused for `idle_timeout` end (down to
// `min_threads`). shutdown() runs every queued task, then waits for all threads.
class DynamicThreadPool final : public httplib::TaskQueue {
 public:
  DynamicThreadPool(std::size_t min_threads, std::size_t max_threads, Duration idle_timeout)
      : state_(std::make_shared<State>()) {
    state_->min_threads = min_threads;
    state_->max_threads = std::max(max_threads, min_threads);
    state_->idle_timeout = idle_timeout;
    std::lock_guard<std::mutex> lock(state_->mu);
    for (std::size_t i = 0; i < min_threads; ++i) StartThread();
  }

  ~DynamicThreadPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->tasks.push_back(std::move(fn));
    if (state_->idle >= state_->tasks.size()) {
      state_->work_cv.notify_one();
    } else if (state_->threads < state_->max_threads) {
      StartThread();
    } else if (!state_->warned_full) {
      state_->warned_full = true;
      spdlog::warn("http: all {} connection threads are busy; new connections wait", state_->max_threads);
    }
  }

  void shutdown() override {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->stop = true;
    state_->work_cv.notify_all();
    state_->done_cv.wait(lock, [&] { return state_->threads == 0; });
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable work_cv;
    std::condition_variable done_cv;
    std::deque<std::function<void()>> tasks;  // GUARDED_BY(mu)
    std::size_t threads = 0;                  // GUARDED_BY(mu)
    std::size_t idle = 0;                     // GUARDED_BY(mu)
    bool stop = false;                        // GUARDED_BY(mu)
    bool warned_full = false;                 // GUARDED_BY(mu)
    std::size_t min_threads = 0;
    std::size_t max_threads = 0;
    Duration idle_timeout{};
  };

  // REQUIRES: state_->mu held.
  void StartThread() {
    ++state_->threads;
    // Detached: each thread holds the state alive, and shutdown() waits for
    // the count to reach zero, so no thread outlives what it touches.
    std::thread([s = state_] { Run(s); }).detach();
  }

  static void Run(const std::shared_ptr<State>& s) {
    std::unique_lock<std::mutex> lock(s->mu);
    while (true) {
      if (!s->tasks.empty()) {
        std::function<void()> fn = std::move(s->tasks.front());
        s->tasks.pop_front();
        lock.unlock();
        fn();
        lock.lock();
        continue;
      }
      if (s->stop) break;
      ++s->idle;
      const bool woke = s->work_cv.wait_for(lock, s->idle_timeout, [&] { return !s->tasks.empty() || s->stop; });
      --s->idle;
      if (!woke && s->threads > s->min_threads) break;
    }
    --s->threads;
    if (s->threads < s->max_threads) s->warned_full = false;
    s->done_cv.notify_all();
  }

  std::shared_ptr<State> state_;
};

// Exposes the listening socket, to raise the listen backlog: Debian's build
// compiled CPPHTTPLIB_LISTEN_BACKLOG 5 in, and a burst of connections (200
// long-polls opening at once) would overflow it; dropped SYNs are retried
// only after a second.
class ListeningServer final : public httplib::Server {
 public:
  bool RaiseBacklog(int backlog) { return ::listen(svr_sock_, backlog) == 0; }
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

class SinkAdapter final : public StreamSink {
 public:
  explicit SinkAdapter(httplib::DataSink& sink) : sink_(sink) {}
  bool Write(std::string_view data) override {
    if (failed_) return false;
    if (data.empty()) return true;
    if (!sink_.write(data.data(), data.size())) failed_ = true;
    return !failed_;
  }
  bool failed() const { return failed_; }

 private:
  httplib::DataSink& sink_;
  bool failed_ = false;
};

class HttplibServer final : public HttpServer {
 public:
  HttplibServer(HttpServerOptions options, HttpHandler handler, BodyLimit body_limit)
      : options_(options), handler_(std::move(handler)), body_limit_(std::move(body_limit)) {
    const HttpServerOptions o = options_;
    server_.new_task_queue = [o] { return new DynamicThreadPool(o.min_threads, o.max_threads, o.idle_thread_timeout); };
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_max_count(o.keep_alive_max_requests);
    server_.set_keep_alive_timeout(std::max<time_t>(1, std::chrono::duration_cast<std::chrono::seconds>(
                                                           o.keep_alive_timeout).count()));
    server_.set_read_timeout(o.read_timeout);
    server_.set_write_timeout(o.write_timeout);
    server_.set_payload_max_length(o.max_body_bytes);

    // A request with neither Content-Length nor chunked encoding has no body
    // (RFC 9112 §6.3), but this httplib would read one until the peer closes
    // (`curl -X POST` without -d sends no length). Say so before routing,
    // while no body byte has been read: the request object is httplib's own,
    // not const, only handed to this hook as const.
    server_.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
      if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
        const_cast<httplib::Request&>(req).set_header("Content-Length", "0");
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });

    auto plain = [this](const httplib::Request& req, httplib::Response& res) {
      HttpRequest r = Convert(req);
      r.body = req.body;
      Dispatch(r, res);
    };
    // Bodies are read here, up to the route's own limit; the rest is drained
    // and dropped so the connection stays in step and memory stays bounded.
    auto with_body = [this](const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader& content_reader) {
      HttpRequest r = Convert(req);
      const std::size_t limit = body_limit_ ? body_limit_(r.method, r.path) : options_.max_body_bytes;
      const bool read_ok = content_reader([&](const char* data, std::size_t len) {
        if (r.body_too_large || r.body.size() + len > limit) {
          r.body_too_large = true;
          return true;
        }
        r.body.append(data, len);
        return true;
      });
      if (!read_ok) {
        if (res.status == 413) {
          r.body_too_large = true;
        } else {
          res.status = 400;
          res.set_content(R"({"error":{"code":"invalid_argument","message":"body: could not be read"}})",
                          "application/json");
          return;
        }
      }
      Dispatch(r, res);
    };
    const char* kAll = "(.*)";
    server_.Get(kAll, plain);
    server_.Delete(kAll, plain);
    server_.Options(kAll, plain);
    server_.Post(kAll, with_body);
    server_.Put(kAll, with_body);
    server_.Patch(kAll, with_body);

    // Errors cpp-httplib answers itself (a malformed request, a body over the
    // hard limit) get the API's error shape too.
    server_.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string code = "invalid_argument";
      std::string message = "bad request";
      if (res.status == 413) {
        code = "payload_too_large";
        message = "body: over the server's largest body limit";
      } else if (res.status == 404) {
        code = "not_found";
        message = "no such route";
      } else if (res.status >= 500) {
        code = "internal";
        message = "internal error";
      }
      res.set_content(R"({"error":{"code":")" + code + R"(","message":")" + message + R"("}})", "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }));
    server_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      spdlog::error("http: handler threw: {}", what);
      res.status = 500;
      res.set_content(R"({"error":{"code":"internal","message":"internal error"}})", "application/json");
    });
  }

  Result<int> Listen(const std::string& host, int port) override {
    int bound = port;
    if (port == 0) {
      bound = server_.bind_to_any_port(host);
      if (bound <= 0) return Status::Unavailable("listen on " + host + ":0: cannot bind");
    } else if (!server_.bind_to_port(host, port)) {
      return Status::Unavailable("listen on " + host + ":" + std::to_string(port) +
                                 ": cannot bind (address in use, or not an address of this machine)");
    }
    if (!server_.RaiseBacklog(options_.listen_backlog)) {
      spdlog::warn("http: could not raise the listen backlog to {}", options_.listen_backlog);
    }
    return bound;
  }

  Status Serve() override {
    {
      std::lock_guard<std::mutex> lock(run_mu_);
      if (stopped_) return Status::Ok();
      serving_ = true;
    }
    const bool clean = server_.listen_after_bind();
    serve_returned_.store(true);
    if (!clean && !stopped_.load()) return Status::Unavailable("http: the listening socket failed");
    return Status::Ok();
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(run_mu_);
      stopped_.store(true);
      if (!serving_) return;  // Serve() will not start
    }
    // httplib's stop() does nothing until its accept loop runs: wait for it.
    while (!server_.is_running() && !serve_returned_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    server_.stop();
  }

 private:
  static HttpRequest Convert(const httplib::Request& req) {
    HttpRequest r;
    r.method = req.method;
    r.path = req.path;
    for (const auto& [k, v] : req.params) r.query.emplace(k, v);
    for (const auto& [k, v] : req.headers) r.headers[Lower(k)] = v;
    r.remote_addr = req.remote_addr;
    return r;
  }

  void Dispatch(const HttpRequest& r, httplib::Response& res) {
    HttpResponse out;
    handler_(r, out);
    res.status = out.status;
    for (const auto& [k, v] : out.headers) res.set_header(k, v);
    if (!out.stream) {
      res.set_content(out.body, out.content_type);
      return;
    }
    // Streams: httplib calls the provider until it calls done() or returns
    // false; the releaser runs once when the response is destroyed.
    auto peer_gone = std::make_shared<bool>(false);
    StreamProducer producer = std::move(out.stream);
    res.set_chunked_content_provider(
        out.content_type,
        [producer, peer_gone](std::size_t /*offset*/, httplib::DataSink& sink) {
          SinkAdapter adapter(sink);
          const bool more = producer(adapter);
          if (adapter.failed()) {
            *peer_gone = true;
            return false;
          }
          if (!more) sink.done();
          return true;
        },
        [on_end = std::move(out.on_stream_end), peer_gone](bool /*success*/) {
          if (on_end) on_end(*peer_gone);
        });
  }

  const HttpServerOptions options_;
  HttpHandler handler_;
  BodyLimit body_limit_;
  ListeningServer server_;
  std::mutex run_mu_;
  bool serving_ = false;  // GUARDED_BY(run_mu_)
  std::atomic<bool> stopped_{false};
  std::atomic<bool> serve_returned_{false};
};

}  // namespace

std::unique_ptr<HttpServer> MakeHttplibServer(HttpServerOptions options, HttpHandler handler, BodyLimit body_limit) {
  return std::make_unique<HttplibServer>(options, std::move(handler), std::move(body_limit));
}

}  // namespace jobwarden::server
