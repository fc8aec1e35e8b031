// A fresh bundle per test (River's testBundle): a real store in a temp dir
// (SQLite unless a test passes another StoreFactory), a FakeClock, and an
// engine over them.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"
#include "testutil/fake_clock.h"
#include "testutil/temp_dir.h"

#define EXPECT_OK(expr)                                           \
  do {                                                            \
    const ::jobwarden::Status jw_s_ = (expr);                     \
    EXPECT_TRUE(jw_s_.ok()) << #expr << ": " << jw_s_.ToString(); \
  } while (0)
#define ASSERT_OK(expr)                                           \
  do {                                                            \
    const ::jobwarden::Status jw_s_ = (expr);                     \
    ASSERT_TRUE(jw_s_.ok()) << #expr << ": " << jw_s_.ToString(); \
  } while (0)

namespace jobwarden::testing {

// The one lease TTL constant the tests use (DESIGN.md default).
inline constexpr Duration kLeaseTtl = std::chrono::seconds(10);

// How a test opens a store: every driver's tests (the contract suite, the
// engine bundle) take one, so a new driver is one more factory.
struct StoreFactory {
  std::string name;
  // Opens the database that belongs to `dir`: a fresh one on the first call,
  // the same one again on later calls (another process's view of it).
  std::function<Result<std::unique_ptr<Store>>(const TempDir& dir)> open;
};
inline void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

inline StoreFactory SqliteStoreFactory(Durability durability = Durability::kProcess) {
  return {"Sqlite", [durability](const TempDir& dir) {
            return OpenSqliteStore({.path = dir.File("jobs.db"), .durability = durability});
          }};
}

inline std::unique_ptr<Store> OpenTestStore(const TempDir& dir, const StoreFactory& factory = SqliteStoreFactory()) {
  auto store = factory.open(dir);
  if (!store.ok()) throw std::runtime_error("open test store (" + factory.name + "): " + store.status().ToString());
  return std::move(store).value();
}

inline std::unique_ptr<Store> OpenTestStore(const TempDir& dir, Durability durability) {
  return OpenTestStore(dir, SqliteStoreFactory(durability));
}

// The base of every Store contract suite, parameterized by the driver's
// factory: `store_` is a fresh database; Open() opens the same database again
// (another process's view of it).
class StoreContractBase : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override { store_ = Open(); }
  std::unique_ptr<Store> Open() { return OpenTestStore(dir_, GetParam()); }

  TempDir dir_;  // first: outlives the stores
  std::unique_ptr<Store> store_;
};

struct EngineBundle {
  explicit EngineBundle(EngineOptions options = {}, const StoreFactory& factory = SqliteStoreFactory()) {
    if (options.rng_seed == 0) options.rng_seed = 42;  // deterministic backoff
    store = OpenTestStore(dir, factory);
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
