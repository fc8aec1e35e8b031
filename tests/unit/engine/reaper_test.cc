// The reaper and the server-side guarantees: G1 (leases), G2 (time limits
// with no worker cooperation), restart grace, retention, worker deaths and
// heartbeat omissions (DESIGN.md timing rules). FakeClock + ReapOnce only.
#include "engine/reaper.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "unit/engine/engine_helpers.h"

namespace jobwarden::testing {
namespace {

class ReaperTest : public EngineTest {};

// STYLE.md §8, as written: a lease, Advance(TTL + 1 s), one pass.
TEST_F(ReaperTest, ExpiredLeaseBecomesAvailableWithAttemptOneAndALeaseExpiredEntry) {
  const Job queued = Enqueue();
  FetchOne();
  clock().Advance(kLeaseTtl + seconds(1));
  Reap();
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 1);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kLeaseExpired);
}

// G1: with the reaper ticking, an unrenewed lease is taken back within one tick of its expiry.
TEST_F(ReaperTest, G1_UnrenewedLeaseIsTakenBackWithinOneTickOfExpiry) {
  const Duration tick = DefaultReaperTick(kLeaseTtl);
  ASSERT_EQ(tick, seconds(1));
  Reap();
  const Job queued = Enqueue();
  clock().Advance(milliseconds(300));  // not aligned with the ticks
  const Job j = FetchOne();
  const Timestamp expiry = *j.lease_expires_at;
  std::optional<Timestamp> taken_at;
  for (int i = 0; i < 30 && !taken_at; ++i) {
    clock().Advance(tick);
    const ReapStats st = Reap();
    EXPECT_EQ(st.graced, 0);
    if (Get(queued.id).state != JobState::kRunning) {
      taken_at = Now();
    } else {
      ASSERT_LT(Now(), expiry) << "still running after its lease expired at " << FormatRfc3339(expiry);
    }
  }
  ASSERT_TRUE(taken_at.has_value());
  EXPECT_GE(*taken_at, expiry);
  EXPECT_LE(*taken_at - expiry, tick);
  EXPECT_EQ(Get(queued.id).state, JobState::kAvailable);
}

TEST_F(ReaperTest, RenewedLeaseIsNeverTakenBack) {
  Reap();
  const Job queued = Enqueue();
  const Job j = FetchOne();
  for (int s = 1; s <= 120; ++s) {
    clock().Advance(seconds(1));
    if (s % 3 == 0) Beat(j);  // every TTL/3
    ASSERT_EQ(Reap().taken_back, 0) << "at +" << s << " s";
  }
  EXPECT_EQ(Get(queued.id).state, JobState::kRunning);
}

TEST_F(ReaperTest, ReaperPassIsIdempotent) {
  const Job queued = Enqueue();
  FetchOne();
  clock().Advance(kLeaseTtl);
  EXPECT_EQ(Reap().taken_back, 1);
  const ReapStats again = Reap();
  EXPECT_EQ(again.taken_back, 0);
  EXPECT_EQ(Get(queued.id).errors.size(), 1u);
}

TEST_F(ReaperTest, TwoEnginesReapingOneStoreTakeBackOnce) {
  Engine other(store(), clock(), {.rng_seed = 7});
  const Job queued = Enqueue();
  FetchOne();
  clock().Advance(kLeaseTtl);
  auto a = engine().ReapOnce();
  auto b = other.ReapOnce();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->taken_back + b->taken_back, 1);
  EXPECT_EQ(Get(queued.id).errors.size(), 1u);
}

// --- G2: limits enforced with no worker cooperation ---

struct LimitCase {
  const char* name;
  EnqueueRequest request;
  Duration limit_after;  // from the fetch
  ErrorClass cls;
  const char* limit;
  JobState final_state;
};

void PrintTo(const LimitCase& c, std::ostream* os) { *os << c.name; }

class G2Test : public EngineTest, public ::testing::WithParamInterface<LimitCase> {};

