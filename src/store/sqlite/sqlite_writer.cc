#include "store/sqlite/sqlite_writer.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace jobwarden::sqlite {

Writer::~Writer() {
  MutexLock lock(mu_);
  stop_ = true;
  while (leading_ || !queue_.empty()) idle_cv_.Wait(mu_);
}

void Writer::Lead() noexcept {
  leading_ = true;
  int led_rows = 0;
  for (int round = 0; round < kMaxBatchesPerLead && !queue_.empty() && led_rows < kMaxRowsPerTransaction; ++round) {
    int rows = 0;
    while (!queue_.empty() && (batch_.empty() || rows + queue_.front()->weight <= kMaxRowsPerTransaction)) {
      rows += queue_.front()->weight;
      batch_.push_back(queue_.front());
      queue_.pop_front();
    }
    led_rows += rows;
    {
      MutexUnlock unlock(mu_);
      RunBatch(batch_);
    }
    settled_ += batch_.size();
    for (Pending* q : batch_) q->cv.NotifyOne();
    batch_.clear();
  }
  leading_ = false;
  if (!queue_.empty()) {
    queue_.front()->cv.NotifyOne();  // the next leader
  } else if (stop_) {
    idle_cv_.NotifyAll();
  }
}

Status Writer::Begin() {
  const auto give_up = std::chrono::steady_clock::now() + lock_wait_;
  while (true) {
    Status s = conn_->ExecCached("BEGIN IMMEDIATE", "begin write transaction");
    if (s.ok() || s.code() != StatusCode::kUnavailable) return s;
    if (std::chrono::steady_clock::now() >= give_up) {
      return s.WithContext("database stayed locked by another process for " + FormatDurationShort(lock_wait_));
    }
    spdlog::debug("sqlite: database busy, retrying BEGIN");
  }
}

Status Writer::Commit() {
  const auto give_up = std::chrono::steady_clock::now() + lock_wait_;
  while (true) {
    Status s = conn_->ExecCached("COMMIT", "commit");
    if (s.ok() || s.code() != StatusCode::kUnavailable || std::chrono::steady_clock::now() >= give_up) return s;
  }
}

void Writer::RunBatch(std::vector<Pending*>& batch) {
  Status begin = Begin();
  if (!begin.ok()) {
    for (Pending* p : batch) p->result = begin;
    return;
  }
  const bool isolate = batch.size() > 1;  // one op's failure must not undo the others
  for (Pending* p : batch) {
    if (isolate) {
      Status sp = conn_->ExecCached("SAVEPOINT op", "savepoint");
      if (!sp.ok()) {
        p->result = sp;
        continue;
      }
    }
    p->result = p->op(*conn_);
    if (isolate) {
      if (!p->result.ok() && !conn_->InTransaction()) {
        // SQLite rolled the whole transaction back (a full disk, an I/O
        // error): the ops before this one are undone too, and the rest
        // would run outside any transaction. None of them succeeded.
        const Status undone = Status::Unavailable(
            "the write transaction was rolled back by SQLite after an error in another operation of it: " +
            p->result.message());
        for (Pending* q : batch) {
          if (q->result.ok()) q->result = undone;
        }
        return;
      }
      if (!p->result.ok()) {
        Status rb = conn_->ExecCached("ROLLBACK TO op", "rollback to savepoint");
        if (!rb.ok()) spdlog::error("sqlite: {}", rb.ToString());
      }
      Status rel = conn_->ExecCached("RELEASE op", "release savepoint");
      if (!rel.ok() && p->result.ok()) p->result = rel;
    } else if (!p->result.ok()) {
      Status rb = conn_->ExecCached("ROLLBACK", "rollback");
      if (!rb.ok()) spdlog::error("sqlite: {}", rb.ToString());
      return;
    }
  }
  Status commit = Commit();
  if (!commit.ok()) {
    // The transaction did not commit: no op's change is durable.
    Status rb = conn_->ExecCached("ROLLBACK", "rollback after failed commit");
    if (!rb.ok()) spdlog::debug("sqlite: {}", rb.ToString());
    for (Pending* p : batch) {
      if (p->result.ok()) p->result = commit;
    }
  }
}

}  // namespace jobwarden::sqlite
