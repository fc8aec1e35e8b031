// The SQLite store's job writes: each runs as one op of the group commit
// (sqlite_writer.h), inside a transaction shared with other callers' ops.
// Fetch and complete are the hot path: no read-back, statements prepared once.
#include <algorithm>

#include "store/sqlite/sqlite_rows.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace jobwarden::sqlite {

Result<std::vector<InsertedJob>> SqliteStore::JobInsertMany(const JobInsertParams& p) {
  if (p.jobs.size() > static_cast<std::size_t>(kMaxBulkJobs)) {
    return Status::InvalidArgument("at most " + std::to_string(kMaxBulkJobs) + " jobs per call");
  }
  std::vector<InsertedJob> out;
  Status s = writer_.Submit(
      [&](Connection& conn) -> Status {
        out.clear();
        out.reserve(p.jobs.size());
        for (const NewJob& j : p.jobs) {
          JW_ASSIGN_OR_RETURN(InsertedJob inserted, InsertIn(conn, j, p.now));
          out.push_back(inserted);
        }
        return Status::Ok();
      },
      static_cast<int>(p.jobs.size()));
  if (!s.ok()) return s.WithContext("insert jobs");
  return out;
}

Result<InsertedJob> SqliteStore::InsertIn(Connection& conn, const NewJob& j, Timestamp now) {
  if (j.unique_key) {
    Query find(conn, "JobFindUnique");
    find.Bind(1, *j.unique_key);
    JW_ASSIGN_OR_RETURN(bool row, find.Step());
    if (row) return InsertedJob{find.Int(0), true};
  }
  Query q(conn, "JobInsert");
  q.Bind(1, j.kind).Bind(2, j.queue).Bind(3, j.priority).Bind(4, ToString(j.state)).Bind(5, j.args);
  q.Bind(6, j.max_attempts).Bind(7, j.timeout).Bind(8, j.stall_timeout).Bind(9, j.deadline_at);
  q.Bind(10, j.run_at).Bind(11, now).Bind(12, j.unique_key).Bind(13, j.resource_key);
  q.Bind(14, j.batch_id).Bind(15, EncodeTags(j.tags)).Bind(16, j.cost);
  JW_RETURN_IF_ERROR(q.Run());
  return InsertedJob{conn.LastInsertRowid(), false};
}

Result<std::vector<Job>> SqliteStore::JobFetch(const JobFetchParams& p) {
  std::vector<Job> out;
  Status s = writer_.Submit([&](Connection& conn) { return FetchIn(conn, p, out); }, p.max);
  if (!s.ok()) return s.WithContext("fetch jobs");
  return out;
}

Result<std::vector<HeartbeatResult>> SqliteStore::LeaseExtendMany(const LeaseExtendParams& p) {
  std::vector<HeartbeatResult> out;
  Status s = writer_.Submit(
      [&](Connection& conn) -> Status {
        out.clear();
        for (const HeartbeatItem& item : p.items) {
          HeartbeatResult r;
          r.id = item.id;
          Progress old_progress;
          std::optional<std::string> old_checkpoint;
          bool cancel = false;
          CancelReason reason = CancelReason::kNone;
          {
            Query q(conn, "JobLeaseState");
            q.Bind(1, item.id);
            JW_ASSIGN_OR_RETURN(bool row, q.Step());
            if (!row || q.Text(0) != "running" || q.Int(1) != item.token) {
              out.push_back(r);  // lost
              continue;
            }
            cancel = q.Int(2) != 0;
            reason = ParseCancelReason(q.Text(3)).value_or(CancelReason::kNone);
            old_progress.done = q.Int(4);
            old_progress.message = q.Text(5);
            old_checkpoint = q.OptText(6);
          }
          const bool reset = ResetsStallClock(old_progress, old_checkpoint, item.progress, item.checkpoint);
          Query u(conn, "LeaseExtend");
          u.Bind(1, item.id).Bind(2, item.token).Bind(3, p.now);
          BindProgress(u, 4, item.progress);
          u.Bind(8, item.checkpoint).Bind(9, reset);
          JW_ASSIGN_OR_RETURN(bool row, u.Step());
          if (!row) {
            out.push_back(r);
            continue;
          }
          r.lease_expires_at = u.Time(0);
          JW_RETURN_IF_ERROR(u.Run());
          r.answer = cancel ? HeartbeatAnswer::kCancel : HeartbeatAnswer::kContinue;
          r.cancel_reason = reason;
          out.push_back(r);
        }
        return Status::Ok();
      },
      static_cast<int>(p.items.size()));
  if (!s.ok()) return s.WithContext("heartbeat");
  return out;
}