TEST_P(G2Test, LimitIsEnforcedWhileTheWorkerHeartbeatsAndIgnoresTheStop) {
  const LimitCase& c = GetParam();
  Reap();
  const Job queued = Enqueue(c.request);
  const Job j = FetchOne();
  const Timestamp limit = Now() + c.limit_after;
  const Timestamp bound = limit + kGrace + kTtlThird + DefaultReaperTick(kLeaseTtl);
  std::optional<Timestamp> taken_at;
  int cancels_seen = 0;
  for (int s = 1; s <= 600 && !taken_at; ++s) {
    clock().Advance(seconds(1));
    if (s % 3 == 0 && Beat(j).answer == HeartbeatAnswer::kCancel) ++cancels_seen;  // told to stop; ignores it
    Reap();
    if (Get(queued.id).state != JobState::kRunning) taken_at = Now();
  }
  ASSERT_TRUE(taken_at.has_value()) << c.name << " was never enforced";
  EXPECT_GT(*taken_at, limit);
  EXPECT_LE(*taken_at, bound);
  EXPECT_GT(cancels_seen, 0);  // the worker was told first
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, c.final_state);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, c.cls);
  EXPECT_EQ(got.errors[0].limit, c.limit);
}

INSTANTIATE_TEST_SUITE_P(Limits, G2Test,
                         ::testing::Values(LimitCase{"timeout", MakeJob({.timeout = seconds(30)}), seconds(30),
                                                     ErrorClass::kTimeout, "timeout", JobState::kScheduled},
                                           LimitCase{"stall", MakeJob({.stall_timeout = seconds(20)}), seconds(20),
                                                     ErrorClass::kStalled, "stall_timeout", JobState::kScheduled},
                                           LimitCase{"deadline", MakeJob({.deadline_in = seconds(45)}), seconds(45),
                                                     ErrorClass::kTimeout, "deadline", JobState::kFailed}),
                         [](const ::testing::TestParamInfo<LimitCase>& p) { return std::string(p.param.name); });

// --- restart grace (DESIGN timing rules) ---

TEST_F(ReaperTest, LateTickGivesLiveLeasesOneTtlInsteadOfExpiringThem) {
  Reap();  // a reaper was running
  const Job queued = Enqueue();
  FetchOne();
  clock().Advance(minutes(5));  // the server was down (or the laptop suspended)
  const ReapStats st = Reap();
  EXPECT_EQ(st.graced, 1);
  EXPECT_EQ(st.taken_back, 0);
  Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_EQ(got.lease_expires_at, Now() + kLeaseTtl);
  // Still not renewed one TTL later: now it counts (bound: downtime + TTL + tick).
  clock().Advance(kLeaseTtl - milliseconds(1));
  EXPECT_EQ(Reap().taken_back, 0);
  clock().Advance(milliseconds(1));
  EXPECT_EQ(Reap().taken_back, 1);
  got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kLeaseExpired);
}

TEST_F(ReaperTest, WorkerThatRenewsWithinTheGraceKeepsItsJob) {
  Reap();
  const Job queued = Enqueue();
  const Job j = FetchOne();
  clock().Advance(minutes(5));
  Reap();
  clock().Advance(seconds(3));
  EXPECT_EQ(Beat(j).answer, HeartbeatAnswer::kContinue);
  clock().Advance(seconds(9));
  EXPECT_EQ(Reap().taken_back, 0);
  EXPECT_EQ(Get(queued.id).state, JobState::kRunning);
}

TEST_F(ReaperTest, TickGapOfAtMostOneTtlGivesNoGrace) {
  Reap();
  const Job queued = Enqueue();
  FetchOne();
  clock().Advance(kLeaseTtl);
  const ReapStats st = Reap();
  EXPECT_EQ(st.graced, 0);
  EXPECT_EQ(st.taken_back, 1);
  EXPECT_EQ(Get(queued.id).state, JobState::kAvailable);
}

