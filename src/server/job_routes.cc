// Jobs: enqueue (one, bulk), get, list, cancel, retry, delete, bulk delete.
#include <nlohmann/json.hpp>

#include "protocol/job_json.h"
#include "protocol/json_fields.h"
#include "server/api.h"
#include "server/error_mapping.h"

namespace jobwarden::server {

namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

Result<JobId> PathJobId(const ApiRequest& r) {
  auto id = ParseJobId(r.Param("id"));
  if (!id.ok()) return Status::InvalidArgument("id: '" + r.Param("id") + "' is not a job id");
  return *id;
}

void Enqueue(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  auto request = ParseEnqueueRequest(r.body, "");
  if (!request.ok()) return ReplyStatus(res, request.status());
  auto result = ctx.engine.Enqueue(*request);
  if (!result.ok()) return ReplyStatus(res, result.status());
  std::string body;
  body.reserve(1024);
  AppendJobJson(body, result->job, {{"deduplicated", result->deduplicated ? "true" : "false"}});
  ReplyJsonText(res, result->deduplicated ? 200 : 201, std::move(body));
}

void EnqueueBulk(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  JsonFields f(r.body);
  if (Status s = f.OnlyKnown({"jobs"}); !s.ok()) return ReplyStatus(res, s);
  const nlohmann::json* jobs = f.Find("jobs");
  if (jobs == nullptr) return ReplyStatus(res, Status::InvalidArgument("jobs: required"));
  if (!jobs->is_array()) {
    return ReplyStatus(res, Status::InvalidArgument(std::string("jobs: must be an array, not ") + jobs->type_name()));
  }
  if (jobs->empty() || jobs->size() > static_cast<std::size_t>(kMaxBulkJobs)) {
    return ReplyStatus(res, Status::InvalidArgument("jobs: must hold 1-" + std::to_string(kMaxBulkJobs) +
                                                    " jobs, got " + std::to_string(jobs->size())));
  }
  std::vector<EnqueueRequest> requests;
  requests.reserve(jobs->size());
  for (std::size_t i = 0; i < jobs->size(); ++i) {
    auto one = ParseEnqueueRequest((*jobs)[i], "jobs[" + std::to_string(i) + "].");
    if (!one.ok()) return ReplyStatus(res, one.status());
    requests.push_back(std::move(one).value());
  }
  auto results = ctx.engine.EnqueueMany(requests);
  if (!results.ok()) return ReplyStatus(res, results.status());
  // A compact answer (10,000 full jobs would be megabytes): id, state, and
  // whether the job already existed (unique_key).
  nlohmann::json out = nlohmann::json::array();
  std::size_t deduplicated = 0;
  for (const EnqueueResult& e : *results) {
    if (e.deduplicated) ++deduplicated;
    out.push_back({{"id", FormatJobId(e.job.id)},
                   {"state", std::string(ToString(e.job.state))},
                   {"deduplicated", e.deduplicated}});
  }
  const std::size_t inserted = results->size() - deduplicated;
  ReplyJson(res, inserted > 0 ? 201 : 200,
            {{"jobs", std::move(out)}, {"inserted", inserted}, {"deduplicated", deduplicated}});
}

void GetJob(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  auto id = PathJobId(r);
  if (!id.ok()) return ReplyStatus(res, id.status());
  auto job = ctx.engine.Get(*id);
  if (!job.ok()) return ReplyStatus(res, job.status());
  ReplyJsonText(res, 200, JobJsonText(*job));
}

void ListJobs(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  const auto& q = r.http.query;
  if (Status s = OnlyKnownParams(q, {"state", "queue", "kind", "worker_id", "limit", "cursor"}); !s.ok()) {
    return ReplyStatus(res, s);
  }
  JobListParams p;
  p.with_errors = true;
  if (auto v = Param(q, "state")) {
    auto st = ParseJobState(*v);
    if (!st) {
      return ReplyStatus(res, Status::InvalidArgument("state: '" + *v +
                                                      "' is not one of scheduled, available, "
                                                      "running, succeeded, failed, cancelled"));
    }
    p.state = *st;
  }
  if (auto v = Param(q, "queue")) p.queue = *v;
  if (auto v = Param(q, "kind")) p.kind = *v;
  if (auto v = Param(q, "worker_id")) p.worker_id = *v;
  auto limit = LimitParam(q, kDefaultPageSize, kMaxPageSize);
  if (!limit.ok()) return ReplyStatus(res, limit.status());
  p.limit = *limit;
  if (auto v = Param(q, "cursor"); v && !v->empty()) {
    auto after = ParseJobId(*v);
    if (!after.ok()) return ReplyStatus(res, Status::InvalidArgument("cursor: '" + *v + "' is not a cursor"));
    p.after_id = *after;
  }
  auto jobs = ctx.engine.List(p);
  if (!jobs.ok()) return ReplyStatus(res, jobs.status());
  // {"jobs": [...], "next_cursor": ...} written straight to text (keys sorted, as a tree's dump).
  std::string body = "{\"jobs\":[";
  body.reserve(16 + jobs->size() * 768);
  for (std::size_t i = 0; i < jobs->size(); ++i) {
    if (i > 0) body += ',';
    AppendJobJson(body, (*jobs)[i]);
  }
  body += "],\"next_cursor\":";
  // A full page may have a next one; the cursor is the last id seen (keyset).
  if (static_cast<int>(jobs->size()) == p.limit) {
    AppendJsonString(body, FormatJobId(jobs->back().id));
  } else {
    body += "null";
  }
  body += '}';
  ReplyJsonText(res, 200, std::move(body));
}

void CancelOrRetry(ServerContext& ctx, const ApiRequest& r, HttpResponse& res, bool cancel) {
  if (Status s = JsonFields(r.body).OnlyKnown({}); !s.ok()) return ReplyStatus(res, s);
  auto id = PathJobId(r);
  if (!id.ok()) return ReplyStatus(res, id.status());
  auto job = cancel ? ctx.engine.Cancel(*id) : ctx.engine.Retry(*id);
  if (!job.ok()) return ReplyStatus(res, job.status());
  ReplyJsonText(res, 200, JobJsonText(*job));
}

void DeleteJob(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  auto id = PathJobId(r);
  if (!id.ok()) return ReplyStatus(res, id.status());
  if (Status s = ctx.engine.Delete(*id); !s.ok()) return ReplyStatus(res, s);
  ReplyJson(res, 200, {{"id", FormatJobId(*id)}, {"deleted", true}});
}

void DeleteMany(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  JsonFields f(r.body);
  if (Status s = f.OnlyKnown({"state", "queue", "older_than_s"}); !s.ok()) return ReplyStatus(res, s);
  DeleteFilter filter;
  auto state = f.String("state");
  if (!state.ok()) return ReplyStatus(res, state.status());
  if (*state) {
    auto st = ParseJobState(**state);
    if (!st) {
      return ReplyStatus(res, Status::InvalidArgument("state: '" + **state +
                                                      "' is not one of scheduled, available, "
                                                      "succeeded, failed, cancelled"));
    }
    if (*st == JobState::kRunning) {
      return ReplyStatus(res, Status::InvalidArgument("state: running jobs are never deleted (cancel them first)"));
    }
    filter.state = *st;
  }
  auto queue = f.String("queue");
  if (!queue.ok()) return ReplyStatus(res, queue.status());
  filter.queue = *queue;
  auto older = f.Seconds("older_than_s");
  if (!older.ok()) return ReplyStatus(res, older.status());
  filter.older_than = *older;
  if (!filter.state && !filter.queue && !filter.older_than) {
    return ReplyStatus(res, Status::InvalidArgument("body: give at least one of state, queue, older_than_s"));
  }
  auto n = ctx.engine.DeleteMany(filter);
  if (!n.ok()) return ReplyStatus(res, n.status());
  ReplyJson(res, 200, {{"deleted", *n}});
}

}  // namespace

