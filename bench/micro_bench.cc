// jobwarden_microbench: single-thread cost of one engine operation on SQLite
// (Google Benchmark), for profiling and regressions. The headline figures of
// docs/benchmarks.md come from jobwarden_bench_engine (multi-thread rates and
// percentiles, which Google Benchmark does not fit); these complement them.
//
// Arguments: durability (0 = process, 1 = power) and, for fetch, the table
// (0 = empty, 1 = million-row fixture; $BENCH_DIR, $JOBWARDEN_BENCH_FIXTURE_TAG).
//
//   jobwarden_microbench --benchmark_filter=Fetch
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "bench_common.h"

using namespace jobwarden;
using namespace jobwarden::bench;
namespace fs = std::filesystem;

namespace {

Durability DurabilityArg(std::int64_t a) { return a == 0 ? Durability::kProcess : Durability::kPower; }

std::string FixtureTag() {
  const char* t = std::getenv("JOBWARDEN_BENCH_FIXTURE_TAG");
  return t != nullptr && *t != '\0' ? t : "v1";
}

void BM_Enqueue(benchmark::State& state) {
  TempDir dir("micro");
  auto db = OpenDb(dir.path() / "bench.db", DurabilityArg(state.range(0)));
  EnqueueRequest r;
  r.kind = "noop";
  r.queue = kBenchQueue;
  for (auto _ : state) Check(db->engine->Enqueue(r).status(), "enqueue");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Enqueue)->ArgName("power")->Arg(0)->Arg(1)->UseRealTime();

void BM_EnqueueMany10k(benchmark::State& state) {
  TempDir dir("micro");
  auto db = OpenDb(dir.path() / "bench.db", DurabilityArg(state.range(0)));
  for (auto _ : state) EnqueueBulk(*db->engine, kMaxBulkJobs);
  state.SetItemsProcessed(state.iterations() * kMaxBulkJobs);
}
BENCHMARK(BM_EnqueueMany10k)->ArgName("power")->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// One Fetch of 16; the batch is completed off the clock.
void BM_Fetch16(benchmark::State& state) {
  TempDir dir("micro");
  const fs::path file = dir.path() / "bench.db";
  if (state.range(1) == 1) CopySynced(MillionFixture(DefaultBenchDir(), FixtureTag()), file);
  auto db = OpenDb(file, DurabilityArg(state.range(0)));
  FetchRequest f;
  f.queues = {kBenchQueue};
  f.max = 16;
  std::vector<CompleteRequest> done;
  int left = 0;
  for (auto _ : state) {
    if (left < 16) {
      state.PauseTiming();
      EnqueueBulk(*db->engine, kMaxBulkJobs);
      left += kMaxBulkJobs;
      state.ResumeTiming();
    }
    std::vector<Job> jobs = Check(db->engine->Fetch(f), "fetch");
    state.PauseTiming();
    left -= static_cast<int>(jobs.size());
    done = CompletionsFor(jobs);
    Check(db->engine->CompleteMany(done).status(), "complete");
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * 16);
}
BENCHMARK(BM_Fetch16)->ArgNames({"power", "million"})->Args({0, 0})->Args({0, 1})->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// CompleteMany of 16 leased jobs; the fetch is off the clock.
void BM_CompleteMany16(benchmark::State& state) {
  TempDir dir("micro");
  auto db = OpenDb(dir.path() / "bench.db", DurabilityArg(state.range(0)));
  FetchRequest f;
  f.queues = {kBenchQueue};
  f.max = 16;
  std::vector<CompleteRequest> done;
  int left = 0;
  for (auto _ : state) {
    state.PauseTiming();
    if (left < 16) {
      EnqueueBulk(*db->engine, kMaxBulkJobs);
      left += kMaxBulkJobs;
    }
    std::vector<Job> jobs = Check(db->engine->Fetch(f), "fetch");
    left -= static_cast<int>(jobs.size());
    done = CompletionsFor(jobs);
    state.ResumeTiming();
    Check(db->engine->CompleteMany(done).status(), "complete");
  }
  state.SetItemsProcessed(state.iterations() * 16);
}
BENCHMARK(BM_CompleteMany16)->ArgName("power")->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Every timestamp of every job answer is formatted: a fetch of 16 jobs formats ~80.
void BM_FormatRfc3339(benchmark::State& state) {
  std::int64_t ms = 1'795'000'000'123;
  for (auto _ : state) {
    benchmark::DoNotOptimize(FormatRfc3339(FromMillis(ms)));
    ms += 1'001;
  }
}
BENCHMARK(BM_FormatRfc3339);

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
