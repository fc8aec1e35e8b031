// Command handlers that misbehave, run by a real `jobwarden worker` process:
// each ends with a classified failure and nothing left running (G2, G3, G6).
#include <signal.h>

#include "integration/worker_test_support.h"

namespace jobwarden::testing {
namespace {

using WorkerHandlerTest = WorkerProcessTest;

// A handler that ignores SIGTERM, with a grandchild that left its process
// group (setsid) and ignores SIGTERM too: at the 1 s timeout both get SIGTERM,
// and SIGKILL after the 500 ms grace. The job fails as `timeout`; nothing of
// the attempt is left running.
TEST_F(WorkerHandlerTest, HandlerIgnoringSigtermIsKilledWithItsGrandchild) {
  const std::string script = WriteScript("stubborn.sh", R"(#!/bin/sh
trap '' TERM
setsid sh -c 'trap "" TERM; echo $$ > "$MARKS/grandchild.pid"; while :; do sleep 1; done' &
echo $$ > "$MARKS/handler.pid"
while :; do sleep 1; done
)");
  const std::string config =
      WriteConfig("lease_ttl = \"2s\"\ngrace = \"500ms\"\nconcurrency = 1", "stubborn", {"sh", script});
  const JobId id = Enqueue(Request("stubborn", 1s, 1));
  StartWorker(config);

  const pid_t handler = WaitForPid("handler.pid");
  const pid_t grandchild = WaitForPid("grandchild.pid");
  ASSERT_GT(handler, 0);
  ASSERT_GT(grandchild, 0);

  ASSERT_TRUE(WaitForState(id, JobState::kFailed, 30s)) << "state " << ToString(Get(id).state);
  const Job job = Get(id);
  ASSERT_EQ(job.errors.size(), 1u);
  EXPECT_EQ(job.errors[0].error_class, ErrorClass::kTimeout) << job.errors[0].message;
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(handler) && !ProcessAlive(grandchild); }, 10s))
      << "handler alive: " << ProcessAlive(handler) << ", grandchild alive: " << ProcessAlive(grandchild);
}

// Alive but silent: no progress for the job's stall_timeout (1 s). The server
// asks the worker to stop it, and it ends as `stalled`, not as a timeout.
TEST_F(WorkerHandlerTest, HandlerWithoutProgressEndsAsStalled) {
  const std::string script = WriteScript("silent.sh", R"(#!/bin/sh
echo $$ > "$MARKS/handler.pid"
exec sleep 600
)");
  const std::string config =
      WriteConfig("lease_ttl = \"3s\"\ngrace = \"1s\"\nconcurrency = 1", "silent", {"sh", script});
  EnqueueRequest r = Request("silent", 5min, 1);
  r.stall_timeout = 1s;
  const JobId id = Enqueue(r);
  StartWorker(config);

  const pid_t handler = WaitForPid("handler.pid");
  ASSERT_GT(handler, 0);
  ASSERT_TRUE(WaitForState(id, JobState::kFailed, 30s)) << "state " << ToString(Get(id).state);
  const Job job = Get(id);
  ASSERT_EQ(job.errors.size(), 1u);
  EXPECT_EQ(job.errors[0].error_class, ErrorClass::kStalled) << job.errors[0].message;
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(handler); }, 10s));
}

// Death by SIGSEGV is `crashed`, and the message names the signal.
TEST_F(WorkerHandlerTest, HandlerKilledBySigsegvIsCrashed) {
  const std::string script = WriteScript("segv.sh", R"(#!/bin/sh
ulimit -c 0
kill -SEGV $$
)");
  const std::string config = WriteConfig("concurrency = 1", "segv", {"sh", script});
  const JobId id = Enqueue(Request("segv", 5min, 1));
  StartWorker(config);

  ASSERT_TRUE(WaitForState(id, JobState::kFailed, 30s)) << "state " << ToString(Get(id).state);
  const Job job = Get(id);
  ASSERT_EQ(job.errors.size(), 1u);
  EXPECT_EQ(job.errors[0].error_class, ErrorClass::kCrashed) << job.errors[0].message;
  EXPECT_NE(job.errors[0].message.find("SIGSEGV"), std::string::npos) << job.errors[0].message;
}

// Malformed fd-3 lines (not JSON, not an object, an unknown key, a wrong
// shape, a class a handler may not declare, a line over 1 MiB) are logged and
// ignored: the valid lines around them still count, and the job succeeds.
TEST_F(WorkerHandlerTest, MalformedControlLinesDoNotBreakTheJob) {
  const std::string script = WriteScript("noisy.sh", R"(#!/bin/sh
{
  echo 'not json'
  echo '[1, 2, 3]'
  echo '{"bogus": 1}'
  echo '{"progress": "half"}'
  echo '{"error": {"class": "crashed", "message": "a handler may not say this"}}'
  echo ''
  head -c 2000000 /dev/zero | tr '\0' 'x'; echo
  echo '{"progress": {"done": 1, "total": 2, "message": "still fine"}}'
  echo '{"checkpoint": {"next": 1}}'
  echo '{"result": {"ok": true}}'
} >&3
)");
  const std::string config = WriteConfig("concurrency = 1", "noisy", {"sh", script});
  const JobId id = Enqueue(Request("noisy", 5min, 1));
  StartWorker(config);

  ASSERT_TRUE(WaitUntil([&] { return IsTerminal(Get(id).state); }, 30s)) << "state " << ToString(Get(id).state);
  const Job job = Get(id);
  ASSERT_EQ(job.state, JobState::kSucceeded) << (job.errors.empty() ? "" : job.errors[0].message);
  EXPECT_EQ(Json(job.result)["ok"], true);
  EXPECT_EQ(job.progress.done, 1);
  EXPECT_EQ(Json(job.checkpoint)["next"], 1);
}

}  // namespace
}  // namespace jobwarden::testing
