// Tokens and roles against each route group, the tokenless server's
// loopback rules, and the refusal to expose a tokenless server.
#include <fstream>

#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

const std::string kAdmin = "admin-token-0123456789";
const std::string kWorker = "worker-token-0123456789";
const std::string kRead = "read-token-0123456789";

enum class Need { kNone, kReader, kWorkerRole, kAdminRole };

struct Call {
  std::string method;
  std::string path;
  json body;
  Need need;
};

Reply Send(const ServerProcess& s, const Call& c, const std::string& token) {
  auto client = s.Client(token);
  if (c.method == "GET") return ToReply(client->Get(c.path.c_str()));
  if (c.method == "DELETE") return ToReply(client->Delete(c.path.c_str()));
  if (c.method == "PUT") return ToReply(client->Put(c.path.c_str(), c.body.dump(), "application/json"));
  return ToReply(client->Post(c.path.c_str(), c.body.dump(), "application/json"));
}

TEST(ServerAuthTest, EachRoleAgainstEachRouteGroup) {
  ServerProcess server(
      {{"JOBWARDEN_ADMIN_TOKEN", kAdmin}, {"JOBWARDEN_WORKER_TOKEN", kWorker}, {"JOBWARDEN_READ_TOKEN", kRead}});
  server.Start();
  const std::string job = server.Enqueue({{"kind", "k"}}, kAdmin);
  const std::string worker = server.Register(kWorker);
  ASSERT_FALSE(worker.empty());

  const std::vector<Call> calls = {
      {"GET", "/healthz", nullptr, Need::kNone},
      {"GET", "/readyz", nullptr, Need::kNone},
      {"GET", "/", nullptr, Need::kNone},
      {"GET", "/ui/app.js", nullptr, Need::kNone},
      {"GET", "/v1/whoami", nullptr, Need::kReader},
      {"GET", "/metrics", nullptr, Need::kReader},
      {"GET", "/v1/jobs", nullptr, Need::kReader},
      {"GET", "/v1/jobs/" + job, nullptr, Need::kReader},
      {"GET", "/v1/queues", nullptr, Need::kReader},
      {"GET", "/v1/workers", nullptr, Need::kReader},
      {"GET", "/v1/queues/q1", nullptr, Need::kReader},
      {"GET", "/v1/resources", nullptr, Need::kReader},
      {"GET", "/v1/resources/host:x", nullptr, Need::kReader},
      {"GET", "/v1/holds", nullptr, Need::kReader},
      {"POST", "/v1/worker/register", {{"host", "h"}, {"pid", 1}, {"slots", 1}}, Need::kWorkerRole},
      {"POST", "/v1/worker/fetch", {{"worker_id", worker}, {"queues", {"none"}}}, Need::kWorkerRole},
      {"POST", "/v1/worker/heartbeat", {{"worker_id", worker}, {"jobs", json::array()}}, Need::kWorkerRole},
      {"POST", "/v1/worker/complete", {{"id", "999999"}, {"token", 1}}, Need::kWorkerRole},
      {"POST",
       "/v1/worker/fail",
       {{"id", "999999"}, {"token", 1}, {"error", {{"class", "transient"}, {"message", "m"}}}},
       Need::kWorkerRole},
      {"POST", "/v1/jobs", {{"kind", "k"}}, Need::kAdminRole},
      {"POST", "/v1/jobs/bulk", {{"jobs", {{{"kind", "k"}}}}}, Need::kAdminRole},
      {"POST", "/v1/jobs/999999/cancel", json::object(), Need::kAdminRole},
      {"POST", "/v1/jobs/999999/retry", json::object(), Need::kAdminRole},
      {"DELETE", "/v1/jobs/999999", nullptr, Need::kAdminRole},
      {"POST", "/v1/jobs/delete", {{"queue", "nothing-here"}}, Need::kAdminRole},
      {"POST", "/v1/admin/reset-stuck", {{"older_than_s", 3600}}, Need::kAdminRole},
      {"POST", "/v1/queues/q1/pause", json::object(), Need::kAdminRole},
      {"POST", "/v1/queues/q1/resume", json::object(), Need::kAdminRole},
      {"PUT", "/v1/queues/q1", {{"concurrency", 2}}, Need::kAdminRole},
      {"PUT", "/v1/resources/host:x", {{"concurrency", 2}}, Need::kAdminRole},
  };
  const std::vector<std::pair<std::string, Need>> callers = {{"", Need::kNone},
                                                             {"not-a-token-at-all-xx", Need::kNone},
                                                             {kRead, Need::kReader},
                                                             {kWorker, Need::kWorkerRole},
                                                             {kAdmin, Need::kAdminRole}};
  for (const Call& c : calls) {
    for (const auto& [token, has] : callers) {
      Reply r = Send(server, c, token);
      const std::string what = c.method + " " + c.path + " as " + (token.empty() ? "nobody" : token);
      if (c.need == Need::kNone) {
        EXPECT_EQ(r.status, 200) << what << ": " << r.raw;
      } else if (has == Need::kNone) {
        EXPECT_EQ(r.status, 401) << what << ": " << r.raw;
        EXPECT_EQ(Code(r), "unauthorized") << what;
      } else if (has < c.need) {
        EXPECT_EQ(r.status, 403) << what << ": " << r.raw;
        EXPECT_EQ(Code(r), "forbidden") << what;
      } else {
        EXPECT_NE(r.status, 401) << what;
        EXPECT_NE(r.status, 403) << what;
        EXPECT_GT(r.status, 0) << what;
      }
    }
  }
  // The streams too.
  auto c = server.Client();
  c->set_read_timeout(std::chrono::seconds(5));
  auto events = c->Get("/v1/events");
  ASSERT_TRUE(events);
  EXPECT_EQ(events->status, 401);
  auto session = server.Client(kRead)->Get(("/v1/worker/session?worker_id=" + worker).c_str());
  ASSERT_TRUE(session);
  EXPECT_EQ(session->status, 403);
}

