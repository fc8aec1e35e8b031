// The jobs per queue and state of QueueList, on a big table.
//
// SQLite keeps no counts: counting is a scan of the jobs_state_queue index,
// about 150 ms for a million jobs, and a dashboard asks every second (so do
// readiness probes and metrics scrapes). A count that took under kInline is
// made again on every call, exact. Past that, a call is answered from the last
// count while it is younger than max(kMinAge, kCostFactor x what it cost), and
// when it is older the next count runs on this class's own thread: no caller
// waits for a count, and counting takes at most a tenth of a core however
// often it is asked. QueueInfo::counts_age says how old the answer is.
//
// The counts of a cached answer are a snapshot from one read transaction, as
// an inline count's are; only their age differs.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "core/job_state.h"
#include "core/owned_thread.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/time.h"

namespace jobwarden::sqlite {

class QueueCountCache {
 public:
  using Counts = std::map<std::string, std::array<std::int64_t, kJobStateCount>>;
  using CountFn = std::function<Result<Counts>()>;

  static constexpr Duration kInline = std::chrono::milliseconds(10);
  static constexpr Duration kMinAge = std::chrono::seconds(1);
  static constexpr int kCostFactor = 10;

  // `count` reads the counts in a read transaction of its own; it is called
  // on the caller's thread (inline) or on this class's thread.
  explicit QueueCountCache(CountFn count);
  ~QueueCountCache();
  QueueCountCache(const QueueCountCache&) = delete;
  QueueCountCache& operator=(const QueueCountCache&) = delete;

  struct Answer {
    Counts counts;
    Duration age{0};  // 0 for a count made by this call
  };
  Result<Answer> Get();

 private:
  using Clock = std::chrono::steady_clock;
  void Loop(const std::stop_token& stop);
  // Counts, timing it, and keeps the result. Not under mu_.
  Result<Counts> CountAndKeep();

  CountFn count_;
  Mutex mu_;
  CondVar cv_;                                   // a background count is wanted, or the store closes
  bool wanted_ GUARDED_BY(mu_) = false;          // a caller found the last count too old
  bool have_ GUARDED_BY(mu_) = false;            // last_ holds a count
  Counts last_ GUARDED_BY(mu_);                  // the last count
  Clock::time_point last_at_ GUARDED_BY(mu_){};  // when it was taken (its start)
  Duration last_cost_ GUARDED_BY(mu_){0};        // how long it took
  OwnedThread thread_;                           // declared last: stopped before the members it uses go
};

}  // namespace jobwarden::sqlite