// A server restart shorter than the TTL: the lease lapsed while the server
// was down, but its worker is alive and about to renew. The server's first
// pass graces it instead of expiring it (DESIGN: "after a server restart,
// live leases get one TTL of grace").
TEST_F(ReaperTest, ServerStartGracesALeaseThatLapsedDuringAShortDowntime) {
  const Job queued = Enqueue();
  const Job j = FetchOne();
  clock().Advance(kLeaseTtl - seconds(2));
  Reap();                       // the old server's last tick
  clock().Advance(seconds(4));  // down 4 s < TTL; the lease lapsed 2 s ago
  auto st = engine().ReapOnce(Engine::ReapPass::kAfterServerStart);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->graced, 1);
  EXPECT_EQ(st->taken_back, 0);
  EXPECT_EQ(Get(queued.id).state, JobState::kRunning);
  EXPECT_EQ(Get(queued.id).lease_expires_at, Now() + kLeaseTtl);
  clock().Advance(seconds(1));
  EXPECT_EQ(Beat(j).answer, HeartbeatAnswer::kContinue);  // the worker reconnected: still its job
  // Later passes are regular: no more grace, so a lease left unrenewed now is
  // taken back at its expiry (G1's bound stays downtime + TTL + tick).
  std::int64_t taken_back = 0;
  for (int tick = 0; tick <= 11 && taken_back == 0; ++tick) {
    clock().Advance(seconds(1));
    const ReapStats later = Reap();
    EXPECT_EQ(later.graced, 0);
    taken_back = later.taken_back;
  }
  EXPECT_EQ(taken_back, 1);
  EXPECT_EQ(Get(queued.id).state, JobState::kAvailable);
}

// The same short gap on a regular pass (an embedded worker's reaper, whose
// start says nothing about the leases of others) takes the lapsed lease back.
TEST_F(ReaperTest, RegularPassAfterAShortGapTakesTheLapsedLeaseBack) {
  const Job queued = Enqueue();
  FetchOne();
  clock().Advance(kLeaseTtl - seconds(2));
  Reap();
  clock().Advance(seconds(4));
  const ReapStats st = Reap();
  EXPECT_EQ(st.graced, 0);
  EXPECT_EQ(st.taken_back, 1);
  EXPECT_EQ(Get(queued.id).state, JobState::kAvailable);
}

// A server starting on a file no reaper ever ticked on still graces running leases.
TEST_F(ReaperTest, ServerStartGracesEvenWithNoEarlierTickOnRecord) {
  const Job queued = Enqueue();
  FetchOne();
  clock().Advance(kLeaseTtl + seconds(1));
  auto st = engine().ReapOnce(Engine::ReapPass::kAfterServerStart);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->graced, 1);
  EXPECT_EQ(Get(queued.id).state, JobState::kRunning);
}

// --- retention ---

TEST_F(ReaperTest, TerminalJobsArePurgedAfterRetention) {
  const Job done = Enqueue();
  ASSERT_OK(Complete(FetchOne()));
  const Job failed = Enqueue({.queue = "f"});
  ASSERT_OK(Fail(FetchOne({"f"}), ErrorClass::kPermanent, "no"));
  const Job cancelled = Enqueue({.delay = hours(1)});
  ASSERT_TRUE(engine().Cancel(cancelled.id).ok());
  const Job waiting = Enqueue({.queue = "paused"});
  ASSERT_OK(engine().PauseQueue("paused"));

  clock().Advance(hours(24 * 7));
  EXPECT_EQ(Reap().purged, 0);  // exactly 7 days old: kept
  clock().Advance(milliseconds(1));
  EXPECT_EQ(Reap().purged, 3);
  for (JobId id : {done.id, failed.id, cancelled.id}) {
    EXPECT_EQ(engine().Get(id).status().code(), StatusCode::kNotFound);
  }
  EXPECT_EQ(Get(waiting.id).state, JobState::kAvailable);  // unfinished jobs are never purged
}

TEST(ReaperRetentionTest, RetentionIsConfigurable) {
  EngineBundle b({.retention = hours(1)});
  auto e = b.engine->Enqueue(MakeJob());
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(b.engine->Cancel(e->job.id).ok());
  b.clock.Advance(hours(1) + milliseconds(1));
  auto st = b.engine->ReapOnce();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->purged, 1);
}

// --- worker registry and deaths seen ---

// Which registered workers the injected worker_gone says are dead. A base
// class so it exists before EngineTest builds the engine that captures it.
struct GoneWorkers {
  std::shared_ptr<std::set<std::string>> gone_ = std::make_shared<std::set<std::string>>();
};

