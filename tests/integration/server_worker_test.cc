// The worker protocol through a real server: register, fetch with leases and
// long-poll, heartbeat answers, complete/fail (single, batch, idempotent
// re-settle, stale tokens), and a zombie's late complete (G5).
#include <future>

#include "integration/server_harness.h"

namespace jobwarden::testing {
namespace {

using Clock = std::chrono::steady_clock;

class ServerWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.Start(); }
  ServerProcess server_;
};

TEST_F(ServerWorkerTest, RegisterFetchHeartbeatComplete) {
  Reply reg = server_.Post("/v1/worker/register", {{"host", "h"}, {"pid", 1}, {"queues", {"default"}}, {"slots", 2}});
  ASSERT_EQ(reg.status, 201) << reg.raw;
  const std::string worker = reg.body["worker_id"];
  EXPECT_FALSE(worker.empty());
  EXPECT_TRUE(reg.body["session_epoch"].is_number_integer());
  EXPECT_DOUBLE_EQ(reg.body["session_grace_s"].get<double>(), 2.0);

  Reply bad_reg = server_.Post("/v1/worker/register", {{"host", "h"}, {"pid", "one"}, {"slots", 1}});
  EXPECT_EQ(bad_reg.status, 400);
  EXPECT_EQ(Message(bad_reg).rfind("pid:", 0), 0u) << bad_reg.raw;

  const std::string id = server_.Enqueue({{"kind", "k"}});
  Reply unknown = server_.Post("/v1/worker/fetch", {{"worker_id", "nobody"}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(Message(unknown).rfind("worker_id:", 0), 0u);
  Reply bad_max = server_.Post("/v1/worker/fetch", {{"worker_id", worker}, {"max", 0}});
  EXPECT_EQ(bad_max.status, 400);
  EXPECT_EQ(Message(bad_max).rfind("max:", 0), 0u);
  Reply bad_grace = server_.Post("/v1/worker/fetch", {{"worker_id", worker}, {"lease_ttl_s", 4}, {"grace_s", 3}});
  EXPECT_EQ(bad_grace.status, 400);
  EXPECT_EQ(Message(bad_grace).rfind("grace", 0), 0u) << bad_grace.raw;

  json job = server_.FetchOne(worker, {{"lease_ttl_s", 30}});
  ASSERT_FALSE(job.is_null());
  EXPECT_EQ(job["id"], id);
  EXPECT_EQ(job["state"], "running");
  EXPECT_EQ(job["attempt"], 1);
  EXPECT_EQ(job["worker_id"], worker);
  ASSERT_TRUE(job["lease"]["token"].is_number_integer());
  EXPECT_TRUE(job["lease"]["expires_at"].is_string());
  EXPECT_DOUBLE_EQ(job["lease"]["ttl_s"].get<double>(), 30.0);
  const std::int64_t token = job["lease"]["token"];

  Reply hb = server_.Post(
      "/v1/worker/heartbeat",
      {{"worker_id", worker},
       {"jobs",
        {{{"id", id}, {"token", token}, {"progress", {{"done", 3}, {"total", 10}}}, {"checkpoint", {{"page", 3}}}}}}});
  ASSERT_EQ(hb.status, 200) << hb.raw;
  ASSERT_EQ(hb.body["jobs"].size(), 1u);
  EXPECT_EQ(hb.body["jobs"][0]["answer"], "continue");
  EXPECT_TRUE(hb.body["jobs"][0]["lease_expires_at"].is_string());
  Reply stale_hb =
      server_.Post("/v1/worker/heartbeat", {{"worker_id", worker}, {"jobs", {{{"id", id}, {"token", token + 1000}}}}});
  ASSERT_EQ(stale_hb.status, 200);
  EXPECT_EQ(stale_hb.body["jobs"][0]["answer"], "lost");
  Reply bad_hb =
      server_.Post("/v1/worker/heartbeat",
                   {{"worker_id", worker}, {"jobs", {{{"id", id}, {"token", token}, {"progress", {{"done", -1}}}}}}});
  EXPECT_EQ(bad_hb.status, 400);
  EXPECT_EQ(Message(bad_hb).rfind("jobs[0].progress.done", 0), 0u) << bad_hb.raw;

  Reply got = server_.Get("/v1/jobs/" + id);
  EXPECT_EQ(got.body["progress"]["done"], 3);
  EXPECT_EQ(got.body["checkpoint"]["page"], 3);

  Reply done = server_.Post("/v1/worker/complete", {{"worker_id", worker},
                                                    {"id", id},
                                                    {"token", token},
                                                    {"result", {{"ok", true}}},
                                                    {"progress", {{"done", 10}, {"total", 10}}}});
  ASSERT_EQ(done.status, 200) << done.raw;
  // A retried complete (lost answer) with the same token: 200, nothing changes.
  Reply again = server_.Post("/v1/worker/complete", {{"id", id}, {"token", token}, {"result", {{"ok", "other"}}}});
  EXPECT_EQ(again.status, 200) << again.raw;
  got = server_.Get("/v1/jobs/" + id);
  EXPECT_EQ(got.body["state"], "succeeded");
  EXPECT_EQ(got.body["result"]["ok"], true);
  EXPECT_EQ(got.body["progress"]["done"], 10);

  ASSERT_EQ(server_.Post("/v1/worker/deregister", {{"worker_id", worker}}).status, 200);
  EXPECT_EQ(server_.Post("/v1/worker/fetch", {{"worker_id", worker}}).status, 404);
}

TEST_F(ServerWorkerTest, ZombieCompleteAfterTheLeaseWasGivenAwayIsRefused) {
  const std::string zombie = server_.Register();
  const std::string holder = server_.Register();
  const std::string id = server_.Enqueue({{"kind", "k"}});
  json first = server_.FetchOne(zombie, {{"lease_ttl_s", 1}});
  ASSERT_FALSE(first.is_null());
  const std::int64_t old_token = first["lease"]["token"];

  // The zombie stops heartbeating: its lease expires and the reaper takes the job back.
  ASSERT_TRUE(WaitUntil([&] { return server_.Get("/v1/jobs/" + id).body["state"] == "available"; }, Millis(5000)));
  json second = server_.FetchOne(holder, {{"lease_ttl_s", 30}});
  ASSERT_FALSE(second.is_null());
  ASSERT_EQ(second["id"], id);
  const std::int64_t new_token = second["lease"]["token"];
  EXPECT_GT(new_token, old_token);

  Reply late = server_.Post("/v1/worker/complete", {{"id", id}, {"token", old_token}, {"result", "zombie"}});
  EXPECT_EQ(late.status, 409) << late.raw;
  EXPECT_EQ(Code(late), "lease_lost");
  Reply late_fail = server_.Post(
      "/v1/worker/fail", {{"id", id}, {"token", old_token}, {"error", {{"class", "transient"}, {"message", "x"}}}});
  EXPECT_EQ(late_fail.status, 409);
  EXPECT_EQ(Code(late_fail), "lease_lost");
  Reply late_hb =
      server_.Post("/v1/worker/heartbeat", {{"worker_id", zombie}, {"jobs", {{{"id", id}, {"token", old_token}}}}});
  EXPECT_EQ(late_hb.body["jobs"][0]["answer"], "lost");

  ASSERT_EQ(server_.Post("/v1/worker/complete", {{"id", id}, {"token", new_token}, {"result", "holder"}}).status, 200);
  Reply zombie_again = server_.Post("/v1/worker/complete", {{"id", id}, {"token", old_token}, {"result", "zombie"}});
  EXPECT_EQ(zombie_again.status, 409);
  Reply got = server_.Get("/v1/jobs/" + id);
  EXPECT_EQ(got.body["state"], "succeeded");
  EXPECT_EQ(got.body["result"], "holder");
  ASSERT_EQ(got.body["errors"].size(), 1u);
  EXPECT_EQ(got.body["errors"][0]["class"], "lease_expired");
}

TEST_F(ServerWorkerTest, FailClassesBatchesAndCancelAnswers) {
  const std::string worker = server_.Register();
  for (int i = 0; i < 4; ++i) server_.Enqueue({{"kind", "k"}});
  Reply fetched = server_.Post("/v1/worker/fetch", {{"worker_id", worker}, {"max", 4}, {"lease_ttl_s", 30}});
  ASSERT_EQ(fetched.status, 200);
  ASSERT_EQ(fetched.body["jobs"].size(), 4u);
  auto id_of = [&](int i) { return fetched.body["jobs"][i]["id"].get<std::string>(); };
  auto token_of = [&](int i) { return fetched.body["jobs"][i]["lease"]["token"].get<std::int64_t>(); };

  Reply server_class =
      server_.Post("/v1/worker/fail",
                   {{"id", id_of(0)}, {"token", token_of(0)}, {"error", {{"class", "worker_lost"}, {"message", "x"}}}});
  EXPECT_EQ(server_class.status, 400);
  EXPECT_EQ(Message(server_class).rfind("error.class", 0), 0u) << server_class.raw;
  Reply no_message =
      server_.Post("/v1/worker/fail", {{"id", id_of(0)}, {"token", token_of(0)}, {"error", {{"class", "transient"}}}});
  EXPECT_EQ(no_message.status, 400);
  EXPECT_EQ(Message(no_message).rfind("error.message: required", 0), 0u) << no_message.raw;

  const json transient = {{"id", id_of(0)},
                          {"token", token_of(0)},
                          {"error", {{"class", "transient"}, {"message", "upstream 502"}}},
                          {"checkpoint", {{"cursor", 7}}}};
  ASSERT_EQ(server_.Post("/v1/worker/fail", transient).status, 200);
  EXPECT_EQ(server_.Post("/v1/worker/fail", transient).status, 200) << "a re-sent fail is idempotent";
  Reply failed = server_.Get("/v1/jobs/" + id_of(0));
  EXPECT_EQ(failed.body["state"], "scheduled");
  ASSERT_EQ(failed.body["errors"].size(), 1u);
  EXPECT_EQ(failed.body["errors"][0]["class"], "transient");
  EXPECT_EQ(failed.body["checkpoint"]["cursor"], 7);

  // A running job cancelled by a user: the heartbeat answers cancel.
  ASSERT_EQ(server_.Post("/v1/jobs/" + id_of(1) + "/cancel", json::object()).status, 200);
  Reply hb = server_.Post("/v1/worker/heartbeat",
                          {{"worker_id", worker}, {"jobs", {{{"id", id_of(1)}, {"token", token_of(1)}}}}});
  EXPECT_EQ(hb.body["jobs"][0]["answer"], "cancel");
  EXPECT_EQ(hb.body["jobs"][0]["cancel_reason"], "cancel");

  // Batch: one stale token answers 409 lease_lost for that job only.
  Reply batch =
      server_.Post("/v1/worker/complete", {{"worker_id", worker},
                                           {"jobs",
                                            {{{"id", id_of(2)}, {"token", token_of(2)}, {"result", 2}},
                                             {{"id", id_of(3)}, {"token", token_of(3) + 99}, {"result", 3}}}}});
  ASSERT_EQ(batch.status, 200) << batch.raw;
  ASSERT_EQ(batch.body["jobs"].size(), 2u);
  EXPECT_EQ(batch.body["jobs"][0]["status"], 200);
  EXPECT_EQ(batch.body["jobs"][1]["status"], 409);
  EXPECT_EQ(batch.body["jobs"][1]["error"]["code"], "lease_lost");
  EXPECT_EQ(server_.Get("/v1/jobs/" + id_of(2)).body["state"], "succeeded");
  EXPECT_EQ(server_.Get("/v1/jobs/" + id_of(3)).body["state"], "running");

  Reply batch_fail = server_.Post(
      "/v1/worker/fail",
      {{"jobs",
        {{{"id", id_of(3)}, {"token", token_of(3)}, {"error", {{"class", "permanent"}, {"message", "bad"}}}}}}});
  ASSERT_EQ(batch_fail.status, 200);
  EXPECT_EQ(batch_fail.body["jobs"][0]["status"], 200);
  EXPECT_EQ(server_.Get("/v1/jobs/" + id_of(3)).body["state"], "failed");
}

TEST_F(ServerWorkerTest, LongPollReturnsWithinMillisecondsOfAnEnqueue) {
  const std::string worker = server_.Register();
  // Nothing to fetch: the wait ends at wait_ms, empty.
  const auto t0 = Clock::now();
  Reply empty = server_.Post("/v1/worker/fetch", {{"worker_id", worker}, {"wait_ms", 300}});
  const auto waited = std::chrono::duration_cast<Millis>(Clock::now() - t0);
  ASSERT_EQ(empty.status, 200);
  EXPECT_TRUE(empty.body["jobs"].empty());
  EXPECT_GE(waited.count(), 250);
  EXPECT_LT(waited.count(), 3000);

  auto poll = std::async(std::launch::async, [&] {
    Reply r = server_.Post("/v1/worker/fetch", {{"worker_id", worker}, {"wait_ms", 20'000}});
    return std::make_pair(r, Clock::now());
  });
  std::this_thread::sleep_for(Millis(300));  // let the fetch start waiting
  const auto enqueued = Clock::now();
  const std::string id = server_.Enqueue({{"kind", "k"}});
  auto [reply, answered] = poll.get();
  ASSERT_EQ(reply.status, 200);
  ASSERT_EQ(reply.body["jobs"].size(), 1u);
  EXPECT_EQ(reply.body["jobs"][0]["id"], id);
  const auto latency = std::chrono::duration_cast<Millis>(answered - enqueued).count();
  // Milliseconds in practice; the bound is generous for a loaded 2-core machine,
  // and far below the 20 s a polling server would take.
  EXPECT_LT(latency, 1000) << "long-poll answered " << latency << " ms after the enqueue";
}

}  // namespace
}  // namespace jobwarden::testing
