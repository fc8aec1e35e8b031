// A fresh worker bundle per test: a real SQLite file in a temp dir, an
// engine on the real clock (the worker times leases on the monotonic clock,
// so a FakeClock cannot drive it), a real reaper with a short tick, and the
// in-process backend. Lease TTLs are short (1 s) so lease tests stay fast;
// every wait is a poll with a generous bound, never an assertion on timing.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "app/local_backend.h"
#include "core/clock.h"
#include "engine/engine.h"
#include "engine/reaper.h"
#include "testutil/test_store.h"
#include "worker/worker_pool.h"

namespace jobwarden::testing {

using namespace std::chrono_literals;

inline constexpr Duration kTestLeaseTtl = std::chrono::seconds(1);
inline constexpr Duration kTestGrace = std::chrono::milliseconds(300);
inline constexpr auto kPatience = std::chrono::seconds(30);  // bound of every wait

// Handlers that must block (hung, or held until the test releases them) wait
// here until the test opens it; `waiting()` says how many are blocked now.
// Hung handlers block on it until the test ends, so no abandoned thread
// outlives the test process's objects.
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    ++waiting_;
    cv_.wait(lock, [&] { return open_; });
    --waiting_;
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  int waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return waiting_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

// A job of `kind` (designated initializers of EnqueueRequest trip
// -Wmissing-field-initializers under GCC 12).
inline EnqueueRequest Req(const std::string& kind, std::optional<int> max_attempts = std::nullopt,
                          std::optional<Duration> timeout = std::nullopt,
                          std::optional<std::string> args = std::nullopt) {
  EnqueueRequest r;
  r.kind = kind;
  r.max_attempts = max_attempts;
  r.timeout = timeout;
  r.args = std::move(args);
  return r;
}

struct WorkerBundle {
  explicit WorkerBundle(EngineOptions options = {}) {
    if (options.rng_seed == 0) options.rng_seed = 42;
    options.backoff.base = 50ms;  // retries come quickly
    options.backoff.cap = 200ms;
    store = OpenTestStore(dir);
    engine = std::make_unique<Engine>(*store, clock, std::move(options));
    backend = std::make_unique<LocalBackend>(*engine, 50ms);
    reaper = std::make_unique<Reaper>(*engine, 100ms);
    reaper->Start();
  }
  ~WorkerBundle() { reaper->Stop(); }

  static WorkerOptions Options(int concurrency = 2) {
    WorkerOptions o;
    o.concurrency = concurrency;
    o.lease_ttl = kTestLeaseTtl;
    o.grace = kTestGrace;
    o.drain_timeout = 200ms;
    o.fetch_wait = 200ms;
    return o;
  }

  // A worker that drained has shut its backend down for good (Backend::WakeAll):
  // a "restarted" worker needs a new one. Engine listeners may only be added
  // while no other thread uses the engine, so the reaper pauses meanwhile.
  // REQUIRES: every pool on the old backend has stopped.
  void RestartBackend() {
    reaper->Stop();
    backend = std::make_unique<LocalBackend>(*engine, 50ms);
    reaper->Start();
  }

  JobId Enqueue(EnqueueRequest r) {
    auto e = engine->Enqueue(r);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? e->job.id : 0;
  }

  Job Get(JobId id) {
    auto j = engine->Get(id);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? *j : Job{};
  }

  // Polls until `pred(job)` holds; fails the test (and returns the last
  // snapshot) after kPatience.
  Job WaitFor(JobId id, const std::function<bool(const Job&)>& pred, const std::string& what) {
    const auto end = std::chrono::steady_clock::now() + kPatience;
    Job j;
    while (true) {
      j = Get(id);
      if (pred(j)) return j;
      if (std::chrono::steady_clock::now() >= end) {
        ADD_FAILURE() << "job " << id << " never became " << what << "; it is " << ToString(j.state);
        return j;
      }
      std::this_thread::sleep_for(10ms);
    }
  }
  Job WaitForState(JobId id, JobState state) {
    return WaitFor(
        id, [&](const Job& j) { return j.state == state; }, std::string(ToString(state)));
  }
  Job WaitTerminal(JobId id) {
    return WaitFor(
        id, [](const Job& j) { return IsTerminal(j.state); }, "terminal");
  }

  TempDir dir;
  SystemClock clock;
  std::unique_ptr<Store> store;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<LocalBackend> backend;
  std::unique_ptr<Reaper> reaper;
};

// A Backend that forwards every call to another: tests derive from it and
// override only the call they tamper with.
class ForwardingBackend : public Backend {
 public:
  explicit ForwardingBackend(Backend& inner) : inner_(inner) {}

  Result<std::string> Register(const WorkerRecord& w) override { return inner_.Register(w); }
  Status Deregister(const std::string& id) override { return inner_.Deregister(id); }
  Result<std::vector<Job>> Fetch(const FetchRequest& r, Duration wait) override { return inner_.Fetch(r, wait); }
  Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& r) override { return inner_.Heartbeat(r); }
  Result<std::vector<Status>> CompleteMany(const std::vector<CompleteRequest>& r) override {
    return inner_.CompleteMany(r);
  }
  Status Fail(const FailRequest& r) override { return inner_.Fail(r); }
  Result<BatchInfo> SubmitBatch(JobId parent, std::int64_t token, const BatchRequest& r) override {
    return inner_.SubmitBatch(parent, token, r);
  }
  void WakeAll() override { inner_.WakeAll(); }

 protected:
  Backend& inner_;
};

// Settles and leases in one write exactly when the backend underneath does
// (LocalBackend: yes), counting who carried each success: a fetch
// (CompleteAndFetch) or the completer (CompleteMany).
class CountingBackend final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  std::atomic<int> with_fetch{0};  // successes carried by CompleteAndFetch
  std::atomic<int> alone{0};       // successes carried by CompleteMany

  bool OneWriteCompleteAndFetch() const override { return inner_.OneWriteCompleteAndFetch(); }
  Result<CompleteAndFetchResult> CompleteAndFetch(const std::vector<CompleteRequest>& c,
                                                  const FetchRequest& f) override {
    with_fetch += static_cast<int>(c.size());
    return inner_.CompleteAndFetch(c, f);
  }
  Result<std::vector<Status>> CompleteMany(const std::vector<CompleteRequest>& r) override {
    alone += static_cast<int>(r.size());
    return inner_.CompleteMany(r);
  }
};

// Can be told to fail heartbeats: a worker cut off from its engine.
class CutOffBackend final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  std::atomic<bool> fail_heartbeats{false};
  std::atomic<int> heartbeats{0};

  Result<std::vector<HeartbeatResult>> Heartbeat(const HeartbeatRequest& r) override {
    ++heartbeats;
    if (fail_heartbeats) return Status::Unavailable("test: the engine is unreachable");
    return inner_.Heartbeat(r);
  }
};

}  // namespace jobwarden::testing