void AddJobRoutes(Router& router, ServerContext* ctx) {
  const std::size_t bulk_limit = ctx ? ctx->config.max_bulk_body_bytes : 0;
  router.Add("POST", "/v1/jobs", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { Enqueue(*ctx, r, res); });
  router.Add(
      "POST", "/v1/jobs/bulk", Role::kAdmin,
      [ctx](const ApiRequest& r, HttpResponse& res) { EnqueueBulk(*ctx, r, res); }, bulk_limit);
  router.Add("GET", "/v1/jobs", Role::kRead, [ctx](const ApiRequest& r, HttpResponse& res) { ListJobs(*ctx, r, res); });
  router.Add("POST", "/v1/jobs/delete", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { DeleteMany(*ctx, r, res); });
  router.Add("GET", "/v1/jobs/{id}", Role::kRead,
             [ctx](const ApiRequest& r, HttpResponse& res) { GetJob(*ctx, r, res); });
  router.Add("DELETE", "/v1/jobs/{id}", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { DeleteJob(*ctx, r, res); });
  router.Add("POST", "/v1/jobs/{id}/cancel", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { CancelOrRetry(*ctx, r, res, true); });
  router.Add("POST", "/v1/jobs/{id}/retry", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { CancelOrRetry(*ctx, r, res, false); });
}

}  // namespace jobwarden::server
