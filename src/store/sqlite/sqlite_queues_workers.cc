// The SQLite store's queues, workers and the reaper's tick record: the
// writes go through the group commit, the reads through a reader snapshot.
#include <algorithm>
#include <iterator>
#include <map>

#include "store/sqlite/sqlite_rows.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace jobwarden::sqlite {

Status SqliteStore::QueueSetPaused(const std::string& name, bool paused, Timestamp now) {
  Status s = writer_.Submit([&](Connection& conn) -> Status {
    Query q(conn, "QueueSetPaused");
    q.Bind(1, name).Bind(2, paused).Bind(3, now);
    return q.Run();
  });
  return s.WithContext(std::string(paused ? "pause" : "resume") + " queue '" + name + "'");
}

Result<QueueCountCache::Counts> SqliteStore::CountQueues() {
  auto conn = readers_.Acquire();
  QueueCountCache::Counts counts;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    Query q(c, "QueueCounts");
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) return Status::Ok();
      if (auto st = ParseJobState(q.Text(1))) counts[q.Text(0)][static_cast<std::size_t>(*st)] = q.Int(2);
    }
  });
  if (!s.ok()) return s.WithContext("count the jobs per queue");
  return counts;
}

Result<std::vector<QueueInfo>> SqliteStore::QueueList() {
  // The counts first (exact, or on a big table up to about a second old:
  // QueueCountCache), then the queues' settings and oldest jobs, which are cheap.
  JW_ASSIGN_OR_RETURN(QueueCountCache::Answer counted, queue_counts_.Get());
  auto conn = readers_.Acquire();
  std::map<std::string, QueueInfo> queues;
  for (const auto& [name, per_state] : counted.counts) {
    QueueInfo& info = queues[name];
    info.name = name;
    std::copy(per_state.begin(), per_state.end(), std::begin(info.counts));
  }
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    {
      Query q(c, "QueueAll");
      while (true) {
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        QueueInfo& info = queues[q.Text(0)];
        info.name = q.Text(0);
        info.paused = q.Int(1) != 0;
        if (auto v = q.OptInt(2)) info.limits.concurrency = static_cast<int>(*v);
        info.limits.warn_depth = q.OptInt(3);
        if (auto v = q.OptInt(4)) info.limits.warn_age = Duration(*v);
      }
    }
    for (auto& [name, info] : queues) {
      if (info.counts[static_cast<std::size_t>(JobState::kAvailable)] == 0) continue;
      Query q(c, "QueueOldestAvailable");
      q.Bind(1, name);
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (row) info.oldest_available_run_at = q.OptTime(0);
    }
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("list queues");
  std::vector<QueueInfo> out;
  for (auto& [name, info] : queues) {
    info.counts_age = counted.age;
    out.push_back(std::move(info));
  }
  return out;
}

Result<ReaperTickResult> SqliteStore::ReaperTick(const ReaperTickParams& p) {
  ReaperTickResult r;
  Status s = writer_.Submit([&](Connection& conn) -> Status {
    {
      Query q(conn, "MetaGet");
      q.Bind(1, "reaper_last_tick_ms");
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (row) r.previous_tick = q.Time(0);
    }
    // With no earlier tick on record nothing is known about a gap: grace only when asked.
    if (r.previous_tick || p.grace_all) {
      Query q(conn, "LeaseGraceAll");
      q.Bind(1, p.now).Bind(2, r.previous_tick.value_or(p.now)).Bind(3, p.grace_all);
      JW_RETURN_IF_ERROR(q.Run());
      r.graced = conn.Changes();
    }
    Query q(conn, "MetaSet");
    q.Bind(1, "reaper_last_tick_ms").Bind(2, p.now);
    return q.Run();
  });
  if (!s.ok()) return s.WithContext("reaper tick");
  return r;
}

Status SqliteStore::WorkerUpsert(const WorkerRecord& w) {
  Status s = writer_.Submit([&](Connection& conn) -> Status {
    Query q(conn, "WorkerUpsert");
    q.Bind(1, w.id).Bind(2, w.host).Bind(3, w.pid).Bind(4, w.pid_start_time).Bind(5, w.boot_id);
    q.Bind(6, w.pid_namespace).Bind(7, EncodeTags(w.queues)).Bind(8, w.slots).Bind(9, w.busy);
    q.Bind(10, w.started_at).Bind(11, w.last_seen_at);
    return q.Run();
  });
  return s.WithContext("register worker " + w.id);
}

Status SqliteStore::WorkerTouch(const std::string& id, int busy, Timestamp now) {
  Status s = writer_.Submit([&](Connection& conn) -> Status {
    Query q(conn, "WorkerTouch");
    q.Bind(1, id).Bind(2, busy).Bind(3, now);
    return q.Run();
  });
  return s.WithContext("touch worker " + id);
}

Status SqliteStore::WorkerSetStopped(const std::string& id, Timestamp now) {
  Status s = writer_.Submit([&](Connection& conn) -> Status {
    Query q(conn, "WorkerSetStopped");
    q.Bind(1, id).Bind(2, now);
    return q.Run();
  });
  return s.WithContext("mark worker " + id + " stopped");
}

Result<std::int64_t> SqliteStore::WorkerPurgeStopped(Timestamp before) {
  return WriteCountingChanges(
      "WorkerPurgeStopped", [&](Query& q) { q.Bind(1, before); }, 1, "purge stopped workers");
}

Result<std::vector<WorkerRecord>> SqliteStore::WorkerList(bool include_stopped) {
  auto conn = readers_.Acquire();
  std::vector<WorkerRecord> out;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    Query q(c, "WorkerList");
    q.Bind(1, include_stopped);
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      out.push_back(ReadWorker(q));
    }
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("list workers");
  return out;
}

Result<WorkerRecord> SqliteStore::WorkerGet(const std::string& id) {
  auto conn = readers_.Acquire();
  std::optional<WorkerRecord> out;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    Query q(c, "WorkerGet");
    q.Bind(1, id);
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) out = ReadWorker(q);
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("get worker " + id);
  if (!out) return Status::NotFound("worker " + id + " is not registered");
  return std::move(*out);
}

}  // namespace jobwarden::sqlite
