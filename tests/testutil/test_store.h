// A fresh bundle per test (River's testBundle): a real SQLite file in a temp
// dir, a FakeClock, and an engine over them.
#pragma once

#include <memory>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "store/sqlite/sqlite_store.h"
#include "testutil/fake_clock.h"
#include "testutil/temp_dir.h"

#define EXPECT_OK(expr)                                          \
  do {                                                           \
    const ::jobwarden::Status jw_s_ = (expr);                    \
    EXPECT_TRUE(jw_s_.ok()) << #expr << ": " << jw_s_.ToString(); \
  } while (0)
#define ASSERT_OK(expr)                                          \
  do {                                                           \
    const ::jobwarden::Status jw_s_ = (expr);                    \
    ASSERT_TRUE(jw_s_.ok()) << #expr << ": " << jw_s_.ToString(); \
  } while (0)

namespace jobwarden::testing {

// The one lease TTL constant the tests use (DESIGN.md default).
inline constexpr Duration kLeaseTtl = std::chrono::seconds(10);

inline std::unique_ptr<Store> OpenTestStore(const TempDir& dir, Durability durability = Durability::kProcess) {
  auto store = OpenSqliteStore({.path = dir.File("jobs.db"), .durability = durability});
  if (!store.ok()) throw std::runtime_error("open test store: " + store.status().ToString());
  return std::move(store).value();
}

struct EngineBundle {
  explicit EngineBundle(EngineOptions options = {}) {
    if (options.rng_seed == 0) options.rng_seed = 42;  // deterministic backoff
    store = OpenTestStore(dir);
    engine = std::make_unique<Engine>(*store, clock, std::move(options));
  }
  TempDir dir;
  FakeClock clock;
  std::unique_ptr<Store> store;
  std::unique_ptr<Engine> engine;
};

// MakeJob({.kind = "k", .queue = "q"}): an EnqueueRequest with defaults filled.
inline EnqueueRequest MakeJob(EnqueueRequest r = {}) {
  if (r.kind.empty()) r.kind = "test";
  return r;
}

}  // namespace jobwarden::testing
