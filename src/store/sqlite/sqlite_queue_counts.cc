#include "store/sqlite/sqlite_queue_counts.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace jobwarden::sqlite {

QueueCountCache::QueueCountCache(CountFn count) : count_(std::move(count)) {}

QueueCountCache::~QueueCountCache() { thread_.Stop(); }

Result<QueueCountCache::Counts> QueueCountCache::CountAndKeep() {
  const auto t0 = Clock::now();
  Result<Counts> counts = count_();
  const auto cost = std::chrono::duration_cast<Duration>(Clock::now() - t0);
  if (counts.ok()) {
    MutexLock lock(mu_);
    last_ = *counts;
    last_at_ = t0;
    last_cost_ = cost;
    have_ = true;
  }
  return counts;
}

Result<QueueCountCache::Answer> QueueCountCache::Get() {
  {
    MutexLock lock(mu_);
    if (have_ && last_cost_ >= kInline) {
      const auto age = std::chrono::duration_cast<Duration>(Clock::now() - last_at_);
      const Duration max_age = std::max<Duration>(kMinAge, kCostFactor * last_cost_);
      // Long unasked (older than twice its age limit), a count is made for
      // this caller instead: an answer is never much older than the limit.
      if (age <= 2 * max_age) {
        if (age >= max_age && !wanted_) {
          wanted_ = true;
          thread_.Start([this](const std::stop_token& stop) { Loop(stop); },
                        [this] {
                          { MutexLock sync(mu_); }  // the loop checks its token under mu_: no lost wake-up
                          cv_.NotifyAll();
                        });
          cv_.NotifyOne();
        }
        return Answer{last_, age};
      }
    }
  }
  JW_ASSIGN_OR_RETURN(Counts counts, CountAndKeep());
  return Answer{std::move(counts), Duration(0)};
}

void QueueCountCache::Loop(const std::stop_token& stop) {
  while (true) {
    {
      MutexLock lock(mu_);
      while (!stop.stop_requested() && !wanted_) cv_.Wait(mu_);
      if (stop.stop_requested()) return;
    }
    // wanted_ stays set while counting: callers meanwhile do not ask again.
    Result<Counts> counts = CountAndKeep();
    if (!counts.ok()) spdlog::warn("sqlite: counting the jobs per queue: {}", counts.status().ToString());
    MutexLock lock(mu_);
    wanted_ = false;
  }
}

}  // namespace jobwarden::sqlite
