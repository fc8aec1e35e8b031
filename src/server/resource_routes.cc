// Resources (list, get, set limits) and the holds: why available jobs are
// not being leased (DESIGN.md "Flow control"). Resource keys hold ':' '/'
// '.': a '/' in a key is sent percent-encoded (%2F) and the router keeps it
// inside the {key} segment.
#include <nlohmann/json.hpp>

#include "protocol/flow_json.h"
#include "protocol/json_fields.h"
#include "server/api.h"
#include "server/error_mapping.h"
#include "server/fetch_waiters.h"

namespace jobwarden::server {

namespace {

void ListResources(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  if (Status s = OnlyKnownParams(r.http.query, {}); !s.ok()) return ReplyStatus(res, s);
  auto resources = ctx.engine.Resources();
  if (!resources.ok()) return ReplyStatus(res, resources.status());
  nlohmann::json list = nlohmann::json::array();
  for (const ResourceInfo& info : *resources) list.push_back(ResourceInfoToJson(info));
  ReplyJson(res, 200, {{"resources", std::move(list)}});
}

void GetResource(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  if (Status s = OnlyKnownParams(r.http.query, {}); !s.ok()) return ReplyStatus(res, s);
  auto info = ctx.engine.Resource(r.Param("key"));
  if (!info.ok()) return ReplyStatus(res, info.status());
  ReplyJson(res, 200, ResourceInfoToJson(*info));
}

// PUT /v1/resources/{key}: a merge-patch of the resource's limits; answers the resource.
void SetResourceLimits(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  auto patch = ParseResourceLimitsPatch(r.body);
  if (!patch.ok()) return ReplyStatus(res, patch.status());
  auto info = ctx.engine.SetResourceLimits(r.Param("key"), *patch);
  if (!info.ok()) return ReplyStatus(res, info.status());
  // Jobs of the key may wait in any queue, and raised limits may free them now.
  ctx.waiters.WakeOnePerQueue();
  ReplyJson(res, 200, ResourceInfoToJson(*info));
}

// GET /v1/holds: {"holds": [{queue, available, reasons}]}, Engine::HeldQueues.
void ListHolds(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  if (Status s = OnlyKnownParams(r.http.query, {}); !s.ok()) return ReplyStatus(res, s);
  auto holds = ctx.engine.HeldQueues();
  if (!holds.ok()) return ReplyStatus(res, holds.status());
  nlohmann::json list = nlohmann::json::array();
  for (const QueueHold& h : *holds) {
    list.push_back({{"queue", h.queue}, {"available", h.available}, {"reasons", h.reasons}});
  }
  ReplyJson(res, 200, {{"holds", std::move(list)}});
}

}  // namespace

void AddResourceRoutes(Router& router, ServerContext* ctx) {
  router.Add("GET", "/v1/resources", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { ListResources(*ctx, r, res); });
  router.Add("GET", "/v1/resources/{key}", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { GetResource(*ctx, r, res); });
  router.Add("PUT", "/v1/resources/{key}", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { SetResourceLimits(*ctx, r, res); });
  router.Add("GET", "/v1/holds", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { ListHolds(*ctx, r, res); });
}

}  // namespace jobwarden::server