class WorkerRegistryTest : protected GoneWorkers, public EngineTest {
 protected:
  WorkerRegistryTest() : EngineTest(Options(gone_)) {}
  static EngineOptions Options(const std::shared_ptr<std::set<std::string>>& gone) {
    EngineOptions o;
    o.worker_gone = [gone](const WorkerRecord& w) { return gone->count(w.id) > 0; };
    return o;
  }
  std::string Register(const std::string& id) {
    WorkerRecord w;
    w.id = id;
    w.host = "host-a";
    w.pid = 4242;
    w.slots = 2;
    w.queues = {"default"};
    auto r = engine().RegisterWorker(w);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::string();
  }
};

TEST_F(WorkerRegistryTest, RegisterAssignsAnIdAndListsTheWorker) {
  WorkerRecord w;
  w.host = "box";
  w.pid = 77;
  w.slots = 3;
  auto id = engine().RegisterWorker(w);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->rfind("box-77-", 0), 0u) << *id;
  auto list = engine().Workers();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, *id);
  EXPECT_EQ((*list)[0].slots, 3);
  EXPECT_EQ((*list)[0].started_at, Now());
  w.slots = 0;
  EXPECT_EQ(engine().RegisterWorker(w).status().code(), StatusCode::kInvalidArgument);
  w.slots = 1;
  w.id = "bad id!";
  EXPECT_EQ(engine().RegisterWorker(w).status().code(), StatusCode::kInvalidArgument);
}

// Every restart registers a new worker: stopped ones leave the registry after the retention,
// counted from when they stopped, like terminal jobs; live ones never do.
TEST_F(WorkerRegistryTest, StoppedWorkersArePurgedAfterRetention) {
  const std::string early = Register("early");
  const std::string late = Register("late");
  const std::string live = Register("live");
  ASSERT_OK(engine().DeregisterWorker(early));
  clock().Advance(hours(24));
  ASSERT_OK(engine().DeregisterWorker(late));
  const auto ids = [&] {
    std::set<std::string> out;
    auto all = engine().Workers(/*include_stopped=*/true);
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    if (all.ok()) {
      for (const WorkerRecord& w : *all) out.insert(w.id);
    }
    return out;
  };
  clock().Advance(hours(24 * 6));  // `early` stopped exactly 7 days ago: kept
  EXPECT_EQ(Reap().workers_purged, 0);
  EXPECT_EQ(ids(), (std::set<std::string>{early, late, live}));
  clock().Advance(milliseconds(1));
  EXPECT_EQ(Reap().workers_purged, 1);
  EXPECT_EQ(ids(), (std::set<std::string>{late, live}));
  clock().Advance(hours(24 * 30));
  EXPECT_EQ(Reap().workers_purged, 1);
  EXPECT_EQ(ids(), (std::set<std::string>{live}));  // never seen stopped: never purged
}

TEST_F(WorkerRegistryTest, GoneWorkersJobsAreTakenBackAsWorkerLostAtTheNextTick) {
  Register("w1");
  Register("w2");
  const Job a = Enqueue();
  const Job b = Enqueue();
  FetchOne({"default"}, "w1");
  FetchOne({"default"}, "w2");
  clock().Advance(seconds(1));  // long before the lease would expire
  gone_->insert("w1");
  const ReapStats st = Reap();
  EXPECT_EQ(st.workers_lost, 1);
  const Job got = Get(a.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 1);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kWorkerLost);
  EXPECT_TRUE(got.errors[0].counted);
  EXPECT_NE(got.errors[0].message.find("w1"), std::string::npos);
  EXPECT_EQ(Get(b.id).state, JobState::kRunning);
  // The dead worker is marked stopped and not checked again.
  auto live = engine().Workers();
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].id, "w2");
  auto all = engine().Workers(true);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  for (const WorkerRecord& w : *all) {
    if (w.id == "w1") {
      EXPECT_EQ(w.stopped_at, Now());
    }
  }
  EXPECT_EQ(Reap().workers_lost, 0);
}

// Issue 11: once the reaper saw a worker gone, its fetches lease nothing
// (the job waits for a live worker instead of spending an attempt on a dead one).
TEST_F(WorkerRegistryTest, GoneWorkerIsLeasedNothingAndTheListenerIsTold) {
  Register("w1");
  Register("w2");
  std::vector<std::string> told;
  engine().AddWorkerGoneListener([&](const std::string& id) { told.push_back(id); });
  gone_->insert("w1");
  EXPECT_EQ(Reap().workers_lost, 1);
  EXPECT_EQ(told, (std::vector<std::string>{"w1"}));
  const Job queued = Enqueue();
  EXPECT_TRUE(FetchN(1, {"default"}, "w1").empty());
  const Job got = FetchOne({"default"}, "w2");
  EXPECT_EQ(got.id, queued.id);
  EXPECT_EQ(got.attempt, 1);
  EXPECT_TRUE(Get(queued.id).errors.empty());
}

