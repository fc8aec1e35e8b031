// Embedded mode: a program with its own durable job queue in a SQLite file,
// no server. Like a desktop uploader: jobs survive a crash or a restart, and
// a hung upload can never jam the pool.
//
//   ./build/examples/jobwarden_embedded_example [DB_PATH]
//
// It enqueues a few "upload" jobs (one of which hangs and ignores its stop
// request), runs a pool of 2 slots until they are all finished, and prints
// each job's outcome.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "engine/reaper.h"
#include "store/sqlite/sqlite_store.h"
#include "app/local_backend.h"
#include "worker/worker_pool.h"

using namespace std::chrono_literals;
using namespace jobwarden;

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "var/embedded-example.db";
  if (const auto dir = std::filesystem::path(path).parent_path(); !dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);  // OpenSqliteStore reports it if this failed
  }
  auto store = OpenSqliteStore({.path = path});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 3;
  }
  SystemClock clock;
  Engine engine(**store, clock);
  LocalBackend backend(engine);  // before the engine is shared between threads
  Reaper reaper(engine, DefaultReaperTick(10s));
  reaper.Start();

  WorkerOptions options;
  options.concurrency = 2;
  options.grace = 1s;
  WorkerPool pool(backend, options);
  pool.Handle("upload", [](JobContext& ctx) {
    const bool hang = ctx.job().args.find("\"hang\":true") != std::string::npos;
    for (int chunk = 0; chunk < 10; ++chunk) {
      if (!hang) ctx.ThrowIfStopped();  // a well-behaved handler stops when asked
      std::this_thread::sleep_for(hang ? 1h : 50ms);
      ctx.ReportProgress(chunk + 1, 10, "chunk " + std::to_string(chunk + 1));
      ctx.Checkpoint("{\"next_chunk\": " + std::to_string(chunk + 1) + "}");
    }
    ctx.SetResult("{\"url\": \"https://example.invalid/file\"}");
  });
  if (Status s = pool.Start(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 2;
  }

  std::vector<JobId> ids;
  for (int i = 0; i < 4; ++i) {
    EnqueueRequest r;
    r.kind = "upload";
    r.args = i == 1 ? R"({"file": "big.mp4", "hang": true})" : R"({"file": "f)" + std::to_string(i) + R"(.jpg"})";
    r.timeout = 2s;
    r.max_attempts = 1;
    auto job = engine.Enqueue(r);
    if (!job.ok()) {
      std::fprintf(stderr, "%s\n", job.status().ToString().c_str());
      return 1;
    }
    ids.push_back(job->job.id);
  }
  // Wait until every job is finished (the hung one fails at its 2 s timeout).
  for (bool done = false; !done;) {
    std::this_thread::sleep_for(100ms);
    done = true;
    for (JobId id : ids) done = done && IsTerminal(engine.Get(id)->state);
  }
  for (JobId id : ids) {
    const Job j = engine.Get(id).value();
    std::printf("job %lld: %s%s%s\n", static_cast<long long>(j.id), std::string(ToString(j.state)).c_str(),
                j.errors.empty() ? "" : " - ", j.errors.empty() ? "" : j.errors.back().message.c_str());
  }
  pool.Drain();
  const int code = pool.Wait();
  reaper.Stop();
  // A hung handler's thread was abandoned: leave without running static
  // destructors under it (flush first).
  spdlog::shutdown();
  std::fflush(stdout);
  _exit(code);
}
