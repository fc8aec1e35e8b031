// Jobs: enqueue (one, bulk), get, list (filtered), cancel, retry, delete, and
// the bulk actions on every job a filter matches.
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

// ---------------------------------------------------------------------------
// Filters: GET /v1/jobs takes them as query parameters, the bulk actions
// (POST /v1/jobs/cancel, /retry, /delete) as the fields of their body.

Result<JobState> StateValue(const std::string& field, const std::string& v) {
  auto st = ParseJobState(v);
  if (!st) {
    return Status::InvalidArgument(field + ": '" + v +
                                   "' is not one of scheduled, available, running, succeeded, failed, cancelled")
        .WithField(field);
  }
  return *st;
}

// One args filter per request.
Status SetArgsFilter(JobListParams& p, const std::string& field, const std::string& path, const nlohmann::json& value) {
  JW_ASSIGN_OR_RETURN(std::string json, ArgsFilterJson(field, path, value));
  if (p.args_path) {
    return Status::InvalidArgument(field + ": one args field at a time (already filtering on '" + *p.args_path + "')")
        .WithField(field);
  }
  p.args_path = path;
  p.args_value = std::move(json);
  return Status::Ok();
}

constexpr std::string_view kArgsPrefix = "args.";

// GET /v1/jobs?state=&queue=&kind=&worker_id=&tag=&batch_id=&args.<field>=<value>.
// A value of args.<field> that reads as JSON (42, true, "42") is that value,
// anything else is a string (args.email=bob@example.com).
Status FilterFromQuery(const std::multimap<std::string, std::string>& q, JobListParams& p) {
  for (const auto& [k, v] : q) {
    if (k.rfind(kArgsPrefix, 0) != 0) continue;
    JW_RETURN_IF_ERROR(SetArgsFilter(p, k, k.substr(kArgsPrefix.size()), ArgsFilterValue(v)));
  }
  std::multimap<std::string, std::string> rest;
  for (const auto& [k, v] : q) {
    if (k.rfind(kArgsPrefix, 0) != 0) rest.emplace(k, v);
  }
  JW_RETURN_IF_ERROR(
      OnlyKnownParams(rest, {"state", "queue", "kind", "worker_id", "tag", "batch_id", "limit", "cursor"}));
  if (auto v = Param(q, "state")) {
    JW_ASSIGN_OR_RETURN(p.state, StateValue("state", *v));
  }
  p.queue = Param(q, "queue");
  p.kind = Param(q, "kind");
  p.worker_id = Param(q, "worker_id");
  p.tag = Param(q, "tag");
  p.batch_id = Param(q, "batch_id");
  return Status::Ok();
}

// The body of a bulk action: {state, queue, kind, worker_id, tag, batch_id,
// args: {"<field>": value}}; `extra` names the action's own fields. At least
// one filter is required, so that no action reaches every job by mistake.
Status FilterFromBody(const JsonFields& f, JobListParams& p, std::initializer_list<std::string_view> extra,
                      bool has_extra) {
  std::vector<std::string_view> known = {"state", "queue", "kind", "worker_id", "tag", "batch_id", "args"};
  known.insert(known.end(), extra.begin(), extra.end());
  JW_RETURN_IF_ERROR(f.OnlyKnown(known));
  JW_ASSIGN_OR_RETURN(auto state, f.String("state"));
  if (state) {
    JW_ASSIGN_OR_RETURN(p.state, StateValue("state", *state));
  }
  JW_ASSIGN_OR_RETURN(p.queue, f.String("queue"));
  JW_ASSIGN_OR_RETURN(p.kind, f.String("kind"));
  JW_ASSIGN_OR_RETURN(p.worker_id, f.String("worker_id"));
  JW_ASSIGN_OR_RETURN(p.tag, f.String("tag"));
  JW_ASSIGN_OR_RETURN(p.batch_id, f.String("batch_id"));
  if (const nlohmann::json* args = f.Find("args")) {
    if (!args->is_object() || args->size() != 1) {
      return Status::InvalidArgument("args: must be an object with one field, e.g. {\"customer_id\": 42}")
          .WithField("args");
    }
    JW_RETURN_IF_ERROR(SetArgsFilter(p, "args." + args->begin().key(), args->begin().key(), args->begin().value()));
  }
  if (!p.state && !p.queue && !p.kind && !p.worker_id && !p.tag && !p.batch_id && !p.args_path && !has_extra) {
    return Status::InvalidArgument(
        "body: give at least one filter (state, queue, kind, worker_id, tag, batch_id, args)");
  }
  return Status::Ok();
}

void ListJobs(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  const auto& q = r.http.query;
  JobListParams p;
  p.with_errors = true;
  if (Status s = FilterFromQuery(q, p); !s.ok()) return ReplyStatus(res, s);
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

// POST /v1/jobs/delete. With only state, queue and older_than_s, the
// store deletes in chunks of rows; with any other filter, job by job.
void DeleteMany(ServerContext& ctx, const ApiRequest& r, HttpResponse& res) {
  JsonFields f(r.body);
  auto older = f.Seconds("older_than_s");
  if (!older.ok()) return ReplyStatus(res, older.status());
  JobListParams p;
  if (Status s = FilterFromBody(f, p, {"older_than_s"}, older->has_value()); !s.ok()) return ReplyStatus(res, s);
  if (p.state == JobState::kRunning) {
    return ReplyStatus(res, Status::InvalidArgument("state: running jobs are never deleted (cancel them first)"));
  }
  if (!p.kind && !p.worker_id && !p.tag && !p.batch_id && !p.args_path) {
    DeleteFilter filter;
    filter.state = p.state;
    filter.queue = p.queue;
    filter.older_than = *older;
    auto n = ctx.engine.DeleteMany(filter);
    if (!n.ok()) return ReplyStatus(res, n.status());
    return ReplyJson(res, 200, {{"deleted", *n}});
  }
  std::optional<Timestamp> before;
  if (*older) before = ctx.engine.clock().Now() - **older;
  auto done = ctx.engine.ActOnMatching(BulkAction::kDelete, p, before);
  if (!done.ok()) return ReplyStatus(res, done.status());
  ReplyJson(res, 200, {{"deleted", done->changed}, {"matched", done->matched}, {"skipped", done->skipped}});
}

// POST /v1/jobs/cancel and /v1/jobs/retry: every job the body's filter matches.
void ActOnMany(ServerContext& ctx, BulkAction action, const ApiRequest& r, HttpResponse& res) {
  JsonFields f(r.body);
  JobListParams p;
  if (Status s = FilterFromBody(f, p, {}, false); !s.ok()) return ReplyStatus(res, s);
  auto done = ctx.engine.ActOnMatching(action, p);
  if (!done.ok()) return ReplyStatus(res, done.status());
  ReplyJson(res, 200,
            {{"matched", done->matched},
             {action == BulkAction::kCancel ? "cancelled" : "retried", done->changed},
             {"skipped", done->skipped}});
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
  router.Add("POST", "/v1/jobs/cancel", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { ActOnMany(*ctx, BulkAction::kCancel, r, res); });
  router.Add("POST", "/v1/jobs/retry", Role::kAdmin,
             [ctx](const ApiRequest& r, HttpResponse& res) { ActOnMany(*ctx, BulkAction::kRetry, r, res); });
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
