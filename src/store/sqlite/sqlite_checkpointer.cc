#include "store/sqlite/sqlite_checkpointer.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <utility>

namespace jobwarden::sqlite {

Checkpointer::Checkpointer(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {
  thread_.Start([this](const std::stop_token& stop) { Loop(stop); },
                [this] {
                  { MutexLock sync(mu_); }  // the loop checks its token under mu_: no lost wake-up
                  cv_.NotifyAll();
                });
}

void Checkpointer::Attach(Connection& writer) { sqlite3_wal_hook(writer.raw(), &Checkpointer::OnCommit, this); }

int Checkpointer::OnCommit(void* self, sqlite3* db, const char* schema, int wal_pages) {
  auto* c = static_cast<Checkpointer*>(self);
  if (wal_pages >= kInlinePages) {
    int log = 0, done = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    // BUSY: the checkpointer is running one right now, which is what we want.
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      spdlog::warn("sqlite: inline checkpoint of a {}-page WAL: {}", wal_pages, sqlite3_errstr(rc));
    }
    return SQLITE_OK;  // the commit itself succeeded either way
  }
  if (wal_pages < kPages) return SQLITE_OK;
  {
    MutexLock lock(c->mu_);
    if (c->wanted_ || c->running_) return SQLITE_OK;
    // Ask again only once kPages more frames await copying. The WAL starts
    // over only when a checkpoint copied every frame before the next commit,
    // which under steady writes never happens: asking at every commit past
    // kPages ran checkpoints back to back, each with two fsyncs (a pool of
    // no-op jobs: 4,600 fdatasyncs per 50,000 jobs). A WAL that shrank
    // started over, and none of its frames is copied yet.
    const int copied = wal_pages >= c->copied_ ? c->copied_ : 0;
    if (wal_pages - copied < kPages) return SQLITE_OK;
    c->wanted_ = true;
  }
  c->cv_.NotifyOne();
  return SQLITE_OK;
}

void Checkpointer::Loop(const std::stop_token& stop) {
  while (true) {
    {
      MutexLock lock(mu_);
      while (!stop.stop_requested() && !wanted_) cv_.Wait(mu_);
      if (stop.stop_requested()) return;
      wanted_ = false;
      running_ = true;
    }
    int log = 0, done = 0;
    const int rc = sqlite3_wal_checkpoint_v2(conn_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    {
      MutexLock lock(mu_);
      running_ = false;
      copied_ = rc == SQLITE_OK ? done : 0;  // frames of the WAL now in the database file
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      // Not fatal: the next commit past the threshold asks again, and past
      // kInlinePages the writer checkpoints itself.
      spdlog::warn("sqlite: background checkpoint: {}", FromSqliteError(rc, conn_->raw(), "checkpoint").ToString());
    }
  }
}

}  // namespace jobwarden::sqlite
