// The jobs routes of docs/openapi.yaml, through a real `jobwarden server`
// on port 0: status codes, validation errors naming the field, unique_key,
// bulk all-or-nothing and its own body limit, pagination with a cursor,
// cancel/retry/delete and their refusals.
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

}  // namespace
}  // namespace jobwarden::testing