Result<std::vector<Status>> SqliteStore::JobCompleteMany(const JobCompleteParams& p) {
  std::vector<Status> out;
  std::vector<BatchInfo> finished;
  Status s = writer_.Submit(
      [&](Connection& conn) {
        finished.clear();
        bool due = false;
        JW_RETURN_IF_ERROR(CompleteIn(conn, p, out, due));
        return due ? FinishDueBatchesIn(conn, p.now, finished) : Status::Ok();
      },
      static_cast<int>(p.items.size()));
  if (!s.ok()) return s.WithContext("complete jobs");
  NotifyBatchesFinished(finished);
  return out;
}

Result<CompleteAndFetchResult> SqliteStore::JobCompleteManyAndFetch(const JobCompleteParams& complete,
                                                                    const JobFetchParams& fetch) {
  CompleteAndFetchResult out;
  std::vector<BatchInfo> finished;
  Status s = writer_.Submit(
      [&](Connection& conn) {
        finished.clear();
        bool due = false;
        JW_RETURN_IF_ERROR(CompleteIn(conn, complete, out.completed, due));
        // Before the fetch, so that a callback enqueued here can be leased by it.
        if (due) JW_RETURN_IF_ERROR(FinishDueBatchesIn(conn, complete.now, finished));
        return FetchIn(conn, fetch, out.fetched);
      },
      static_cast<int>(complete.items.size()) + fetch.max);
  if (!s.ok()) return s.WithContext("complete and fetch jobs");
  NotifyBatchesFinished(finished);
  return out;
}

Result<std::vector<Status>> SqliteStore::JobApplyMany(const JobApplyParams& p) {
  std::vector<Status> out;
  std::vector<BatchInfo> finished;
  Status s = writer_.Submit(
      [&](Connection& conn) -> Status {
        out.clear();
        finished.clear();
        std::vector<JobId> ended, reopened;
        for (const JobChange& c : p.changes) {
          Query q(conn, "JobApply");
          q.Bind(1, c.id).Bind(2, ToString(c.from)).Bind(3, c.token).Bind(4, ToString(c.to));
          q.Bind(5, c.attempt).Bind(6, c.max_attempts).Bind(7, c.run_at).Bind(8, c.finished_at);
          q.Bind(9, c.leaves_running).Bind(10, c.request_cancel).Bind(11, ToString(c.cancel_reason));
          q.Bind(12, c.takeback_at).Bind(13, c.result).Bind(14, c.checkpoint);
          BindProgress(q, 15, c.progress);
          q.Bind(19, p.now).Bind(20, c.lease_expired_by);
          JW_RETURN_IF_ERROR(q.Run());
          if (conn.Changes() != 1) {
            out.push_back(GuardFailure(conn, c.id, c.from, c.token));
            continue;
          }
          if (c.error) {
            const ErrorEntry& e = *c.error;
            Query ins(conn, "JobErrorInsert");
            ins.Bind(1, c.id).Bind(2, e.attempt).Bind(3, ToString(e.error_class)).Bind(4, e.message);
            ins.Bind(5, e.at).Bind(6, e.counted).Bind(7, e.limit).Bind(8, e.output_tail);
            JW_RETURN_IF_ERROR(ins.Run());
          }
          if (c.resource) {
            JW_RETURN_IF_ERROR(LoadFlow(conn));
            JW_RETURN_IF_ERROR(
                RecordOutcome(conn, c.resource->key, c.resource->outcome, c.id, c.resource->hold_until, p.now));
          }
          if (IsTerminal(c.to) && !IsTerminal(c.from)) ended.push_back(c.id);
          if (!IsTerminal(c.to) && IsTerminal(c.from)) reopened.push_back(c.id);
          out.push_back(Status::Ok());
        }
        bool due = false;
        JW_RETURN_IF_ERROR(CountMembersIn(conn, ended, reopened, due));
        return due ? FinishDueBatchesIn(conn, p.now, finished) : Status::Ok();
      },
      static_cast<int>(p.changes.size()));
  if (!s.ok()) return s.WithContext("apply job changes");
  NotifyBatchesFinished(finished);
  return out;
}

