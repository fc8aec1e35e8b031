// The HTTP/JSON API of DESIGN.md ("Interfaces"), as docs/openapi.yaml
// specifies it: a route table, and one entry point that every request passes
// through — routing, shutdown (503), tokens and roles (401/403), the
// loopback-Host rule of a tokenless server, content type (415), body limits
// (413) and strict JSON — before a route's handler runs. Handlers live in
// one file per resource (job_routes.cc, queue_routes.cc, resource_routes.cc,
// worker_routes.cc, stream_routes.cc, health_routes.cc, dashboard_routes.cc).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "server/http_server.h"
#include "server/server_config.h"

namespace jobwarden::server {

class EventHub;
class FetchWaiters;
class Metrics;
class WorkerSessions;

// What route handlers share. Owned by the server's wiring (server_app.cc).
struct ServerContext {
  ServerContext(Engine& e, const ServerConfig& c, Metrics& m, FetchWaiters& w, EventHub& ev, WorkerSessions& s)
      : engine(e), config(c), metrics(m), waiters(w), events(ev), sessions(s) {}
  Engine& engine;
  const ServerConfig& config;
  Metrics& metrics;
  FetchWaiters& waiters;
  EventHub& events;
  WorkerSessions& sessions;
  std::atomic<bool> draining{false};  // shutdown began: new requests get 503
};

struct ApiRequest {
  const HttpRequest& http;
  std::map<std::string, std::string> params;  // path parameters: {id}, {name}
  const nlohmann::json& body;                 // a JSON object; {} for an empty body or a GET
  Role role;                                  // the caller's role
  const std::string& Param(const std::string& name) const { return params.at(name); }
};

using RouteHandler = std::function<void(const ApiRequest&, HttpResponse&)>;

struct Route {
  std::string method;
  std::string pattern;  // "/v1/jobs/{id}", as in docs/openapi.yaml
  Role role;            // the least role allowed
  RouteHandler handler;
  std::size_t body_limit = 0;         // 0: the server's max_body_bytes
  std::vector<std::string> segments;  // the pattern split at '/', for matching
};

class Router {
 public:
  void Add(std::string method, std::string pattern, Role role, RouteHandler handler, std::size_t body_limit = 0);

  struct Match {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed;  // methods of a known path, when the method did not match
  };
  // `path` as sent (percent-encoded): it is split at '/' first, then each
  // segment is decoded, so a parameter may hold an encoded '/' (%2F).
  Match Find(std::string_view method, std::string_view path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Route groups. `ctx` is only dereferenced when a handler runs, so a null
// context builds the table alone (ApiRoutes()).
void AddJobRoutes(Router& router, ServerContext* ctx);
void AddQueueRoutes(Router& router, ServerContext* ctx);
void AddResourceRoutes(Router& router, ServerContext* ctx);
void AddScheduleRoutes(Router& router, ServerContext* ctx);
void AddBatchRoutes(Router& router, ServerContext* ctx);
void AddFailureRoutes(Router& router, ServerContext* ctx);
void AddWorkerRoutes(Router& router, ServerContext* ctx);
void AddStreamRoutes(Router& router, ServerContext* ctx);
void AddHealthRoutes(Router& router, ServerContext* ctx);
void AddDashboardRoutes(Router& router, ServerContext* ctx);

class Api {
 public:
  explicit Api(ServerContext* ctx);
  void Handle(const HttpRequest& request, HttpResponse& response);
  // The body limit of the route a request is for (HttpServer's BodyLimit).
  // `path` as sent (percent-encoded), as Router::Find takes it.
  std::size_t BodyLimit(std::string_view method, std::string_view path) const;
  const Router& router() const { return router_; }

 private:
  void Dispatch(const HttpRequest& request, HttpResponse& response, const Route*& matched);

  ServerContext* ctx_;
  Router router_;
};

// Every (method, path pattern) the API serves: docs/openapi.yaml must list
// exactly these (tests/integration/server_openapi_test.cc).
std::vector<std::pair<std::string, std::string>> ApiRoutes();

}  // namespace jobwarden::server
