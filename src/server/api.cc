#include "server/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/error_mapping.h"
#include "server/metrics.h"

namespace jobwarden::server {

namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto end = slash == std::string_view::npos ? path.size() : slash;
    out.push_back(path.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

// `path` holds the request's segments, each percent-decoded on its own.
bool MatchSegments(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                   std::map<std::string, std::string>& params) {
  if (pattern.size() != path.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const std::string& p = pattern[i];
    const bool is_param = p.size() > 2 && p.front() == '{' && p.back() == '}';
    if (is_param ? path[i].empty() : p != path[i]) return false;
  }
  params.clear();
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const std::string& p = pattern[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') params[p.substr(1, p.size() - 2)] = path[i];
  }
  return true;
}

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// The host part of a Host header: "127.0.0.1:7070" -> "127.0.0.1", "[::1]:80" -> "[::1]".
std::string_view HostName(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const auto colon = host.find(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool ChangesState(std::string_view method) { return method != "GET" && method != "HEAD" && method != "OPTIONS"; }

}  // namespace

void Router::Add(std::string method, std::string pattern, Role role, RouteHandler handler, std::size_t body_limit) {
  Route r{std::move(method), std::move(pattern), role, std::move(handler), body_limit, {}};
  for (std::string_view seg : Split(r.pattern)) r.segments.emplace_back(seg);
  routes_.push_back(std::move(r));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match m;
  // Split first, then decode: an encoded '/' stays in its segment.
  std::vector<std::string> segments;
  for (std::string_view seg : Split(path)) segments.push_back(PercentDecode(seg, /*plus_is_space=*/false));
  for (const Route& r : routes_) {
    std::map<std::string, std::string> params;
    if (!MatchSegments(r.segments, segments, params)) continue;
    if (r.method == method) {
      m.route = &r;
      m.params = std::move(params);
      m.allowed.clear();
      return m;
    }
    m.allowed.push_back(r.method);
  }
  return m;
}

Api::Api(ServerContext* ctx) : ctx_(ctx) {
  AddJobRoutes(router_, ctx);
  AddQueueRoutes(router_, ctx);
  AddResourceRoutes(router_, ctx);
  AddScheduleRoutes(router_, ctx);
  AddBatchRoutes(router_, ctx);
  AddFailureRoutes(router_, ctx);
  AddWorkerRoutes(router_, ctx);
  AddStreamRoutes(router_, ctx);
  AddHealthRoutes(router_, ctx);
  AddDashboardRoutes(router_, ctx);
}

std::size_t Api::BodyLimit(std::string_view method, std::string_view path) const {
  const std::size_t fallback = ctx_ ? ctx_->config.max_body_bytes : (1u << 20);
  const Router::Match m = router_.Find(method, path);
  if (m.route && m.route->body_limit > 0) return m.route->body_limit;
  return fallback;
}

void Api::Handle(const HttpRequest& request, HttpResponse& response) {
  const Route* route = nullptr;
  try {
    Dispatch(request, response, route);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: unexpected error: {}", request.method, request.path, e.what());
    response = HttpResponse();
    ReplyError(response, 500, "internal", "internal error");
  }
  // Labels are the route's own strings (no per-request allocation); requests
  // that matched no route are counted together.
  if (ctx_) {
    ctx_->metrics.OnRequest(route ? std::string_view(route->method) : std::string_view("ANY"),
                            route ? std::string_view(route->pattern) : std::string_view("unmatched"), response.status);
  }
}

void Api::Dispatch(const HttpRequest& req, HttpResponse& res, const Route*& matched) {
  const Router::Match match = router_.Find(req.method, req.raw_path.empty() ? req.path : req.raw_path);
  if (!match.route) {
    if (!match.allowed.empty()) {
      std::string allowed;
      for (const auto& m : match.allowed) allowed += (allowed.empty() ? "" : ", ") + m;
      res.headers.emplace_back("Allow", allowed);
      ReplyError(res, 405, "invalid_argument",
                 req.method + " is not allowed on " + req.path + " (allowed: " + allowed + ")");
    } else {
      ReplyError(res, 404, "not_found", "no route " + req.method + " " + req.path);
    }
    return;
  }
  const Route& route = *match.route;
  matched = &route;
  ServerContext& ctx = *ctx_;

  if (ctx.draining.load() && route.role != Role::kPublic) {
    ReplyError(res, 503, "unavailable", "the server is shutting down; retry against its successor");
    return;
  }

  // A browser says where a request comes from: a page of another site (or
  // another port of this host) may not change state here, whatever token
  // rules apply. Without tokens the server trusts every local caller, so this
  // is what keeps a web page from driving it (CSRF); with tokens it is a
  // second wall. Clients that are not browsers send no Sec-Fetch-Site.
  if (ChangesState(req.method)) {
    const std::string& site = req.Header("sec-fetch-site");
    if (!site.empty() && site != "same-origin" && site != "none") {
      ReplyError(res, 403, "forbidden",
                 "Sec-Fetch-Site: " + site + ": a page of another origin may not change state on this server");
      return;
    }
  }

  // Who is calling.
  Role role = Role::kAdmin;
  if (route.role != Role::kPublic) {
    if (ctx.config.tokens.empty()) {
      // No tokens: every caller is admin, so only this machine may call, and a
      // browser page must not (no DNS rebinding: the Host must be a loopback name).
      const std::string_view host = HostName(req.Header("host"));
      if (!IsLoopbackName(host)) {
        ReplyError(res, 403, "forbidden",
                   "Host '" + std::string(host) +
                       "' is not a loopback name; a server without tokens answers only "
                       "requests to localhost, 127.0.0.1 or [::1]");
        return;
      }
    } else {
      const std::string& auth = req.Header("authorization");
      const std::string_view prefix = "Bearer ";
      if (auth.size() <= prefix.size() || auth.compare(0, prefix.size(), prefix) != 0) {
        res.headers.emplace_back("WWW-Authenticate", "Bearer");
        ReplyError(res, 401, "unauthorized", "Authorization: a bearer token is required");
        return;
      }
      const std::string_view token = std::string_view(auth).substr(prefix.size());
      std::optional<Role> found;
      for (const auto& [t, r] : ctx.config.tokens) {
        if (ConstantTimeEquals(token, t)) found = r;
      }
      if (!found) {
        res.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
        ReplyError(res, 401, "unauthorized", "Authorization: the bearer token is not valid");
        return;
      }
      role = *found;
      if (role < route.role) {
        ReplyError(res, 403, "forbidden",
                   "a " + std::string(ToString(role)) + " token may not call " + route.method + " " + route.pattern +
                       " (needs " + std::string(ToString(route.role)) + ")");
        return;
      }
    }
  }

  static const nlohmann::json kEmptyObject = nlohmann::json::object();
  nlohmann::json body = nlohmann::json::object();
  if (ChangesState(req.method) && req.method != "DELETE") {
    const std::string& type = req.Header("content-type");
    const std::string_view media = std::string_view(type).substr(0, type.find(';'));
    if (media != "application/json") {
      ReplyError(res, 415, "invalid_argument",
                 "Content-Type: must be application/json" + (type.empty() ? std::string() : ", not " + type));
      return;
    }
  }
  if (req.body_too_large) {
    const std::size_t limit = route.body_limit > 0 ? route.body_limit : ctx.config.max_body_bytes;
    ReplyError(res, 413, "payload_too_large",
               "body: over the limit of " + std::to_string(limit) + " bytes for " + route.pattern);
    return;
  }
  if (ChangesState(req.method) && !req.body.empty()) {
    try {
      body = nlohmann::json::parse(req.body);
    } catch (const nlohmann::json::parse_error& e) {
      ReplyError(res, 400, "invalid_argument", std::string("body: not valid JSON: ") + e.what());
      return;
    }
    if (!body.is_object()) {
      ReplyError(res, 400, "invalid_argument", std::string("body: must be a JSON object, not ") + body.type_name());
      return;
    }
  }
  const ApiRequest api{req, match.params, body.is_object() ? body : kEmptyObject, role};
  route.handler(api, res);
}

std::vector<std::pair<std::string, std::string>> ApiRoutes() {
  Api api(nullptr);
  std::vector<std::pair<std::string, std::string>> out;
  for (const Route& r : api.router().routes()) out.emplace_back(r.method, r.pattern);
  return out;
}

}  // namespace jobwarden::server
