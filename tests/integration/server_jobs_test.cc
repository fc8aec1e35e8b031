// The jobs routes of docs/openapi.yaml, through a real `jobwarden server`
// on port 0: status codes, validation errors naming the field, unique_key,
// bulk all-or-nothing and its own body limit, pagination with a cursor,
// cancel/retry/delete and their refusals, filters by tag, batch and a field
// of args, and the bulk actions on everything a filter matches.
#include <set>

#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

class ServerJobsTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.Start(); }
  ServerProcess server_;
};

TEST_F(ServerJobsTest, EnqueueAnswers201WithTheJobAndDeduplicatesByUniqueKey) {
  Reply r = server_.Post("/v1/jobs", {{"kind", "email"},
                                      {"args", {{"to", "a@b.c"}}},
                                      {"queue", "mail"},
                                      {"priority", 5},
                                      {"timeout_s", 1.5},
                                      {"max_attempts", 3},
                                      {"unique_key", "welcome-42"},
                                      {"tags", {"a", "b"}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["kind"], "email");
  EXPECT_EQ(r.body["queue"], "mail");
  EXPECT_EQ(r.body["priority"], 5);
  EXPECT_EQ(r.body["state"], "available");
  EXPECT_EQ(r.body["args"]["to"], "a@b.c");
  EXPECT_DOUBLE_EQ(r.body["timeout_s"].get<double>(), 1.5);
  EXPECT_EQ(r.body["max_attempts"], 3);
  EXPECT_EQ(r.body["deduplicated"], false);
  EXPECT_TRUE(r.body["id"].is_string());
  for (const char* field :
       {"attempt", "stall_timeout_s", "deadline_at", "run_at", "created_at", "started_at", "finished_at",
        "heartbeat_at", "lease_expires_at", "worker_id", "cancel_requested", "progress", "checkpoint", "result",
        "errors", "unique_key", "resource_key", "batch_id", "tags"}) {
    EXPECT_TRUE(r.body.contains(field)) << field;
  }

  Reply dup = server_.Post("/v1/jobs", {{"kind", "email"}, {"unique_key", "welcome-42"}});
  ASSERT_EQ(dup.status, 200) << dup.raw;
  EXPECT_EQ(dup.body["deduplicated"], true);
  EXPECT_EQ(dup.body["id"], r.body["id"]);

  Reply later = server_.Post("/v1/jobs", {{"kind", "email"}, {"delay_s", 60}});
  ASSERT_EQ(later.status, 201);
  EXPECT_EQ(later.body["state"], "scheduled");
}

TEST_F(ServerJobsTest, ValidationErrorsName400TheField) {
  struct Case {
    json body;
    std::string field;
  };
  const std::vector<Case> cases = {
      {json::object(), "kind: required"},
      {{{"kind", 7}}, "kind: must be a string"},
      {{{"kind", "k"}, {"timeout_s", "30s"}}, "timeout_s: must be a number"},
      {{{"kind", "k"}, {"timeout_s", -1}}, "timeout_s"},
      {{{"kind", "k"}, {"priority", 1.5}}, "priority: must be an integer"},
      {{{"kind", "k"}, {"max_attempts", 0}}, "max_attempts"},
      {{{"kind", "k"}, {"tags", {"ok", 3}}}, "tags[1]: must be a string"},
      {{{"kind", "k"}, {"run_at", "yesterday"}}, "run_at"},
      {{{"kind", "k"}, {"delay_s", 1}, {"run_at", "2030-01-01T00:00:00Z"}}, "run_at"},
      {{{"kind", "k"}, {"timout_s", 3}}, "timout_s: unknown field"},
      {{{"kind", "bad kind!"}}, "kind"},
      {{{"kind", "k"}, {"deadline_s", 0}}, "deadline_s"},
      {{{"kind", "k"}, {"stall_timeout_s", 0}}, "stall_timeout_s: must be greater than 0"},
      {{{"kind", "k"}, {"deadline_s", 5}, {"deadline_at", "2030-01-01T00:00:00Z"}}, "deadline_at"},
      {{{"kind", "k"}, {"max_attempts", 5000000000LL}}, "max_attempts"},
  };
  for (const Case& c : cases) {
    Reply r = server_.Post("/v1/jobs", c.body);
    EXPECT_EQ(r.status, 400) << c.body.dump() << " -> " << r.raw;
    EXPECT_EQ(Code(r), "invalid_argument") << r.raw;
    EXPECT_EQ(Message(r).rfind(c.field, 0), 0u) << "expected '" << c.field << "...', got: " << Message(r);
  }
}

TEST_F(ServerJobsTest, MalformedBodiesAndContentTypes) {
  auto c = server_.Client();
  Reply bad_json = ToReply(c->Post("/v1/jobs", "{\"kind\": ", "application/json"));
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(Message(bad_json).rfind("body: not valid JSON", 0), 0u) << bad_json.raw;

  Reply array = ToReply(c->Post("/v1/jobs", "[1,2]", "application/json"));
  EXPECT_EQ(array.status, 400);
  EXPECT_EQ(Message(array).rfind("body: must be a JSON object", 0), 0u) << array.raw;

  Reply form = ToReply(c->Post("/v1/jobs", "kind=x", "application/x-www-form-urlencoded"));
  EXPECT_EQ(form.status, 415) << form.raw;
  EXPECT_EQ(Code(form), "invalid_argument");

  // Over the default 1 MiB body limit.
  const std::string big = json({{"kind", "k"}, {"args", {{"blob", std::string(1100 * 1024, 'x')}}}}).dump();
  Reply too_big = ToReply(c->Post("/v1/jobs", big, "application/json"));
  EXPECT_EQ(too_big.status, 413) << too_big.raw;
  EXPECT_EQ(Code(too_big), "payload_too_large");
  // The connection is still usable after a refused body.
  EXPECT_EQ(ToReply(c->Get("/healthz")).status, 200);

  Reply no_route = server_.Get("/v1/nope");
  EXPECT_EQ(no_route.status, 404);
  EXPECT_EQ(Code(no_route), "not_found");
  Reply wrong_method = server_.Get("/v1/jobs/bulk");  // GET /v1/jobs/{id} with a bad id
  EXPECT_EQ(wrong_method.status, 400);
  Reply not_allowed = server_.Delete("/v1/queues");
  EXPECT_EQ(not_allowed.status, 405) << not_allowed.raw;
}

TEST_F(ServerJobsTest, BulkIsAllOrNothingWithItsOwnLargerBodyLimit) {
  json jobs = json::array();
  for (int i = 0; i < 3000; ++i) jobs.push_back({{"kind", "k"}, {"args", {{"pad", std::string(400, 'p')}}}});
  const std::string body = json({{"jobs", jobs}}).dump();
  ASSERT_GT(body.size(), 1u << 20);  // over the single-request limit, under the bulk one
  Reply ok = ToReply(server_.Client()->Post("/v1/jobs/bulk", body, "application/json"));
  ASSERT_EQ(ok.status, 201) << ok.raw.substr(0, 300);
  ASSERT_EQ(ok.body["jobs"].size(), 3000u);
  EXPECT_EQ(ok.body["inserted"], 3000);
  EXPECT_EQ(ok.body["jobs"][0]["state"], "available");

  json bad = {{"jobs", {{{"kind", "a"}}, {{"kind", "b"}}, {{"queue", "q"}}}}};
  Reply refused = server_.Post("/v1/jobs/bulk", bad);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(Message(refused).rfind("jobs[2].kind: required", 0), 0u) << refused.raw;
  Reply listed = server_.Get("/v1/jobs?kind=a");
  EXPECT_EQ(listed.body["jobs"].size(), 0u) << "nothing of a refused bulk is inserted";

  json too_many = json::array();
  for (int i = 0; i < 10'001; ++i) too_many.push_back({{"kind", "k"}});
  Reply over = server_.Post("/v1/jobs/bulk", {{"jobs", too_many}});
  EXPECT_EQ(over.status, 400);
  EXPECT_EQ(Message(over).rfind("jobs:", 0), 0u) << over.raw;
}

TEST_F(ServerJobsTest, GetAndListWithFiltersAndCursor) {
  std::set<std::string> a_ids;
  for (int i = 0; i < 25; ++i) a_ids.insert(server_.Enqueue({{"kind", "a"}, {"queue", "qa"}}));
  for (int i = 0; i < 5; ++i) server_.Enqueue({{"kind", "b"}, {"queue", "qb"}});

  const std::string first = *a_ids.begin();
  Reply one = server_.Get("/v1/jobs/" + first);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.body["kind"], "a");
  Reply missing = server_.Get("/v1/jobs/999999");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Code(missing), "not_found");
  Reply bad_id = server_.Get("/v1/jobs/abc");
  EXPECT_EQ(bad_id.status, 400);
  EXPECT_EQ(Message(bad_id).rfind("id:", 0), 0u);

  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  while (true) {
    Reply page = server_.Get("/v1/jobs?queue=qa&limit=10" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(page.status, 200) << page.raw;
    ++pages;
    for (const json& j : page.body["jobs"]) {
      EXPECT_EQ(j["queue"], "qa");
      EXPECT_TRUE(seen.insert(j["id"].get<std::string>()).second) << "a job on two pages";
    }
    if (page.body["next_cursor"].is_null()) break;
    cursor = page.body["next_cursor"].get<std::string>();
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(seen, a_ids);
  EXPECT_EQ(pages, 3);

  EXPECT_EQ(server_.Get("/v1/jobs?kind=b&state=available").body["jobs"].size(), 5u);
  EXPECT_EQ(server_.Get("/v1/jobs?state=running").body["jobs"].size(), 0u);
  Reply bad_state = server_.Get("/v1/jobs?state=stuck");
  EXPECT_EQ(bad_state.status, 400);
  EXPECT_EQ(Message(bad_state).rfind("state:", 0), 0u);
  Reply bad_limit = server_.Get("/v1/jobs?limit=0");
  EXPECT_EQ(bad_limit.status, 400);
  EXPECT_EQ(Message(bad_limit).rfind("limit:", 0), 0u);
  Reply unknown = server_.Get("/v1/jobs?colour=red");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(Message(unknown).rfind("colour:", 0), 0u);
}

TEST_F(ServerJobsTest, CancelRetryDeleteAndTheirRefusals) {
  const std::string id = server_.Enqueue({{"kind", "k"}});
  Reply cancelled = server_.Post("/v1/jobs/" + id + "/cancel", json::object());
  ASSERT_EQ(cancelled.status, 200) << cancelled.raw;
  EXPECT_EQ(cancelled.body["state"], "cancelled");
  Reply again = server_.Post("/v1/jobs/" + id + "/cancel", json::object());
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(Code(again), "conflict");
  Reply retried = server_.Post("/v1/jobs/" + id + "/retry", json::object());
  ASSERT_EQ(retried.status, 200);
  EXPECT_EQ(retried.body["state"], "available");
  EXPECT_EQ(server_.Post("/v1/jobs/999999/cancel", json::object()).status, 404);

  // A running job is never deleted; a succeeded one cannot be retried.
  const std::string worker = server_.Register();
  json leased = server_.FetchOne(worker);
  ASSERT_FALSE(leased.is_null());
  const std::string running = leased["id"];
  Reply del_running = server_.Delete("/v1/jobs/" + running);
  EXPECT_EQ(del_running.status, 409);
  EXPECT_EQ(Code(del_running), "conflict");
  ASSERT_EQ(server_.Post("/v1/worker/complete", {{"id", running}, {"token", leased["lease"]["token"]}}).status, 200);
  Reply retry_done = server_.Post("/v1/jobs/" + running + "/retry", json::object());
  EXPECT_EQ(retry_done.status, 409);

  Reply deleted = server_.Delete("/v1/jobs/" + running);
  EXPECT_EQ(deleted.status, 200);
  EXPECT_EQ(deleted.body["deleted"], true);
  EXPECT_EQ(server_.Delete("/v1/jobs/" + running).status, 404);
}

TEST_F(ServerJobsTest, BulkDeleteNeverTouchesRunningJobs) {
  for (int i = 0; i < 3; ++i) {
    const std::string id = server_.Enqueue({{"kind", "k"}, {"queue", "gone"}});
    ASSERT_EQ(server_.Post("/v1/jobs/" + id + "/cancel", json::object()).status, 200);
  }
  server_.Enqueue({{"kind", "k"}, {"queue", "gone"}});
  const std::string worker = server_.Register("", {"gone"});
  ASSERT_FALSE(server_.FetchOne(worker, {{"queues", {"gone"}}}).is_null());

  Reply none = server_.Post("/v1/jobs/delete", json::object());
  EXPECT_EQ(none.status, 400);
  Reply running = server_.Post("/v1/jobs/delete", {{"state", "running"}});
  EXPECT_EQ(running.status, 400);
  EXPECT_EQ(Message(running).rfind("state:", 0), 0u);
  Reply bad = server_.Post("/v1/jobs/delete", {{"older_than_s", "1d"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Message(bad).rfind("older_than_s:", 0), 0u);

  Reply by_state = server_.Post("/v1/jobs/delete", {{"state", "cancelled"}, {"older_than_s", 0}});
  ASSERT_EQ(by_state.status, 200) << by_state.raw;
  EXPECT_EQ(by_state.body["deleted"], 3);
  Reply by_queue = server_.Post("/v1/jobs/delete", {{"queue", "gone"}});
  ASSERT_EQ(by_queue.status, 200);
  EXPECT_EQ(by_queue.body["deleted"], 0) << "the only job left is running";
  EXPECT_EQ(server_.Get("/v1/jobs?queue=gone").body["jobs"].size(), 1u);
}

// The ids of GET /v1/jobs?<query>, every page.
std::set<std::string> ListIds(const ServerProcess& server, const std::string& query) {
  std::set<std::string> ids;
  std::string cursor;
  do {
    Reply r = server.Get("/v1/jobs?limit=7&" + query + (cursor.empty() ? "" : "&cursor=" + cursor));
    EXPECT_EQ(r.status, 200) << query << ": " << r.raw;
    if (r.status != 200) break;
    for (const auto& j : r.body["jobs"]) ids.insert(j["id"].get<std::string>());
    cursor = r.body["next_cursor"].is_string() ? r.body["next_cursor"].get<std::string>() : "";
  } while (!cursor.empty());
  return ids;
}

TEST_F(ServerJobsTest, ListFiltersByTagBatchAndAFieldOfArgs) {
  std::set<std::string> of_42, of_42_text, tagged_vip, of_bob;
  for (int i = 0; i < 24; ++i) {
    json args = {{"customer_id", i % 3 == 0 ? json(42) : json(i)}, {"order", {{"id", i}}}};
    if (i == 5) args["customer_id"] = "42";  // a string is not the number
    if (i == 7) args["email"] = "bob@example.com";
    json job = {{"kind", "k"}, {"args", args}, {"queue", i % 2 ? "a" : "b"}};
    if (i % 4 == 0) job["tags"] = {"vip", "eu"};
    const std::string id = server_.Enqueue(job);
    if (i % 3 == 0) of_42.insert(id);
    if (i == 5) of_42_text.insert(id);
    if (i % 4 == 0) tagged_vip.insert(id);
    if (i == 7) of_bob.insert(id);
  }
  Reply batch = server_.Post("/v1/batches", {{"jobs", {{{"kind", "m"}}, {{"kind", "m"}}, {{"kind", "m"}}}}});
  ASSERT_EQ(batch.status, 201) << batch.raw;
  const std::string batch_id = batch.body["id"];
  std::set<std::string> members;
  for (const auto& m : batch.body["members"]) members.insert(m["id"].get<std::string>());
  ASSERT_EQ(members.size(), 3u) << batch.raw;

  EXPECT_EQ(ListIds(server_, "args.customer_id=42"), of_42);
  EXPECT_EQ(ListIds(server_, "args.customer_id=%2242%22"), of_42_text) << "a quoted value is a string";
  EXPECT_EQ(ListIds(server_, "args.email=bob@example.com"), of_bob) << "a bare word is a string";
  EXPECT_EQ(ListIds(server_, "args.order.id=7"), of_bob) << "a dotted path reaches into objects";
  EXPECT_EQ(ListIds(server_, "tag=vip"), tagged_vip);
  EXPECT_EQ(ListIds(server_, "batch_id=" + batch_id), members);
  EXPECT_EQ(ListIds(server_, "batch_id=" + batch_id + "&kind=k"), std::set<std::string>());
  // Combined with the other filters, each narrowing.
  std::set<std::string> vip_42_a;
  for (const auto& id : ListIds(server_, "queue=a&state=available")) {
    if (of_42.count(id) && tagged_vip.count(id)) vip_42_a.insert(id);
  }
  EXPECT_EQ(ListIds(server_, "queue=a&state=available&tag=vip&args.customer_id=42"), vip_42_a);
  EXPECT_EQ(ListIds(server_, "state=available&tag=vip"), tagged_vip);

  for (const std::string bad : {"args.=1", "args.a..b=1", "args.a%20b=1", "args.a=1&args.b=2", "tags=vip"}) {
    Reply r = server_.Get("/v1/jobs?" + bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.raw;
    EXPECT_FALSE(Message(r).empty()) << bad;
  }
}

TEST_F(ServerJobsTest, BulkActionsReachEveryJobTheFilterMatchesAndNoOther) {
  std::set<std::string> seven, eight;
  for (int i = 0; i < 25; ++i) seven.insert(server_.Enqueue({{"kind", "k"}, {"args", {{"customer_id", 7}}}}));
  for (int i = 0; i < 5; ++i) eight.insert(server_.Enqueue({{"kind", "k"}, {"args", {{"customer_id", 8}}}}));
  // One of customer 7's jobs runs, leased with a short TTL to a worker that
  // then goes silent: the cancel asks it to stop, and the server takes it
  // back as cancelled when it does not answer.
  const std::string worker = server_.Register();
  json running = server_.FetchOne(worker, {{"lease_ttl_s", 2}});
  ASSERT_FALSE(running.is_null());
  const std::string running_id = running["id"];
  ASSERT_TRUE(seven.count(running_id)) << "the oldest job is customer 7's";

  EXPECT_EQ(server_.Post("/v1/jobs/cancel", json::object()).status, 400) << "a bulk action needs a filter";
  EXPECT_EQ(server_.Post("/v1/jobs/cancel", {{"args", {{"customer_id", 7}, {"x", 1}}}}).status, 400);
  EXPECT_EQ(server_.Post("/v1/jobs/retry", {{"colour", "red"}}).status, 400);
  EXPECT_EQ(server_.Post("/v1/jobs/retry", {{"args", {{"customer_id", {7}}}}}).status, 400) << "not a scalar";
  EXPECT_EQ(server_.Post("/v1/jobs/retry", {{"args", {{"customer_id", nullptr}}}}).status, 400);

  Reply cancel = server_.Post("/v1/jobs/cancel", {{"args", {{"customer_id", 7}}}});
  ASSERT_EQ(cancel.status, 200) << cancel.raw;
  EXPECT_EQ(cancel.body["matched"], 25);
  EXPECT_EQ(cancel.body["cancelled"], 25) << "24 waiting ones cancelled, the running one asked to stop";
  EXPECT_EQ(cancel.body["skipped"], 0);
  EXPECT_EQ(ListIds(server_, "state=cancelled"), [&] {
    auto s = seven;
    s.erase(running_id);
    return s;
  }());
  EXPECT_EQ(ListIds(server_, "state=available"), eight) << "customer 8's jobs are untouched";
  Reply r = server_.Get("/v1/jobs/" + running_id);
  EXPECT_EQ(r.body["state"], "running");
  EXPECT_EQ(r.body["cancel_requested"], true) << r.raw;
  EXPECT_EQ(r.body["lease_token"], running["lease"]["token"]) << "the job shows who holds it: " << r.raw;
  ASSERT_TRUE(
      WaitUntil([&] { return server_.Get("/v1/jobs/" + running_id).body["state"] == "cancelled"; }, Millis(30000)))
      << "the silent worker's job is taken back as cancelled: " << server_.Get("/v1/jobs/" + running_id).raw;

  EXPECT_TRUE(server_.Get("/v1/jobs/" + running_id).body["lease_token"].is_null()) << "no lease once finished";

  // Again: everything is finished now, so nothing is changed.
  Reply again = server_.Post("/v1/jobs/cancel", {{"args", {{"customer_id", 7}}}});
  EXPECT_EQ(again.body["matched"], 25);
  EXPECT_EQ(again.body["cancelled"], 0);
  EXPECT_EQ(again.body["skipped"], 25);

  Reply retry = server_.Post("/v1/jobs/retry", {{"args", {{"customer_id", 7}}}, {"state", "cancelled"}});
  ASSERT_EQ(retry.status, 200) << retry.raw;
  EXPECT_EQ(retry.body["retried"], 25);
  EXPECT_EQ(ListIds(server_, "state=available&args.customer_id=7"), seven);

  // Delete never takes a running job: lease one of customer 7's again first
  // (customer 8's, due earlier than the retried ones, come first).
  json again_running;
  for (int i = 0; i < 10 && (again_running.is_null() || !seven.count(again_running["id"].get<std::string>())); ++i) {
    again_running = server_.FetchOne(worker, {{"lease_ttl_s", 60}});
    ASSERT_FALSE(again_running.is_null());
  }
  ASSERT_TRUE(seven.count(again_running["id"].get<std::string>()));
  Reply del = server_.Post("/v1/jobs/delete", {{"args", {{"customer_id", 7}}}});
  ASSERT_EQ(del.status, 200) << del.raw;
  EXPECT_EQ(del.body["matched"], 25);
  EXPECT_EQ(del.body["deleted"], 24);
  EXPECT_EQ(del.body["skipped"], 1);
  EXPECT_EQ(ListIds(server_, "args.customer_id=7"), std::set<std::string>{again_running["id"].get<std::string>()});
  EXPECT_EQ(ListIds(server_, "args.customer_id=8"), eight);
}

}  // namespace
}  // namespace jobwarden::testing