// A server whose session with a worker dropped asks at once instead of
// waiting for the next tick: the same verdict as the reaper's, for that worker only.
TEST_F(WorkerRegistryTest, TakeBackIfSeenGoneAsksForOneWorkerNow) {
  Register("w1");
  Register("w2");
  const Job a = Enqueue();
  FetchOne({"default"}, "w1");
  std::vector<std::string> told;
  engine().AddWorkerGoneListener([&](const std::string& id) { told.push_back(id); });
  auto alive = engine().TakeBackIfSeenGone("w1");
  ASSERT_TRUE(alive.ok()) << alive.status().ToString();
  EXPECT_FALSE(*alive);
  EXPECT_EQ(Get(a.id).state, JobState::kRunning);
  gone_->insert("w1");
  gone_->insert("w2");
  auto dead = engine().TakeBackIfSeenGone("w1");
  ASSERT_TRUE(dead.ok()) << dead.status().ToString();
  EXPECT_TRUE(*dead);
  EXPECT_EQ(told, (std::vector<std::string>{"w1"}));
  const Job got = Get(a.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_TRUE(got.errors[0].counted);  // leased before the verdict: it may have run
  // Once stopped it is not asked again; an unknown id is no error.
  auto again = engine().TakeBackIfSeenGone("w1");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  auto nobody = engine().TakeBackIfSeenGone("nobody");
  ASSERT_TRUE(nobody.ok());
  EXPECT_FALSE(*nobody);
  EXPECT_EQ(Reap().workers_lost, 1);  // w2 only
}

// A take-back whose caller knows when the worker died: a job leased after that
// never reached a live handler (not counted); one leased before may have
// started, and spends its attempt (attempts bound a job that kills its workers).
TEST_F(WorkerRegistryTest, TakeBackAfterADeathHandsBackLaterLeasesUncounted) {
  Register("w1");
  EnqueueRequest one = {};
  one.max_attempts = 1;
  const Job before = Enqueue(one);
  FetchOne({"default"}, "w1");
  clock().Advance(seconds(1));
  const Timestamp died = Now();
  const Job after = Enqueue(one);
  FetchOne({"default"}, "w1");
  clock().Advance(seconds(2));
  auto taken = engine().TakeBackWorker("w1", ErrorClass::kWorkerLost, "session dropped", died);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_EQ(taken->size(), 2u);

  const Job b = Get(before.id);
  EXPECT_EQ(b.state, JobState::kFailed) << "leased before the death: the one attempt is spent";
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_TRUE(b.errors[0].counted);

  const Job a = Get(after.id);
  EXPECT_EQ(a.state, JobState::kAvailable);
  EXPECT_EQ(a.attempt, 0);
  ASSERT_EQ(a.errors.size(), 1u);
  EXPECT_EQ(a.errors[0].error_class, ErrorClass::kWorkerLost);
  EXPECT_FALSE(a.errors[0].counted);
  EXPECT_NE(a.errors[0].message.find("never started"), std::string::npos) << a.errors[0].message;
}

// A fetch answer the server could not deliver: its jobs come back at once,
// the attempt not spent, even with max_attempts = 1; a job the worker did
// settle meanwhile (it got the answer after all) is left alone.
TEST_F(WorkerRegistryTest, UndeliveredFetchAnswerIsHandedBackWithoutSpendingAnAttempt) {
  Register("w1");
  EnqueueRequest one = {};
  one.max_attempts = 1;
  const Job x = Enqueue(one);
  const Job y = Enqueue(one);
  auto leased = FetchN(2, {"default"}, "w1");
  ASSERT_EQ(leased.size(), 2u);
  ASSERT_OK(Complete(leased[1]));
  std::vector<JobEventRecord> events;
  engine().AddListener([&](const JobEventRecord& e) { events.push_back(e); });
  auto back = engine().HandBackUndelivered("w1", leased, "write failed");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, (std::vector<JobId>{x.id}));
  const Job got = Get(x.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 0);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kWorkerLost);
  EXPECT_FALSE(got.errors[0].counted);
  EXPECT_EQ(got.errors[0].attempt, 1);
  EXPECT_NE(got.errors[0].message.find("never started"), std::string::npos) << got.errors[0].message;
  EXPECT_EQ(Get(y.id).state, JobState::kSucceeded);
  ASSERT_EQ(events.size(), 1u);  // -> available wakes a long-poll of a live worker
  EXPECT_EQ(events[0].to, JobState::kAvailable);
  // The next run is attempt 1 again.
  EXPECT_EQ(FetchOne({"default"}, "w1").attempt, 1);
}

