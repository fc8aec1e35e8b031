// GET /v1/schedules: every schedule with its next fire (DESIGN.md "Schedules").
#include <nlohmann/json.hpp>

#include "protocol/json_fields.h"
#include "protocol/schedule_json.h"
#include "server/api.h"
#include "server/error_mapping.h"

namespace jobwarden::server {

namespace {

void ListSchedules(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  if (Status s = OnlyKnownParams(r.http.query, {}); !s.ok()) return ReplyStatus(res, s);
  auto schedules = ctx.engine.Schedules();
  if (!schedules.ok()) return ReplyStatus(res, schedules.status());
  nlohmann::json list = nlohmann::json::array();
  for (const ScheduleInfo& s : *schedules) list.push_back(ScheduleInfoToJson(s));
  ReplyJson(res, 200, {{"schedules", std::move(list)}});
}

}  // namespace

void AddScheduleRoutes(Router& router, ServerContext* ctx) {
  router.Add("GET", "/v1/schedules", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { ListSchedules(*ctx, r, res); });
}

}  // namespace jobwarden::server
