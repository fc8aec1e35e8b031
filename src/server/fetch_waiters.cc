#include "server/fetch_waiters.h"

namespace jobwarden::server {

FetchWaiters::FetchWaiters(std::size_t max_waiters) : max_waiters_(max_waiters) {}

void FetchWaiters::EnlistLocked(const std::shared_ptr<Waiter>& w) {
  ++w->generation_;
  w->woken_ = false;
  for (const std::string& q : w->queues_) by_queue_[q].push_back({w, w->generation_});
  all_.push_back({w, w->generation_});
}

std::shared_ptr<FetchWaiters::Waiter> FetchWaiters::Add(const std::vector<std::string>& queues,
                                                        const std::string& worker_id) {
  MutexLock lock(mu_);
  if (shutdown_ || count_ >= max_waiters_) return nullptr;
  auto w = std::make_shared<Waiter>(queues, worker_id);
  ++count_;
  EnlistLocked(w);
  return w;
}

FetchWaiters::WaitResult FetchWaiters::Wait(const std::shared_ptr<Waiter>& waiter,
                                            std::chrono::steady_clock::time_point until) {
  MutexLock lock(mu_);
  Waiter& w = *waiter;
  while (!w.woken_ && !w.shutdown_ && !shutdown_ && !w.dropped_ &&
         w.cv_.WaitUntil(mu_, until) == std::cv_status::no_timeout) {
  }
  if (w.shutdown_ || shutdown_ || w.dropped_) return WaitResult::kEnded;
  if (!w.woken_) return WaitResult::kTimedOut;
  // Consume the wake-up and stand in line again (at the back: fairness).
  EnlistLocked(waiter);
  return WaitResult::kWoken;
}

void FetchWaiters::Remove(const std::shared_ptr<Waiter>& waiter, bool consumed_wakeup) {
  if (!waiter) return;
  MutexLock lock(mu_);
  if (waiter->removed_) return;
  waiter->removed_ = true;
  ++waiter->generation_;  // its entries are now stale
  --count_;
  // It was woken for a job it will not fetch: pass the wake-up on (it is
  // removed first, so it cannot be handed its own wake-up).
  const int unused = (waiter->woken_ && !waiter->shutdown_ ? 1 : 0) + (consumed_wakeup && !shutdown_ ? 1 : 0);
  for (int i = 0; i < unused; ++i) {
    for (const std::string& q : waiter->queues_) {
      if (WakeOneLocked(q)) break;
    }
  }
  // Drop stale entries from the front of the lists now and then, so they do
  // not pile up behind waiters that time out without ever being woken.
  while (!all_.empty() &&
         (all_.front().waiter->removed_ || all_.front().generation != all_.front().waiter->generation_)) {
    all_.pop_front();
  }
  if (all_.size() > 4 * (count_ + 16)) {
    std::deque<Entry> keep;
    for (Entry& e : all_) {
      if (!e.waiter->removed_ && e.generation == e.waiter->generation_) keep.push_back(std::move(e));
    }
    all_ = std::move(keep);
    for (auto it = by_queue_.begin(); it != by_queue_.end();) {
      std::deque<Entry> k2;
      for (Entry& e : it->second) {
        if (!e.waiter->removed_ && e.generation == e.waiter->generation_) k2.push_back(std::move(e));
      }
      if (k2.empty()) {
        it = by_queue_.erase(it);
      } else {
        it->second = std::move(k2);
        ++it;
      }
    }
  }
}

bool FetchWaiters::WakeOneLocked(const std::string& queue) {
  auto it = by_queue_.find(queue);
  if (it == by_queue_.end()) return false;
  std::deque<Entry>& line = it->second;
  while (!line.empty()) {
    Entry e = std::move(line.front());
    line.pop_front();
    Waiter& w = *e.waiter;
    if (w.removed_ || w.woken_ || w.shutdown_ || e.generation != w.generation_) continue;  // stale
    w.woken_ = true;
    w.cv_.NotifyOne();
    return true;
  }
  by_queue_.erase(it);
  return false;
}

bool FetchWaiters::WakeOldestLocked() {
  while (!all_.empty()) {
    Entry e = std::move(all_.front());
    all_.pop_front();
    Waiter& w = *e.waiter;
    if (w.removed_ || w.woken_ || w.shutdown_ || e.generation != w.generation_) continue;
    w.woken_ = true;
    w.cv_.NotifyOne();
    return true;
  }
  return false;
}

void FetchWaiters::JobsAvailable(const std::string& queue, std::size_t n) {
  MutexLock lock(mu_);
  if (count_ == 0) return;
  for (std::size_t i = 0; i < n; ++i) {
    if (!WakeOneLocked(queue)) break;
  }
}

void FetchWaiters::JobsAvailableAnywhere(std::size_t n) {
  MutexLock lock(mu_);
  if (count_ == 0) return;
  for (std::size_t i = 0; i < n; ++i) {
    if (!WakeOldestLocked()) break;
  }
}

void FetchWaiters::WakeQueue(const std::string& queue) {
  MutexLock lock(mu_);
  while (WakeOneLocked(queue)) {
  }
}

void FetchWaiters::WakeOnePerQueue() {
  MutexLock lock(mu_);
  if (count_ == 0) return;
  std::vector<std::string> queues;
  queues.reserve(by_queue_.size());
  for (const auto& [queue, line] : by_queue_) queues.push_back(queue);
  for (const std::string& q : queues) WakeOneLocked(q);  // may erase q's line
}

void FetchWaiters::DropWorker(const std::string& worker_id) {
  if (worker_id.empty()) return;
  MutexLock lock(mu_);
  for (const Entry& e : all_) {
    Waiter& w = *e.waiter;
    if (w.removed_ || w.dropped_ || w.worker_id_ != worker_id) continue;
    w.dropped_ = true;
    w.cv_.NotifyOne();
  }
}

void FetchWaiters::Shutdown() {
  MutexLock lock(mu_);
  shutdown_ = true;
  for (const Entry& e : all_) {
    e.waiter->shutdown_ = true;
    e.waiter->cv_.NotifyOne();
  }
  for (const auto& [q, line] : by_queue_) {
    for (const Entry& e : line) {
      e.waiter->shutdown_ = true;
      e.waiter->cv_.NotifyOne();
    }
  }
}

std::size_t FetchWaiters::waiting() const {
  MutexLock lock(mu_);
  return count_;
}

}  // namespace jobwarden::server
