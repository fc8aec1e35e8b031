// The SQLite driver's writer: group commit over its one write connection,
// used by one thread at a time.
//
// Callers queue their operation; the caller at the head of the queue, when no
// transaction is running, becomes the leader: it takes every queued operation
// (up to ~10k rows), runs them in one BEGIN IMMEDIATE ... COMMIT, and wakes
// their callers. Everyone else sleeps on its own condition variable until its
// operation committed (or it becomes the next leader). So a lone caller runs
// its write on its own thread with no hand-off, and concurrent callers share
// one commit, as with a dedicated writer thread but without its two thread
// switches per call (perf: those hops, and a notify_all that woke every
// waiting caller after each commit, cost more than the SQL; docs/benchmarks.md).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/thread_annotations.h"
#include "core/time.h"
#include "store/sqlite/sqlite_db.h"

namespace jobwarden::sqlite {

class Writer {
 public:
  // A non-owning reference to the caller's operation: it lives on the
  // caller's stack until Submit returns.
  class Op {
   public:
    template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, Op>) explicit Op(F& f)
        : obj_(&f), call_([](void* o, Connection& c) -> Status { return (*static_cast<F*>(o))(c); }) {}
    Status operator()(Connection& c) const { return call_(obj_, c); }

   private:
    void* obj_;
    Status (*call_)(void*, Connection&);
  };

  Writer(std::unique_ptr<Connection> conn, Duration lock_wait) : conn_(std::move(conn)), lock_wait_(lock_wait) {}
  // For setup before the first Submit only (the connection belongs to the leader afterwards).
  Connection& connection() { return *conn_; }
  // Waits for the last leader; later Submits fail with kUnavailable.
  ~Writer();

  // Runs `op` inside a write transaction shared with other callers' ops and
  // returns once that transaction committed (or failed). `weight` is the
  // op's row count, so one transaction stays under ~10k rows.
  template <typename F>
  Status Submit(F&& fn, int weight = 1) {
    Pending p(Op(fn), weight);
    MutexLock lock(mu_);
    if (stop_) return Status::Unavailable("the store is closing");
    p.seq = ++queued_;
    queue_.push_back(&p);
    while (!Settled(p) && (leading_ || queue_.front() != &p)) p.cv.Wait(mu_);
    if (Settled(p)) return p.result;
    Lead();
    return p.result;
  }

 private:
  struct Pending {
    Pending(Op o, int w) : op(o), weight(w) {}
    Op op;
    int weight;
    Status result = Status::Ok();
    // Its place in arrival order (1, 2, ...), given as it is queued; only its
    // own caller reads it. Whether its batch ran is Writer::Settled(p), not a
    // `done` flag here that the leader sets: the lock analysis cannot tie a
    // Pending's field to the Writer's mu_, and settled_ it checks.
    std::uint64_t seq = 0;
    CondVar cv;  // its caller waits here; notified under mu_ (the waiter outlives it)
  };

  static constexpr int kMaxRowsPerTransaction = 10'000;
  static constexpr int kMaxBatchesPerLead = 4;

  // REQUIRES: mu_ held, the caller is at the head of the queue and no one leads.
  // A leader that finds more callers queued when its transaction committed
  // runs their batch too (a few times, a bounded delay for its own caller):
  // it is on a CPU already, while waking the next leader costs a thread switch
  // on the one serial path, which on a loaded machine waits for a time slice.
  // noexcept: an exception here would leave leading_ set and every caller waiting
  // forever; terminating is what the old writer thread did too.
  void Lead() noexcept REQUIRES(mu_);
  // REQUIRES: mu_ held. Whether `p`'s batch ran (committed or failed). Batches
  // take the queue from its front, so operations settle in arrival order.
  bool Settled(const Pending& p) const REQUIRES(mu_) { return p.seq <= settled_; }
  // BEGIN IMMEDIATE, waiting out other processes' write locks.
  Status Begin();
  Status Commit();
  // Runs the batch's ops in one transaction and sets each one's result.
  void RunBatch(std::vector<Pending*>& batch);

  std::unique_ptr<Connection> conn_;  // used only by the leader, outside mu_
  const Duration lock_wait_;
  Mutex mu_;
  CondVar idle_cv_;                             // the destructor waits here for the last leader
  std::deque<Pending*> queue_ GUARDED_BY(mu_);  // waiting, in arrival order
  std::uint64_t queued_ GUARDED_BY(mu_) = 0;    // operations ever queued: the last one's seq
  std::uint64_t settled_ GUARDED_BY(mu_) = 0;   // operations whose batch ran: those with seq <= settled_
  bool leading_ GUARDED_BY(mu_) = false;        // a caller is running a batch
  bool stop_ GUARDED_BY(mu_) = false;
  std::vector<Pending*> batch_;  // used by the leader only (reused: no allocation per batch)
};

}  // namespace jobwarden::sqlite
