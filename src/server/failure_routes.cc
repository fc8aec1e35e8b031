// GET /v1/failures?since=RFC3339&limit=N: failed attempts grouped by class
// and pattern (DESIGN.md "Dashboard and observability"; core/failure_groups.h).
#include <nlohmann/json.hpp>

#include "protocol/failure_json.h"
#include "protocol/json_fields.h"
#include "server/api.h"
#include "server/error_mapping.h"

namespace jobwarden::server {

namespace {

constexpr Duration kDefaultWindow = std::chrono::hours(24);

void ListFailures(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  const auto& q = r.http.query;
  if (Status s = OnlyKnownParams(q, {"since", "limit"}); !s.ok()) return ReplyStatus(res, s);
  Timestamp since = ctx.engine.clock().Now() - kDefaultWindow;
  if (auto v = Param(q, "since")) {
    auto t = ParseRfc3339(*v);
    if (!t.ok()) {
      return ReplyStatus(res,
                         Status::InvalidArgument("since: '" + *v + "' is not an RFC 3339 time").WithField("since"));
    }
    since = *t;
  }
  auto limit = LimitParam(q, 50, 1000);
  if (!limit.ok()) return ReplyStatus(res, limit.status());
  auto failures = ctx.engine.FailureGroups(since, *limit);
  if (!failures.ok()) return ReplyStatus(res, failures.status());
  nlohmann::json groups = nlohmann::json::array();
  for (const FailureGroup& g : failures->groups) groups.push_back(FailureGroupToJson(g));
  ReplyJson(res, 200,
            {{"failures", std::move(groups)},
             {"since", FormatRfc3339(since)},
             {"attempts", failures->attempts},
             {"truncated", failures->truncated}});
}

}  // namespace

void AddFailureRoutes(Router& router, ServerContext* ctx) {
  router.Add("GET", "/v1/failures", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { ListFailures(*ctx, r, res); });
}

}  // namespace jobwarden::server
