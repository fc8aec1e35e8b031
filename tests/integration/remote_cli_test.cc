// The CLI's remote mode (--server / JOBWARDEN_SERVER): every job command
// through a real server, with the output and exit codes of local mode.
#include "integration/remote_test_support.h"

namespace jobwarden::testing {
namespace {

class RemoteCliTest : public RemoteTest {
 protected:
  void SetUp() override {
    RemoteTest::SetUp();
    StartServer();
  }
  CommandResult Cli(std::vector<std::string> args) {
    args.push_back("--server");
    args.push_back(url());
    return RunCli(args);
  }
  static std::string Trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
};

TEST_F(RemoteCliTest, EnqueueStatusLsCancelRetryThroughTheServer) {
  CommandResult e = Cli({"enqueue", "resize", "--args", R"({"w":64})", "--queue", "images", "--priority", "3",
                         "--timeout", "2m", "--tag", "t1"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const std::string id = Trim(e.out);
  ASSERT_FALSE(id.empty());

  // status --json is the server's job JSON, field for field.
  CommandResult s = Cli({"status", id, "--json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const json printed = json::parse(s.out);
  EXPECT_EQ(printed, Job(id));
  EXPECT_EQ(printed["kind"], "resize");
  EXPECT_EQ(printed["queue"], "images");
  EXPECT_EQ(printed["priority"], 3);
  EXPECT_EQ(printed["args"]["w"], 64);
  EXPECT_EQ(printed["timeout_s"], 120);
  EXPECT_EQ(printed["state"], "available");

  // Plain status, ls (table and JSON), queues.
  CommandResult plain = Cli({"status", id});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out.find("resize"), std::string::npos) << plain.out;
  CommandResult ls = Cli({"ls", "--json", "--queue", "images"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  const json list = json::parse(ls.out);
  ASSERT_EQ(list.size(), 1u) << ls.out;
  EXPECT_EQ(list[0]["id"], id);
  EXPECT_EQ(Cli({"ls"}).exit_code, 0);
  CommandResult queues = Cli({"queues", "--json"});
  ASSERT_EQ(queues.exit_code, 0) << queues.err;
  EXPECT_NE(queues.out.find("images"), std::string::npos) << queues.out;

  // Cancel, cancel again (refused: 1), retry, and an unknown id (1).
  CommandResult c = Cli({"cancel", id});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(Trim(c.out), "job " + id + ": cancelled");
  EXPECT_EQ(State(id), "cancelled");
  EXPECT_EQ(Cli({"cancel", id}).exit_code, 1);
  CommandResult r = Cli({"retry", id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("available"), std::string::npos) << r.out;
  EXPECT_EQ(State(id), "available");
  EXPECT_EQ(Cli({"status", "999999"}).exit_code, 1);
  EXPECT_EQ(Cli({"cancel", "999999"}).exit_code, 1);

  // Pause/resume, purge, reset-stuck, doctor, delete.
  EXPECT_EQ(Cli({"pause", "images"}).exit_code, 0);
  EXPECT_TRUE(Get("/v1/queues").raw.find("\"paused\":true") != std::string::npos);
  EXPECT_EQ(Cli({"resume", "images"}).exit_code, 0);
  CommandResult reset = Cli({"reset-stuck", "--older-than", "10m"});
  EXPECT_EQ(reset.exit_code, 0) << reset.err;
  EXPECT_EQ(Trim(reset.out), "reset 0 job(s)");
  CommandResult doctor = Cli({"doctor", "--json"});
  EXPECT_EQ(doctor.exit_code, 0) << doctor.err;
  ASSERT_EQ(Cli({"cancel", id}).exit_code, 0);
  CommandResult purge = Cli({"purge", "--state", "cancelled"});
  ASSERT_EQ(purge.exit_code, 0) << purge.err;
  EXPECT_EQ(Trim(purge.out), "deleted 1 job(s)");
  EXPECT_EQ(Get("/v1/jobs/" + id).status, 404);
  EXPECT_EQ(Cli({"delete", id}).exit_code, 1);
}

TEST_F(RemoteCliTest, ServerFromTheEnvironmentAndUniqueKeyDeduplicates) {
  const std::map<std::string, std::string> env = {{"JOBWARDEN_SERVER", url()}};
  CommandResult a = RunCli({"enqueue", "mail", "--unique-key", "u-1"}, env);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  CommandResult b = RunCli({"enqueue", "mail", "--unique-key", "u-1"}, env);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(b.err.find("deduplicated"), std::string::npos) << b.err;
}

TEST_F(RemoteCliTest, BadInputExitsTwoNamingTheFlag) {
  CommandResult bad = Cli({"enqueue", "x", "--max-attempts", "5000"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--max-attempts"), std::string::npos) << bad.err;
  CommandResult url = RunCli({"ls", "--server", "https://example.com"});
  EXPECT_EQ(url.exit_code, 2) << url.err;
  EXPECT_NE(url.err.find("--server"), std::string::npos) << url.err;
}

TEST_F(RemoteCliTest, UnreachableServerExitsThree) {
  const std::string dead = "http://127.0.0.1:" + std::to_string(FreePort());
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"enqueue", "x"}, {"status", "1"}, {"ls"}, {"cancel", "1"}, {"queues"}}) {
    std::vector<std::string> a = args;
    a.push_back("--server");
    a.push_back(dead);
    CommandResult r = RunCli(a);
    EXPECT_EQ(r.exit_code, 3) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("unreachable"), std::string::npos) << r.err;
  }
}

// Tokens: the CLI sends --token (or $JOBWARDEN_TOKEN) as a bearer token; a
// remote worker too. A missing or wrong token exits 2, naming --token.
class RemoteTokenTest : public RemoteTest {};

TEST_F(RemoteTokenTest, CliAndWorkerSendTheirToken) {
  StartServerWithEnv(
      {{"JOBWARDEN_ADMIN_TOKEN", "admin-secret-0123456789"}, {"JOBWARDEN_WORKER_TOKEN", "worker-secret-0123456789"}});
  CommandResult none = RunCli({"enqueue", "x", "--server", url()});
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_NE(none.err.find("--token"), std::string::npos) << none.err;
  CommandResult wrong = RunCli({"ls", "--server", url(), "--token", "nope"});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.err;
  CommandResult ok = RunCli({"enqueue", "tok", "--server", url()}, {{"JOBWARDEN_TOKEN", "admin-secret-0123456789"}});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  std::string id = ok.out;
  while (!id.empty() && id.back() == '\n') id.pop_back();

  const std::string script = WriteScript("ok.sh", "#!/bin/sh\necho '{\"result\": 1}' >&3\n");
  StartWorker(WriteConfig("w.toml", "concurrency = 1", "tok", {script}), {"--token", "worker-secret-0123456789"});
  EXPECT_TRUE(WaitUntil(
      [&] {
        CommandResult s = RunCli({"status", id, "--json", "--server", url(), "--token", "admin-secret-0123456789"});
        return s.exit_code == 0 && json::parse(s.out, nullptr, false).value("state", "") == "succeeded";
      },
      30s));
}

// `status ID --watch` follows a job to its end through the server; not on a
// terminal it prints plain lines (state changes, the progress bar at most
// every 5 s, how it ended), and exits 0.
TEST_F(RemoteCliTest, StatusWatchFollowsAJobToItsEnd) {
  const std::string handler = WriteScript("steps.sh", R"(#!/bin/sh
i=0
while [ $i -lt 12 ]; do
  i=$((i+1)); sleep 0.25
  echo "{\"progress\": {\"done\": $i, \"total\": 12}}" >&3
done
)");
  StartWorker(WriteConfig("w.toml", "concurrency = 1\nlease_ttl = \"3s\"\ngrace = \"1s\"", "steps", {handler}));
  const std::string id = Enqueue({{"kind", "steps"}, {"timeout_s", 60}});
  CommandResult w = Cli({"status", id, "--watch", "--interval", "200ms"});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_NE(w.out.find("job " + id + " [steps] running, attempt 1/"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("timeout in"), std::string::npos) << "the nearest limit is shown: " << w.out;
  EXPECT_NE(w.out.find("job " + id + " [steps] succeeded"), std::string::npos) << w.out;
  EXPECT_EQ(w.out.find("\033["), std::string::npos) << "no terminal escapes in plain output";
  EXPECT_EQ(State(id), "succeeded");

  EXPECT_EQ(Cli({"status", id, "--watch", "--interval", "5ms"}).exit_code, 2);
  EXPECT_EQ(Cli({"status", id, "--watch", "--json"}).exit_code, 2);
  EXPECT_EQ(Cli({"status", "999999", "--watch"}).exit_code, 1);
}

// `ls --watch` not on a terminal: the table once, then a line per change.
TEST_F(RemoteCliTest, LsWatchPrintsALinePerChange) {
  ChildProcess watch({JOBWARDEN_CLI_BINARY, "ls", "--watch", "--interval", "200ms", "--server", url()},
                     dir_.File("ls-watch"));
  ASSERT_TRUE(WaitUntil([&] { return watch.Stdout().find("ID") != std::string::npos; }, 15s)) << watch.Stderr();
  const std::string handler = WriteScript("ok.sh", "#!/bin/sh\nsleep 0.5\n");
  const std::string id = Enqueue({{"kind", "ok"}});
  StartWorker(WriteConfig("w.toml", "concurrency = 1", "ok", {handler}));
  ASSERT_TRUE(WaitForState(id, "succeeded", 30s));
  EXPECT_TRUE(WaitUntil(
      [&] {
        return watch.Stdout().find("job " + id + " [ok] ") != std::string::npos &&
               watch.Stdout().find("-> succeeded") != std::string::npos;
      },
      15s))
      << watch.Stdout();
  EXPECT_TRUE(watch.running()) << "it refreshes until stopped";
  watch.Signal(SIGTERM);
  watch.WaitFor(5s);
}

}  // namespace
}  // namespace jobwarden::testing
