// Batches (DESIGN.md "Batches"): POST /v1/batches, GET /v1/batches,
// GET /v1/batches/{id}, and a worker's fan-out from inside a job
// (POST /v1/worker/batch, fenced by the parent's lease token).
#include <nlohmann/json.hpp>

#include "protocol/batch_json.h"
#include "protocol/json_fields.h"
#include "server/api.h"
#include "server/error_mapping.h"

namespace jobwarden::server {

namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

void Submit(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  auto request = ParseBatchRequest(r.body);
  if (!request.ok()) return ReplyStatus(res, request.status());
  auto batch = ctx.engine.SubmitBatch(*request);
  if (!batch.ok()) return ReplyStatus(res, batch.status());
  ReplyJsonText(res, 201, EncodeBatchJson(*batch));
}

// {"job_id", "token", "batch": {...}}: the batch's parent is the job, whose
// lease the caller must hold (a zombie's fan-out is refused as lease_lost).
void SubmitFromJob(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  JsonFields f(r.body);
  if (Status s = f.OnlyKnown({"job_id", "token", "batch"}); !s.ok()) return ReplyStatus(res, s);
  auto parent = f.RequiredJobId("job_id");
  if (!parent.ok()) return ReplyStatus(res, parent.status());
  auto token = f.Int("token", 1, std::numeric_limits<std::int64_t>::max());
  if (!token.ok()) return ReplyStatus(res, token.status());
  if (!*token) return ReplyStatus(res, Status::InvalidArgument("token: required").WithField("token"));
  const nlohmann::json* body = f.Find("batch");
  if (body == nullptr) return ReplyStatus(res, Status::InvalidArgument("batch: required").WithField("batch"));
  auto request = ParseBatchRequest(*body);
  if (!request.ok()) return ReplyStatus(res, request.status().WithContext("batch"));
  auto batch = ctx.engine.SubmitChildBatch(*parent, **token, *request);
  if (!batch.ok()) return ReplyStatus(res, batch.status());
  ReplyJsonText(res, 201, EncodeBatchJson(*batch));
}

void Get(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  if (Status s = OnlyKnownParams(r.http.query, {}); !s.ok()) return ReplyStatus(res, s);
  auto batch = ctx.engine.Batch(r.Param("id"));
  if (!batch.ok()) return ReplyStatus(res, batch.status());
  ReplyJsonText(res, 200, EncodeBatchJson(*batch));
}

void List(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  const auto& q = r.http.query;
  if (Status s = OnlyKnownParams(q, {"state", "limit", "cursor"}); !s.ok()) return ReplyStatus(res, s);
  BatchListParams p;
  if (auto v = Param(q, "state")) {
    auto st = ParseBatchState(*v);
    if (!st) {
      return ReplyStatus(res, Status::InvalidArgument("state: '" + *v + "' is not one of running, succeeded, failed"));
    }
    p.state = *st;
  }
  auto limit = LimitParam(q, kDefaultPageSize, kMaxPageSize);
  if (!limit.ok()) return ReplyStatus(res, limit.status());
  p.limit = *limit;
  if (auto v = Param(q, "cursor"); v && !v->empty()) {
    if (!ParseBatchId(*v)) return ReplyStatus(res, Status::InvalidArgument("cursor: '" + *v + "' is not a cursor"));
    p.before_id = *v;
  }
  auto batches = ctx.engine.Batches(p);
  if (!batches.ok()) return ReplyStatus(res, batches.status());
  // {"batches": [...], "next_cursor": ...}, each without its members.
  std::string body = "{\"batches\":[";
  for (std::size_t i = 0; i < batches->size(); ++i) {
    if (i > 0) body += ',';
    body += EncodeBatchJson((*batches)[i], /*with_members=*/false);
  }
  body += "],\"next_cursor\":";
  body += static_cast<int>(batches->size()) == p.limit ? nlohmann::json(batches->back().id).dump() : "null";
  body += '}';
  ReplyJsonText(res, 200, std::move(body));
}

}  // namespace

void AddBatchRoutes(Router& router, ServerContext* ctx) {
  const std::size_t bulk_limit = ctx ? ctx->config.max_bulk_body_bytes : 0;
  router.Add(
      "POST", "/v1/batches", Role::kAdmin, [ctx](const ApiRequest& r, HttpResponse& res) { Submit(*ctx, r, res); },
      bulk_limit);
  router.Add(
      "POST", "/v1/worker/batch", Role::kWorker,
      [ctx](const ApiRequest& r, HttpResponse& res) { SubmitFromJob(*ctx, r, res); }, bulk_limit);
  router.Add("GET", "/v1/batches", Role::kRead, [ctx](const ApiRequest& r, HttpResponse& res) { List(*ctx, r, res); });
  router.Add("GET", "/v1/batches/{id}", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { Get(*ctx, r, res); });
}

}  // namespace jobwarden::server