TEST_F(WorkerRegistryTest, DeregisteredWorkerIsNoLongerListed) {
  Register("w1");
  ASSERT_OK(engine().DeregisterWorker("w1"));
  auto live = engine().Workers();
  ASSERT_TRUE(live.ok());
  EXPECT_TRUE(live->empty());
}

// A worker deregisters once it settled all it ran; a job still leased to it
// is a fetch answer that never reached it (the drain cut the long-poll short).
TEST_F(WorkerRegistryTest, DeregisterHandsBackAJobTheWorkerNeverSawAsInterrupted) {
  Register("w1");
  const Job queued = Enqueue();
  FetchOne({"default"}, "w1");
  clock().Advance(milliseconds(20));
  ASSERT_OK(engine().DeregisterWorker("w1"));
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 0) << "never run: no attempt spent";
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kInterrupted);
  EXPECT_NE(got.errors[0].message.find("never run"), std::string::npos) << got.errors[0].message;
}

// A job the worker did show it held (a heartbeat listed it) but never settled:
// the worker failed it, so it comes back as worker_lost, an attempt spent.
TEST_F(WorkerRegistryTest, DeregisterTakesBackAJobTheWorkerHeldButNeverSettledAsWorkerLost) {
  Register("w1");
  const Job queued = Enqueue();
  const Job j = FetchOne({"default"}, "w1");
  clock().Advance(seconds(1));
  Beat(j, std::nullopt, std::nullopt, "w1");
  ASSERT_OK(engine().DeregisterWorker("w1"));
  const Job got = Get(queued.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 1);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kWorkerLost);
}

TEST_F(WorkerRegistryTest, HeartbeatTouchesTheWorker) {
  Register("w1");
  Enqueue();
  const Job j = FetchOne({"default"}, "w1");
  clock().Advance(seconds(3));
  Beat(j, std::nullopt, std::nullopt, "w1");
  auto list = engine().Workers();
  ASSERT_TRUE(list.ok() && list->size() == 1);
  EXPECT_EQ((*list)[0].last_seen_at, Now());
  EXPECT_EQ((*list)[0].busy, 1);
}

// --- a heartbeat that omits a job (DESIGN timing rules) ---

class HeartbeatOmissionTest : public WorkerRegistryTest {
 protected:
  std::vector<HeartbeatResult> BeatAs(const std::string& worker, const std::vector<Job>& held) {
    HeartbeatRequest r;
    r.worker_id = worker;
    for (const Job& j : held) r.jobs.push_back({j.id, j.lease_token, std::nullopt, std::nullopt});
    auto res = engine().Heartbeat(r);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? *res : std::vector<HeartbeatResult>{};
  }
};

TEST_F(HeartbeatOmissionTest, JobLeftOutOfTheWorkersHeartbeatsIsTakenBackAsWorkerLost) {
  Register("w1");
  Enqueue();
  Enqueue();
  auto jobs = FetchN(2, {"default"}, "w1");
  ASSERT_EQ(jobs.size(), 2u);
  const Job held = jobs[0], lost = jobs[1];  // the fetch answer for `lost` never arrived
  clock().Advance(kTtlThird);
  BeatAs("w1", {held});
  EXPECT_EQ(Get(lost.id).state, JobState::kRunning);  // one omission is tolerated
  clock().Advance(kTtlThird);
  auto answers = BeatAs("w1", {held});
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].answer, HeartbeatAnswer::kContinue);
  const Job got = Get(lost.id);
  EXPECT_EQ(got.state, JobState::kAvailable);  // long before its lease end
  EXPECT_EQ(got.attempt, 0) << "never named by a heartbeat: never started, nothing spent (issue 11)";
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kWorkerLost);
  EXPECT_FALSE(got.errors[0].counted);
  EXPECT_NE(got.errors[0].message.find("w1"), std::string::npos);
  EXPECT_EQ(Get(held.id).state, JobState::kRunning);
}

