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

#include <nlohmann/json.hpp>

#include <cstdlib>

#include "bench_common.h"
#include "protocol/job_codec.h"
#include "protocol/job_json.h"

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
BENCHMARK(BM_Fetch16)
    ->ArgNames({"power", "million"})
    ->Args({0, 0})
    ->Args({0, 1})
    ->UseRealTime()
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

// The worker's decode of one fetch answer of 64 running jobs, as the server
// writes it (src/server/worker_routes.cc: the job JSON plus its "lease").
// Arg: the reader (0 = the one reader, simdjson On-Demand, on the text, as the
// worker decodes; 1 = nlohmann's DOM, then JobsFromJson, as the CLI decodes).
std::string FetchAnswer64() {
  std::string text = R"({"jobs":[)";
  const Timestamp t0 = FromMillis(1'795'000'000'123);
  for (int i = 0; i < 64; ++i) {
    Job j;
    j.id = 1'000'000 + i;
    j.kind = "resize";
    j.queue = "images";
    j.state = JobState::kRunning;
    j.args = R"({"height":480,"src":"s3://bucket/img-)" + std::to_string(i) + R"(.png","width":640})";
    j.attempt = 1;
    j.timeout = std::chrono::seconds(30);
    j.run_at = j.created_at = t0;
    j.started_at = j.heartbeat_at = t0 + std::chrono::milliseconds(250);
    j.lease_expires_at = t0 + std::chrono::milliseconds(30'250);
    j.worker_id = "host-1-4242-abcdef";
    j.lease_token = 7'000 + i;
    std::string lease = R"({"expires_at":)";
    AppendJsonTimeOrNull(lease, j.lease_expires_at);
    lease += R"(,"grace_s":5.0,"token":)" + std::to_string(j.lease_token) + R"(,"ttl_s":30.0})";
    if (i > 0) text += ',';
    AppendJobJson(text, j, {{"lease", lease}});
  }
  return text + "]}";
}

void BM_DecodeFetchAnswer64(benchmark::State& state) {
  const std::string text = FetchAnswer64();
  for (auto _ : state) {
    std::vector<Job> jobs;
    switch (state.range(0)) {
      case 0: jobs = Check(JobsFromFetchAnswer(text), "decode"); break;
      default: jobs = Check(JobsFromJson(nlohmann::json::parse(text)["jobs"]), "decode"); break;
    }
    if (jobs.size() != 64) std::abort();
    benchmark::DoNotOptimize(jobs);
  }
  state.SetItemsProcessed(state.iterations() * 64);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_DecodeFetchAnswer64)->ArgName("reader")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