Result<std::int64_t> SqliteStore::JobPromoteScheduled(Timestamp now, int limit) {
  return WriteCountingChanges(
      "JobPromoteScheduled", [&](Query& q) { q.Bind(1, now).Bind(2, limit); }, limit, "promote scheduled jobs");
}

Status SqliteStore::JobDelete(JobId id, Timestamp now) {
  Status result;
  std::vector<BatchInfo> finished;
  Status s = writer_.Submit([&](Connection& conn) -> Status {
    finished.clear();
    result = Status::Ok();
    {
      Query q(conn, "JobDelete");
      q.Bind(1, id);
      JW_RETURN_IF_ERROR(q.Run());
    }
    if (conn.Changes() == 1) return FinishDueBatchesIn(conn, now, finished);
    Query e(conn, "JobExists");
    e.Bind(1, id);
    JW_ASSIGN_OR_RETURN(bool row, e.Step());
    result = row ? Status::Conflict("job " + FormatJobId(id) +
                                    " is running: a running job cannot be deleted "
                                    "(cancel it first)")
                 : Status::NotFound("job " + FormatJobId(id) + " does not exist");
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("delete job " + FormatJobId(id));
  NotifyBatchesFinished(finished);
  return result;
}

Result<std::int64_t> SqliteStore::JobDeleteMany(const JobDeleteParams& p) {
  std::vector<JobState> states = p.states;
  if (states.empty()) {
    for (JobState st : kAllJobStates) {
      if (st != JobState::kRunning) states.push_back(st);
    }
  }
  states.erase(std::remove(states.begin(), states.end(), JobState::kRunning), states.end());
  // Terminal jobs older than a time (retention): by finished_at, visiting only what goes.
  const bool finished_before =
      p.before && std::all_of(states.begin(), states.end(), [](JobState st) { return IsTerminal(st); });
  const std::string states_json = StatesJson(states);
  std::int64_t n = 0;
  std::vector<BatchInfo> finished;
  Status s = writer_.Submit(
      [&](Connection& conn) -> Status {
        finished.clear();
        {
          Query q(conn, finished_before ? "JobPurgeFinished" : "JobDeleteMany");
          q.Bind(1, states_json).Bind(2, p.queue).Bind(3, p.before).Bind(4, p.limit);
          JW_RETURN_IF_ERROR(q.Run());
          n = conn.Changes();
        }
        return FinishDueBatchesIn(conn, p.now, finished);
      },
      p.limit);
  if (!s.ok()) return s.WithContext("delete jobs");
  NotifyBatchesFinished(finished);
  return n;
}

Status SqliteStore::CompleteIn(Connection& conn, const JobCompleteParams& p, std::vector<Status>& out, bool& due) {
  out.clear();
  std::vector<JobId> completed;
  for (const CompleteItem& item : p.items) {
    Query q(conn, "JobComplete");
    q.Bind(1, item.id).Bind(2, item.token).Bind(3, p.now);
    q.Bind(4, item.result.value_or("null")).Bind(5, item.checkpoint);
    BindProgress(q, 6, item.progress);
    JW_RETURN_IF_ERROR(q.Run());
    if (conn.Changes() == 1) {
      out.push_back(Status::Ok());
      completed.push_back(item.id);
      continue;
    }
    // Idempotent retry: the same token already completed it.
    bool already_done = false;
    {
      Query g(conn, "JobGuardState");
      g.Bind(1, item.id);
      JW_ASSIGN_OR_RETURN(bool row, g.Step());
      already_done = row && g.Text(0) == "succeeded" && g.Int(1) == item.token;
    }
    out.push_back(already_done ? Status::Ok() : GuardFailure(conn, item.id, JobState::kRunning, item.token));
  }
  JW_RETURN_IF_ERROR(CountMembersIn(conn, completed, {}, due));
  return RecordSuccesses(conn, completed, p.now);
}

}  // namespace jobwarden::sqlite