// Issue 11: a job no heartbeat ever named never reached the worker: handed
// back without spending an attempt, even the last one. One it did name and
// then dropped may have run: counted.
TEST_F(HeartbeatOmissionTest, JobNeverNamedIsHandedBackUncounted) {
  Register("w1");
  EnqueueRequest one = {};
  one.max_attempts = 1;
  const Job lost = Enqueue(one);
  FetchOne({"default"}, "w1");
  clock().Advance(kTtlThird);
  BeatAs("w1", {});
  clock().Advance(kTtlThird);
  BeatAs("w1", {});
  const Job got = Get(lost.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 0);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kWorkerLost);
  EXPECT_FALSE(got.errors[0].counted);
  EXPECT_NE(got.errors[0].message.find("never started"), std::string::npos) << got.errors[0].message;
}

TEST_F(HeartbeatOmissionTest, JobNamedOnceThenDroppedSpendsItsAttempt) {
  Register("w1");
  const Job j = Enqueue();
  const Job leased = FetchOne({"default"}, "w1");
  clock().Advance(kTtlThird);
  BeatAs("w1", {leased});
  clock().Advance(kTtlThird);
  BeatAs("w1", {});
  clock().Advance(kTtlThird);
  BeatAs("w1", {});
  const Job got = Get(j.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  EXPECT_EQ(got.attempt, 1);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_TRUE(got.errors[0].counted);
}

TEST_F(HeartbeatOmissionTest, JobFetchedAfterThePreviousHeartbeatIsNotTakenBack) {
  Register("w1");
  Enqueue();
  Enqueue();
  const Job first = FetchOne({"default"}, "w1");
  clock().Advance(kTtlThird);
  BeatAs("w1", {first});
  clock().Advance(seconds(1));
  const Job second = FetchOne({"default"}, "w1");  // its answer is still on the way
  clock().Advance(seconds(1));
  BeatAs("w1", {first});
  EXPECT_EQ(Get(second.id).state, JobState::kRunning);
  clock().Advance(kTtlThird);
  BeatAs("w1", {first, second});  // it arrived
  clock().Advance(kTtlThird);
  BeatAs("w1", {first, second});
  EXPECT_EQ(Get(second.id).state, JobState::kRunning);
  EXPECT_TRUE(Get(second.id).errors.empty());
}

TEST_F(HeartbeatOmissionTest, CompleteInFlightDuringOneOmissionStillSucceeds) {
  Register("w1");
  Enqueue();
  const Job j = FetchOne({"default"}, "w1");
  clock().Advance(kTtlThird);
  BeatAs("w1", {j});
  clock().Advance(kTtlThird);
  BeatAs("w1", {});  // the worker settled it; its complete is still in flight
  ASSERT_OK(Complete(j));
  EXPECT_EQ(Get(j.id).state, JobState::kSucceeded);
}

TEST_F(HeartbeatOmissionTest, OtherWorkersAndAnonymousHeartbeatsAreNotAffected) {
  Register("w1");
  Register("w2");
  Enqueue();
  Enqueue();
  const Job mine = FetchOne({"default"}, "w1");
  const Job theirs = FetchOne({"default"}, "w2");
  for (int i = 0; i < 3; ++i) {
    clock().Advance(kTtlThird);
    BeatAs("w1", {mine});
    BeatAs("", {theirs});  // no worker id: nothing can be inferred
  }
  EXPECT_EQ(Get(theirs.id).state, JobState::kRunning);
  EXPECT_EQ(Get(mine.id).state, JobState::kRunning);
}

TEST_F(HeartbeatOmissionTest, RestartedWorkerLosesTheJobsOfItsPreviousLife) {
  Register("w1");
  Enqueue();
  const Job old = FetchOne({"default"}, "w1");
  clock().Advance(seconds(2));
  Register("w1");  // the same worker id, a new process that knows nothing of `old`
  Enqueue({.queue = "q2"});
  const Job fresh = FetchOne({"q2"}, "w1");
  clock().Advance(kTtlThird);
  BeatAs("w1", {fresh});
  const Job got = Get(old.id);
  EXPECT_EQ(got.state, JobState::kAvailable);
  ASSERT_EQ(got.errors.size(), 1u);
  EXPECT_EQ(got.errors[0].error_class, ErrorClass::kWorkerLost);
  // Leased in a previous life, which may have died running it: counted, so
  // attempts still bound a job that kills its workers.
  EXPECT_TRUE(got.errors[0].counted);
  EXPECT_EQ(got.attempt, 1);
  EXPECT_EQ(Get(fresh.id).state, JobState::kRunning);
}

TEST_F(HeartbeatOmissionTest, UnregisteredWorkerIdTakesNothingBack) {
  Enqueue();
  const Job j = FetchOne({"default"}, "ghost");
  for (int i = 0; i < 3; ++i) {
    clock().Advance(kTtlThird);
    BeatAs("ghost", {});
  }
  EXPECT_EQ(Get(j.id).state, JobState::kRunning);
}

// --- doctor ---

TEST_F(ReaperTest, DoctorExplainsEachRunningJob) {
  Enqueue();
  Enqueue();
  Enqueue();
  const Job healthy = FetchOne();
  const Job cancelled = FetchOne();
  const Job silent = FetchOne();
  ASSERT_TRUE(engine().Cancel(cancelled.id).ok());
  clock().Advance(kLeaseTtl + seconds(1));
  Beat(healthy);
  Beat(cancelled);
  auto d = engine().Doctor();
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 3u);
  std::map<JobId, JobDiagnosis> by_id;
  for (auto& x : *d) by_id[x.job.id] = x;
  EXPECT_EQ(by_id[healthy.id].verdict, JobDiagnosis::Verdict::kHealthy);
  EXPECT_EQ(by_id[cancelled.id].verdict, JobDiagnosis::Verdict::kStuck);  // take-back overdue, no reaper
  EXPECT_EQ(by_id[silent.id].verdict, JobDiagnosis::Verdict::kStuck);
  EXPECT_NE(by_id[silent.id].reason.find("lease expired"), std::string::npos) << by_id[silent.id].reason;
  EXPECT_EQ(by_id[silent.id].lease_left, -seconds(1));
}

