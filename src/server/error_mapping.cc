#include "server/error_mapping.h"

#include <nlohmann/json.hpp>

namespace jobwarden::server {

HttpError ToHttpError(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return {200, "ok"};
    case StatusCode::kInvalidArgument: return {400, "invalid_argument"};
    case StatusCode::kCheckpointTooLarge: return {400, "checkpoint_too_large"};
    case StatusCode::kNotFound: return {404, "not_found"};
    case StatusCode::kConflict: return {409, "conflict"};
    case StatusCode::kLeaseLost: return {409, "lease_lost"};
    case StatusCode::kUnavailable: return {503, "unavailable"};
    case StatusCode::kNotSupported: return {501, "not_supported"};
    case StatusCode::kInternal: return {500, "internal"};
  }
  return {500, "internal"};
}

nlohmann::json ErrorJson(std::string_view code, const std::string& message, const std::string& field) {
  nlohmann::json error = {{"code", std::string(code)}, {"message", message}};
  if (!field.empty()) error["field"] = field;
  return {{"error", std::move(error)}};
}

void ReplyJson(HttpResponse& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.content_type = "application/json";
  // Replace bad UTF-8 rather than throw: a job's message may carry any bytes.
  res.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void ReplyJsonText(HttpResponse& res, int status, std::string body) {
  res.status = status;
  res.content_type = "application/json";
  res.body = std::move(body);
}

void ReplyStatus(HttpResponse& res, const Status& status) {
  const HttpError e = ToHttpError(status);
  ReplyJson(res, e.status, ErrorJson(e.code, status.message(), status.field()));
}

void ReplyError(HttpResponse& res, int http_status, std::string_view code, const std::string& message) {
  ReplyJson(res, http_status, ErrorJson(code, message));
}

}  // namespace jobwarden::server