TEST(ServerAuthTest, WhoAmINamesTheRoleOfTheToken) {
  ServerProcess server(
      {{"JOBWARDEN_ADMIN_TOKEN", kAdmin}, {"JOBWARDEN_WORKER_TOKEN", kWorker}, {"JOBWARDEN_READ_TOKEN", kRead}});
  server.Start();
  EXPECT_EQ(server.Get("/v1/whoami", kRead).body.value("role", ""), "read");
  EXPECT_EQ(server.Get("/v1/whoami", kWorker).body.value("role", ""), "worker");
  EXPECT_EQ(server.Get("/v1/whoami", kAdmin).body.value("role", ""), "admin");
  ServerProcess tokenless;
  tokenless.Start();
  EXPECT_EQ(tokenless.Get("/v1/whoami").body.value("role", ""), "admin");
}

// Browsers say where a request comes from (Sec-Fetch-Site): a page of another
// site or port may not change state, with a token or on a tokenless server.
TEST(ServerAuthTest, ABrowserPageOfAnotherOriginMayNotChangeState) {
  ServerProcess tokenless;
  tokenless.Start();
  ServerProcess with_tokens({{"JOBWARDEN_ADMIN_TOKEN", kAdmin}});
  with_tokens.Start();
  for (const ServerProcess* s : {&tokenless, &with_tokens}) {
    const std::string token = s == &tokenless ? "" : kAdmin;
    auto c = s->Client(token);
    for (const char* site : {"cross-site", "same-site"}) {
      Reply r = ToReply(
          c->Post("/v1/jobs", httplib::Headers{{"Sec-Fetch-Site", site}}, R"({"kind":"k"})", "application/json"));
      EXPECT_EQ(r.status, 403) << site << ": " << r.raw;
      EXPECT_EQ(Code(r), "forbidden");
      EXPECT_NE(r.raw.find(site), std::string::npos) << r.raw;
      r = ToReply(c->Delete("/v1/jobs/1", httplib::Headers{{"Sec-Fetch-Site", site}}));
      EXPECT_EQ(r.status, 403) << site << ": " << r.raw;
      // Reads stay open: the browser itself keeps another origin from reading the answer.
      EXPECT_EQ(ToReply(c->Get("/v1/jobs", httplib::Headers{{"Sec-Fetch-Site", site}})).status, 200);
    }
    EXPECT_EQ(s->Get("/v1/jobs?kind=k", token).body["jobs"].size(), 0u) << "nothing was enqueued";
    for (const char* site : {"same-origin", "none"}) {
      Reply r = ToReply(
          c->Post("/v1/jobs", httplib::Headers{{"Sec-Fetch-Site", site}}, R"({"kind":"k"})", "application/json"));
      EXPECT_EQ(r.status, 201) << site << ": " << r.raw;
    }
  }
}

