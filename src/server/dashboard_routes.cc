// The dashboard (docs/dashboard.md): GET / and GET /ui/{file} serve the
// static files of web/, built into the binary (dashboard_assets.h); the page
// itself then speaks the API with the caller's bearer token, so the token
// rules apply to it unchanged. GET /v1/whoami tells the page the role of its
// token, so a read token sees no actions.
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>

#include "server/api.h"
#include "server/dashboard_assets.h"
#include "server/error_mapping.h"

namespace jobwarden::server {

namespace {

std::string_view ContentType(std::string_view path) {
  const auto ends = [&](std::string_view ext) {
    return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// The page loads only its own files and talks only to this server; it may not
// be framed (clickjacking) and sends no referrer with links out.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

void ServeAsset(const HttpRequest& req, HttpResponse& res, std::string_view path) {
  for (const DashboardAsset& a : DashboardAssets()) {
    if (a.path != path) continue;
    // The files change only with the binary: their hash is a strong validator.
    const std::string etag = "\"" + std::to_string(std::hash<std::string_view>{}(a.body)) + "\"";
    res.headers.emplace_back("ETag", etag);
    res.headers.emplace_back("Cache-Control", "no-cache");
    res.headers.emplace_back("X-Content-Type-Options", "nosniff");
    res.headers.emplace_back("Referrer-Policy", "no-referrer");
    res.headers.emplace_back("X-Frame-Options", "DENY");
    res.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
    if (req.Header("if-none-match") == etag) {
      res.status = 304;
      res.content_type.clear();
      return;
    }
    res.status = 200;
    res.content_type = std::string(ContentType(a.path));
    res.body = std::string(a.body);
    return;
  }
  ReplyError(res, 404, "not_found", "no dashboard file '" + std::string(path) + "'");
}

void WhoAmI(const ApiRequest& r, HttpResponse& res) { ReplyJson(res, 200, {{"role", std::string(ToString(r.role))}}); }

}  // namespace

void AddDashboardRoutes(Router& router, ServerContext* /*ctx*/) {
  router.Add("GET", "/", Role::kPublic,
             [](const ApiRequest& r, HttpResponse& res) { ServeAsset(r.http, res, "index.html"); });
  router.Add("GET", "/ui/{file}", Role::kPublic,
             [](const ApiRequest& r, HttpResponse& res) { ServeAsset(r.http, res, r.Param("file")); });
  router.Add("GET", "/v1/whoami", Role::kRead, [](const ApiRequest& r, HttpResponse& res) { WhoAmI(r, res); });
}

}  // namespace jobwarden::server
