// The SQLite store's job reads: each runs in one snapshot (BEGIN ... COMMIT)
// on a connection of the reader pool, so reads never block the writer.
#include <algorithm>

#include "store/sqlite/sqlite_rows.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace jobwarden::sqlite {
namespace {

// Listing by state alone merges the queues' runs up to this many queues (JobList).
constexpr int kMaxMergedQueues = 64;

}  // namespace

Result<Job> SqliteStore::JobGet(JobId id) {
  auto conn = readers_.Acquire();
  std::optional<Job> job;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    Query q(c, "JobGet");
    q.Bind(1, id);
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::NotFound("job " + FormatJobId(id) + " does not exist");
    JW_ASSIGN_OR_RETURN(Job j, ReadJob(q));
    JW_RETURN_IF_ERROR(LoadErrors(c, j));
    job = std::move(j);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return std::move(*job);
}

Result<std::vector<Job>> SqliteStore::JobList(const JobListParams& p) {
  auto conn = readers_.Acquire();
  std::vector<Job> out;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    // Appends one statement's page (ids ascending) to `out`.
    auto list = [&](const char* name, const std::optional<std::string>& queue) -> Status {
      Query q(c, name);
      q.Bind(1, p.after_id).Bind(2, p.kind).Bind(3, p.worker_id).Bind(4, p.limit);
      if (p.state) q.Bind(5, ToString(*p.state));
      if (queue) q.Bind(6, *queue);
      q.Bind(7, p.tag).Bind(8, p.batch_id);
      if (p.args_path && p.args_value) q.Bind(9, "$." + *p.args_path).Bind(10, *p.args_value);
      while (true) {
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) return Status::Ok();
        JW_ASSIGN_OR_RETURN(Job j, ReadJob(q));
        out.push_back(std::move(j));
      }
    };
    if (p.batch_id) {
      // A batch's members: one seek in jobs_batch, whatever else is asked.
      JW_RETURN_IF_ERROR(list("JobListByBatch", p.queue));
    } else if (p.state && !p.queue) {
      // By state alone: the first page of each queue's run in jobs_state_queue,
      // merged, unless there are so many queues that sorting the state is cheaper.
      std::vector<std::string> queues;
      Query q(c, "JobStateQueues");
      q.Bind(1, ToString(*p.state)).Bind(2, kMaxMergedQueues + 1);
      while (true) {
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        queues.push_back(q.Text(0));
      }
      if (queues.size() <= static_cast<std::size_t>(kMaxMergedQueues)) {
        for (const std::string& queue : queues) JW_RETURN_IF_ERROR(list("JobListByStateQueue", queue));
        std::sort(out.begin(), out.end(), [](const Job& a, const Job& b) { return a.id < b.id; });
        if (p.limit >= 0 && out.size() > static_cast<std::size_t>(p.limit))
          out.resize(static_cast<std::size_t>(p.limit));
      } else {
        JW_RETURN_IF_ERROR(list("JobListByState", std::nullopt));
      }
    } else {
      JW_RETURN_IF_ERROR(list(
          p.state ? (p.queue ? "JobListByStateQueue" : "JobListByState") : (p.queue ? "JobListByQueue" : "JobListAll"),
          p.queue));
    }
    if (p.with_errors) {
      for (Job& j : out) JW_RETURN_IF_ERROR(LoadErrors(c, j));
    }
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("list jobs");
  return out;
}

Result<std::vector<Job>> SqliteStore::JobListDeadlinePassed(Timestamp now, int limit) {
  auto conn = readers_.Acquire();
  std::vector<Job> out;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    Query q(c, "JobListDeadlinePassed");
    q.Bind(1, now).Bind(2, limit);
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      JW_ASSIGN_OR_RETURN(Job j, ReadJob(q));
      out.push_back(std::move(j));
    }
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("list jobs past their deadline");
  return out;
}

Result<std::vector<FailedAttempt>> SqliteStore::JobErrorsSince(Timestamp since, int limit) {
  auto conn = readers_.Acquire();
  std::vector<FailedAttempt> out;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    Query q(c, "JobErrorsSince");
    q.Bind(1, since).Bind(2, limit);
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) return Status::Ok();
      FailedAttempt a;
      a.job_id = q.Int(0);
      a.kind = q.Text(1);
      a.error_class = ParseErrorClass(q.Text(2)).value_or(ErrorClass::kTransient);
      a.message = q.Text(3);
      a.at = q.Time(4);
      out.push_back(std::move(a));
    }
  });
  if (!s.ok()) return s.WithContext("read failures");
  return out;
}

}  // namespace jobwarden::sqlite