TEST(ServerAuthTest, TheDashboardIsServedFromTheBinary) {
  ServerProcess server({{"JOBWARDEN_ADMIN_TOKEN", kAdmin}});
  server.Start();
  auto c = server.Client();
  auto page = c->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("/ui/app.js"), std::string::npos);
  const std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");

  for (const char* file : {"app.js", "api.js", "ui.js"}) {
    auto r = c->Get((std::string("/ui/") + file).c_str());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << file;
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/javascript; charset=utf-8") << file;
    EXPECT_FALSE(r->body.empty()) << file;
  }
  auto css = c->Get("/ui/style.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");

  // The ETag validates: the same file is not sent again.
  const std::string etag = page->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  auto again = c->Get("/", httplib::Headers{{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());

  Reply missing = ToReply(c->Get("/ui/nope.js"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Code(missing), "not_found");
  EXPECT_NE(missing.raw.find("nope.js"), std::string::npos);
  EXPECT_EQ(ToReply(c->Get("/ui/..%2Fserver.json")).status, 404) << "only the embedded files, never a path";
}

TEST(ServerAuthTest, TokensFromTheConfigFile) {
  ServerProcess server({}, {});
  const std::string config = server.dir().File("jobwarden.toml");
  {
    std::ofstream out(config);
    out << "[server]\ntokens = { read = \"config-read-token-0123\", admin = [\"config-admin-token-0123\"] }\n";
  }
  ServerProcess configured({}, {"--config", config});
  configured.Start();
  EXPECT_EQ(configured.Get("/v1/jobs", "config-read-token-0123").status, 200);
  EXPECT_EQ(configured.Post("/v1/jobs", {{"kind", "k"}}, "config-read-token-0123").status, 403);
  EXPECT_EQ(configured.Post("/v1/jobs", {{"kind", "k"}}, "config-admin-token-0123").status, 201);
  EXPECT_EQ(configured.Get("/v1/jobs").status, 401);
}

TEST(ServerAuthTest, WithoutTokensOnlyLoopbackHostsAndNoExposedBind) {
  ServerProcess server;
  server.Start();
  EXPECT_EQ(server.Get("/v1/jobs").status, 200);  // no token needed: every caller is admin
  EXPECT_EQ(server.Post("/v1/jobs", {{"kind", "k"}}).status, 201);
  auto c = server.Client();
  for (const char* host : {"evil.example", "evil.example:7070", "10.0.0.1"}) {
    Reply r = ToReply(c->Post("/v1/jobs", httplib::Headers{{"Host", host}}, R"({"kind":"k"})", "application/json"));
    EXPECT_EQ(r.status, 403) << host << ": " << r.raw;
    EXPECT_EQ(Code(r), "forbidden");
  }
  for (const char* host : {"localhost:1234", "127.0.0.1", "[::1]:7070"}) {
    Reply r = ToReply(c->Get("/v1/jobs", httplib::Headers{{"Host", host}}));
    EXPECT_EQ(r.status, 200) << host << ": " << r.raw;
  }

  // No token configured: a non-loopback bind is refused (exit 2, usage).
  TempDir dir;
  ChildProcess refused({JOBWARDEN_CLI_BINARY, "server", "--db", dir.File("var/jobs.db"), "--listen", "0.0.0.0:0"},
                       dir.File("refused"));
  const int status = refused.WaitFor(Millis(10'000));
  ASSERT_NE(status, -1) << "the server started instead of refusing";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2) << refused.Stderr();
  EXPECT_NE(refused.Stderr().find("non-loopback"), std::string::npos) << refused.Stderr();
}

}  // namespace
}  // namespace jobwarden::testing