// --- the reaper loop ---

TEST(ReaperLoopTest, DefaultTickIsMinOfOneSecondAndAQuarterTtl) {
  EXPECT_EQ(DefaultReaperTick(seconds(10)), seconds(1));
  EXPECT_EQ(DefaultReaperTick(seconds(2)), milliseconds(500));
  EXPECT_EQ(DefaultReaperTick(minutes(10)), seconds(1));
}

TEST(ReaperLoopTest, StartRunsAPassBeforeStopReturns) {
  EngineBundle b;
  auto e = b.engine->Enqueue(MakeJob());
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(b.engine->Fetch({.max = 1}).ok());
  b.clock.Advance(kLeaseTtl);
  Reaper reaper(*b.engine, hours(1));
  reaper.Start();
  reaper.Stop();  // joins; the loop always makes one pass first
  auto got = b.engine->Get(e->job.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kAvailable);
  reaper.Stop();  // idempotent
}

TEST(ReaperLoopTest, ServerStartGraceOnTheFirstPassAndOnPassSeesEveryPass) {
  EngineBundle b;
  auto e = b.engine->Enqueue(MakeJob());
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(b.engine->Fetch({.max = 1}).ok());
  b.clock.Advance(kLeaseTtl + seconds(1));  // lapsed while no server ran
  std::vector<ReapStats> passes;            // written on the reaper thread, read after Stop() joined it
  Reaper reaper(*b.engine, ReaperOptions{.tick = hours(1),
                                         .server_start_grace = true,
                                         .on_pass = [&](const ReapStats& s) { passes.push_back(s); }});
  reaper.Start();
  reaper.Stop();
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(passes[0].graced, 1);
  EXPECT_EQ(passes[0].taken_back, 0);
  auto got = b.engine->Get(e->job.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kRunning);
}

}  // namespace
}  // namespace jobwarden::testing
