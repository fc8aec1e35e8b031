// Long-poll fetches waiting for a job (POST /v1/worker/fetch with wait_ms).
//
// Each waiter has its own condition variable, and each job that becomes
// available wakes exactly one waiter listening on its queue, oldest first:
// 200 idle workers do not all rush the database for one job (no thundering
// herd). A waiter woken for a job that someone else took simply waits again.
// A waiter that leaves while holding an unused wake-up passes it on, so no
// available job is left waiting for the next poll.
//
// A waiter belongs to a worker. When the server learns that worker cannot
// take a job (its session dropped, or its death was seen), DropWorker() ends
// its waits at once, and their wake-ups go to other waiters: a dead worker's
// long-poll never leases a job and never holds one back from a live worker.
//
// Wake-ups come from the engine's state-change events (enqueue, retry,
// take-back, interrupted: every `-> available`), from the server's reaper
// pass (due scheduled jobs promoted: their queue is not known, so the oldest
// waiters are woken, one per job), from a queue resume, and, where flow
// limits are set, from every job that stops running (WakeOnePerQueue) and
// every change of limits.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_annotations.h"
#include "core/time.h"

namespace jobwarden::server {

class FetchWaiters {
 public:
  class Waiter;

  explicit FetchWaiters(std::size_t max_waiters);

  // Registers a waiter on `queues`; nullptr when `max_waiters` are already
  // waiting or after Shutdown() (the caller answers at once).
  std::shared_ptr<Waiter> Add(const std::vector<std::string>& queues, const std::string& worker_id = "");
  enum class WaitResult {
    kWoken,     // woken for a job: fetch again
    kTimedOut,  // `until` came (a long-poll's end, or when a limit's hold lifts)
    kEnded,     // Shutdown(), or DropWorker() of its worker: answer now
  };
  // Waits until woken, `until`, Shutdown() or DropWorker() of its worker.
  WaitResult Wait(const std::shared_ptr<Waiter>& waiter, std::chrono::steady_clock::time_point until);
  // Unregisters; an unused wake-up is passed to another waiter. With
  // `consumed_wakeup`, the caller consumed a wake-up (Wait returned true) but
  // will not fetch for it (its worker cannot take a job): that one is passed
  // on as well.
  void Remove(const std::shared_ptr<Waiter>& waiter, bool consumed_wakeup = false);
  // Ends the waits of `worker_id`'s waiters (they return false at once).
  void DropWorker(const std::string& worker_id);

  // `n` jobs became available on `queue`.
  void JobsAvailable(const std::string& queue, std::size_t n = 1);
  // `n` jobs became available on queues not known (promotions).
  void JobsAvailableAnywhere(std::size_t n);
  // Every waiter on `queue` (a resumed queue may have a backlog).
  void WakeQueue(const std::string& queue);
  // The oldest waiter of each queue: a job stopped running where limits are
  // set, and the slot it freed (a queue's or a resource's concurrency, a
  // breaker's probe) may let a job of any queue start now.
  void WakeOnePerQueue();
  // Wakes every waiter; later Add() calls fail.
  void Shutdown();

  std::size_t waiting() const;

 private:
  struct Entry {
    std::shared_ptr<Waiter> waiter;
    std::uint64_t generation;
  };
  // REQUIRES: mu_ held. Wakes the oldest live waiter on `queue`; false if none.
  bool WakeOneLocked(const std::string& queue) REQUIRES(mu_);
  // REQUIRES: mu_ held.
  bool WakeOldestLocked() REQUIRES(mu_);
  // REQUIRES: mu_ held.
  void EnlistLocked(const std::shared_ptr<Waiter>& w) REQUIRES(mu_);

  const std::size_t max_waiters_;
  mutable Mutex mu_;
  std::map<std::string, std::deque<Entry>> by_queue_ GUARDED_BY(mu_);
  std::deque<Entry> all_ GUARDED_BY(mu_);  // every waiter, oldest first
  std::size_t count_ GUARDED_BY(mu_) = 0;
  bool shutdown_ GUARDED_BY(mu_) = false;
};

class FetchWaiters::Waiter {
 public:
  Waiter(std::vector<std::string> queues, std::string worker_id)
      : queues_(std::move(queues)), worker_id_(std::move(worker_id)) {}

 private:
  friend class FetchWaiters;
  const std::vector<std::string> queues_;
  const std::string worker_id_;
  CondVar cv_;  // waits on FetchWaiters::mu_
  // The fields below are guarded by FetchWaiters::mu_ and are not annotated:
  // Clang's analysis cannot name another object's mutex (a GUARDED_BY here
  // would mean a mutex of the Waiter). Only FetchWaiters touches them, under
  // its mu_.
  std::uint64_t generation_ = 0;  // bumped on each (re)enlisting
  bool woken_ = false;
  bool shutdown_ = false;
  bool removed_ = false;
  bool dropped_ = false;  // its worker cannot take a job
};

}  // namespace jobwarden::server
