// The discovery file (client/discovery.h): a job command run without
// --server goes through the server that runs on its --db file, and ignores a
// file left by a dead server or naming another database.
#include <sys/wait.h>

#include "integration/remote_test_support.h"

namespace jobwarden::testing {
namespace {

// With a token configured, a command that reaches the server without one is
// refused (401), while the same command on the file itself needs no token:
// that tells "went through the server" from "opened the file".
constexpr const char* kAdminToken = "discovery-test-admin-token-0001";

class RemoteDiscoveryTest : public RemoteTest {
 protected:
  std::string Discovery() const { return dir_.File("var/server.json"); }

  void StartServerWithToken() {
    StartServerWithEnv({{"SPDLOG_LEVEL", "info"}, {"JOBWARDEN_ADMIN_TOKEN", kAdminToken}});
    ASSERT_TRUE(WaitUntil([&] { return std::filesystem::exists(Discovery()); }, 10s));
  }
  static std::string Trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
  // The job as the server sees it (the harness's Get has no token).
  json JobWithToken(const std::string& id) {
    auto c = Client();
    c->set_bearer_token_auth(kAdminToken);
    return ToReply(c->Get(("/v1/jobs/" + id).c_str())).body;
  }
};

TEST_F(RemoteDiscoveryTest, JobCommandsGoThroughTheServerRunningOnTheirDatabase) {
  StartServerWithToken();
  // Through the server: refused without the token, the exit code of a refused token.
  CommandResult refused = RunCli({"enqueue", "noop", "--db", db()});
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_NE(refused.err.find("token"), std::string::npos) << refused.err;

  CommandResult e = RunCli({"enqueue", "noop", "--db", db(), "--token", kAdminToken});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const std::string id = Trim(e.out);
  EXPECT_EQ(JobWithToken(id).value("kind", ""), "noop");
  CommandResult s = RunCli({"status", id, "--json", "--db", db(), "--token", kAdminToken});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(json::parse(s.out), JobWithToken(id));

  // --local opens the file itself: no token needed, same database.
  CommandResult local = RunCli({"status", id, "--json", "--db", db(), "--local"});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(json::parse(local.out).value("id", ""), id);
}

TEST_F(RemoteDiscoveryTest, FileOfAServerThatDiedIsIgnored) {
  // A server killed with -9 leaves its file behind, naming a process that is gone.
  StartServerWithToken();
  const std::string left = [&] {
    std::ifstream in(Discovery());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }();
  KillServer();
  ASSERT_TRUE(std::filesystem::exists(Discovery()));
  EXPECT_EQ(json::parse(left).value("url", ""), url());

  CommandResult e = RunCli({"enqueue", "noop", "--db", db()});  // no token: the file itself
  ASSERT_EQ(e.exit_code, 0) << e.err;
  CommandResult s = RunCli({"status", Trim(e.out), "--json", "--db", db()});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(json::parse(s.out).value("state", ""), "available");
}

TEST_F(RemoteDiscoveryTest, ServerOfAnotherDatabaseInTheSameDirectoryIsNotUsed) {
  StartServerWithToken();
  const std::string other = dir_.File("var/other.db");
  CommandResult e = RunCli({"enqueue", "noop", "--db", other});
  ASSERT_EQ(e.exit_code, 0) << e.err;  // the file: no token asked
  EXPECT_TRUE(std::filesystem::exists(other));
  EXPECT_EQ(JobWithToken(Trim(e.out)).value("id", "?"), "?") << "the job went to the server's database";
}

TEST_F(RemoteDiscoveryTest, MalformedFileIsIgnoredWithAWarning) {
  std::filesystem::create_directories(dir_.File("var"));
  std::ofstream(Discovery()) << "{ not json";
  CommandResult e = RunCli({"enqueue", "noop", "--db", db()});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NE(e.err.find("server.json"), std::string::npos) << e.err;
}

}  // namespace
}  // namespace jobwarden::testing
