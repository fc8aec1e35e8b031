// The one place that maps a Status to HTTP (STYLE.md §5), and the one error
// shape of the API: {"error": {"code": "...", "message": "..."}} with the
// codes of DESIGN.md ("Error codes").
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>

#include "core/status.h"
#include "server/http_server.h"

namespace jobwarden::server {

struct HttpError {
  int status = 500;
  std::string_view code = "internal";
};

// invalid_argument 400, checkpoint_too_large 400, not_found 404, conflict 409,
// lease_lost 409, unavailable 503, not_supported 501, internal 500.
HttpError ToHttpError(const Status& status);

// {"error": {"code", "message", "field"?}}: field only when the Status names one.
nlohmann::json ErrorJson(std::string_view code, const std::string& message, const std::string& field = {});

void ReplyJson(HttpResponse& res, int status, const nlohmann::json& body);
// A body already serialized as JSON text (the worker protocol's hot paths).
void ReplyJsonText(HttpResponse& res, int status, std::string body);
void ReplyStatus(HttpResponse& res, const Status& status);
// Errors the HTTP layer decides itself (401, 403, 405, 413, 415, 503 while draining).
void ReplyError(HttpResponse& res, int http_status, std::string_view code, const std::string& message);

}  // namespace jobwarden::server
