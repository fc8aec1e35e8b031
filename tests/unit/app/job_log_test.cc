// The LoggingBackend decorator that `jobwarden worker` puts between its pool
// and the engine: it must pass the one-write settle-and-lease through (else
// the shipped worker would make two writes per cycle), and log what it
// settles and starts on that path as on the others.
#include "app/job_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "testutil/process.h"
#include "unit/worker/worker_bundle.h"

namespace jobwarden {
namespace {

using namespace std::chrono_literals;
using testing::CountingBackend;
using testing::Req;
using testing::WorkerBundle;

// Captures what the default logger prints while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
};

TEST(LoggingBackendTest, PassesTheOneWriteSettleAndLeaseThroughAndLogsIt) {
  WorkerBundle b;
  CountingBackend counting(*b.backend);
  LoggingBackend logging(counting);
  ASSERT_TRUE(logging.OneWriteCompleteAndFetch());

  LogCapture log;
  WorkerPool pool(logging, WorkerBundle::Options(4));
  pool.Handle("noop", [](JobContext&) {});
  std::vector<JobId> ids;
  const EnqueueRequest noop = Req("noop");
  for (int i = 0; i < 200; ++i) ids.push_back(b.Enqueue(noop));
  ASSERT_OK(pool.Start());
  for (JobId id : ids) ASSERT_EQ(b.WaitTerminal(id).state, JobState::kSucceeded) << id;
  pool.StopNow();
  EXPECT_EQ(pool.Wait(), 0);
  EXPECT_GT(counting.with_fetch.load(), 0) << "no success went with a fetch through the log";

  // Every job's start and success is logged, whichever call carried it.
  const std::string text = log.text();
  for (JobId id : ids) {
    const std::string job = "job " + std::to_string(id) + " [noop] attempt 1";
    EXPECT_NE(text.find(job + "/"), std::string::npos) << "no start line for job " << id;
    EXPECT_NE(text.find(job + " succeeded"), std::string::npos) << "no success line for job " << id;
  }
}

}  // namespace
}  // namespace jobwarden
