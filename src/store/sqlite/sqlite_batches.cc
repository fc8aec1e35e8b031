// The SQLite store's batches (core/batch.h, DESIGN.md "Batches"): the batch
// and its members in one insert, and the finish of a batch inside the
// transaction that ended its last member (migration 5's triggers keep the
// count of open members and fill batches_due; FinishDueBatchesIn empties it).
#include "store/sqlite/sqlite_rows.h"
#include "store/sqlite/sqlite_store_impl.h"

namespace jobwarden::sqlite {

namespace {

// BatchRow and BatchListRows share their first ten columns.
BatchInfo BatchFromRow(const Query& q) {
  BatchInfo b;
  b.id = FormatBatchId(q.Int(0));
  b.name = q.OptText(1);
  b.state = ParseBatchState(q.Text(2)).value_or(BatchState::kRunning);
  b.deadline_at = q.OptTime(3);
  b.min_succeeded = q.Int(4);
  b.total = q.Int(5);
  b.parent_id = q.OptInt(6);
  b.callback_job_id = q.OptInt(7);
  b.created_at = q.Time(8);
  b.finished_at = q.OptTime(9);
  return b;
}

Status ReadCounts(Connection& conn, const std::string& id, StateCounts& counts) {
  counts = {};
  Query q(conn, "BatchCounts");
  q.Bind(1, id);
  while (true) {
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::Ok();
    if (auto st = ParseJobState(q.Text(0))) ++counts[static_cast<std::size_t>(*st)];
  }
}

Status ReadMembers(Connection& conn, const std::string& id, std::vector<BatchMember>& out) {
  out.clear();
  Query q(conn, "BatchMembers");
  q.Bind(1, id);
  while (true) {
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::Ok();
    BatchMember m;
    m.id = q.Int(0);
    m.kind = q.Text(1);
    m.state = ParseJobState(q.Text(2)).value_or(JobState::kAvailable);
    m.resource_key = q.OptText(3);
    m.attempts = static_cast<int>(q.Int(4));
    const std::optional<Timestamp> started = q.OptTime(5);
    const std::optional<Timestamp> finished = q.OptTime(6);
    if (started && finished && *finished >= *started) m.duration = *finished - *started;
    m.result = q.OptText(7);
    if (!q.IsNull(8)) {
      m.error_class = ParseErrorClass(q.Text(8)).value_or(ErrorClass::kTransient);
      m.error_message = q.Text(9);
      m.error_limit = q.OptText(10);
    }
    out.push_back(std::move(m));
  }
}

// The batch's row, counts and (when asked) members, in the caller's transaction.
Result<BatchInfo> ReadBatch(Connection& conn, std::int64_t n, bool with_members, std::optional<NewJob>* callback) {
  Query q(conn, "BatchRow");
  q.Bind(1, n);
  JW_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound("batch " + FormatBatchId(n) + " does not exist");
  BatchInfo b = BatchFromRow(q);
  if (callback) {
    callback->reset();
    if (!q.IsNull(10)) {
      NewJob c;
      c.kind = q.Text(10);
      c.queue = q.Text(11);
      c.priority = static_cast<int>(q.Int(12));
      c.args = q.OptText(13).value_or("{}");
      c.max_attempts = static_cast<int>(q.Int(14));
      c.timeout = Duration(q.Int(15));
      if (auto stall = q.OptInt(16)) c.stall_timeout = Duration(*stall);
      c.resource_key = q.OptText(17);
      if (auto tags = q.OptText(18)) c.tags = DecodeTags(*tags);
      c.cost = static_cast<int>(q.OptInt(19).value_or(1));
      c.state = JobState::kAvailable;  // run_at is set when it is enqueued
      *callback = std::move(c);
    }
  }
  JW_RETURN_IF_ERROR(ReadCounts(conn, b.id, b.counts));
  if (with_members) JW_RETURN_IF_ERROR(ReadMembers(conn, b.id, b.members));
  return b;
}

}  // namespace

Result<InsertedBatch> SqliteStore::BatchInsert(const NewBatch& b, Timestamp now) {
  if (b.members.empty() || b.members.size() > static_cast<std::size_t>(kMaxBulkJobs)) {
    return Status::InvalidArgument("jobs: a batch has 1-" + std::to_string(kMaxBulkJobs) + " members");
  }
  InsertedBatch out;
  Status s = writer_.Submit(
      [&](Connection& conn) -> Status {
        out = {};
        Query ins(conn, "BatchInsert");
        ins.Bind(1, b.name).Bind(2, b.deadline_at).Bind(3, b.min_succeeded);
        ins.Bind(4, static_cast<std::int64_t>(b.members.size())).Bind(5, b.parent_id);
        if (b.callback) {
          const NewJob& c = *b.callback;
          ins.Bind(6, c.kind).Bind(7, c.queue).Bind(8, c.priority).Bind(9, c.args).Bind(10, c.max_attempts);
          ins.Bind(11, c.timeout);
          ins.Bind(13, c.stall_timeout).Bind(14, c.resource_key).Bind(15, EncodeTags(c.tags)).Bind(16, c.cost);
        } else {
          for (int i : {6, 7, 8, 9, 10, 11, 13, 14, 15, 16}) ins.BindNull(i);
        }
        ins.Bind(12, now);
        JW_RETURN_IF_ERROR(ins.Run());
        out.id = FormatBatchId(conn.LastInsertRowid());
        out.member_ids.reserve(b.members.size());
        NewJob member;
        for (std::size_t i = 0; i < b.members.size(); ++i) {
          member = b.members[i];
          member.batch_id = out.id;
          JW_ASSIGN_OR_RETURN(InsertedJob inserted, InsertIn(conn, member, now));
          if (inserted.deduplicated) {
            return Status::Conflict("jobs[" + std::to_string(i) + "].unique_key: '" + *member.unique_key +
                                    "' is held by job " + FormatJobId(inserted.id) +
                                    " (a batch member must be a new job)")
                .WithField("jobs[" + std::to_string(i) + "].unique_key");
          }
          out.member_ids.push_back(inserted.id);
        }
        return Status::Ok();
      },
      static_cast<int>(b.members.size()));
  if (!s.ok()) return s.WithContext("insert batch");
  return out;
}

Status SqliteStore::CountMembersIn(Connection& conn, const std::vector<JobId>& ended,
                                   const std::vector<JobId>& reopened, bool& due) {
  due = false;
  if (ended.empty() && reopened.empty()) return Status::Ok();
  {
    Query any(conn, "BatchAnyRunning");
    JW_ASSIGN_OR_RETURN(bool running, any.Step());
    if (!running) return Status::Ok();  // no batch runs: no job here can be an open member
  }
  auto batch_of = [&](JobId id) -> Result<std::optional<std::string>> {
    Query q(conn, "JobBatchId");
    q.Bind(1, id);
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return std::optional<std::string>();
    return q.OptText(0);
  };
  for (JobId id : reopened) {
    JW_ASSIGN_OR_RETURN(std::optional<std::string> batch, batch_of(id));
    if (!batch) continue;
    Query up(conn, "BatchMemberReopened");
    up.Bind(1, *batch);
    JW_RETURN_IF_ERROR(up.Run());
    Query unmark(conn, "BatchUnmarkDue");
    unmark.Bind(1, *batch);
    JW_RETURN_IF_ERROR(unmark.Run());
  }
  for (JobId id : ended) {
    JW_ASSIGN_OR_RETURN(std::optional<std::string> batch, batch_of(id));
    if (!batch) continue;
    Query down(conn, "BatchMemberEnded");
    down.Bind(1, *batch);
    JW_RETURN_IF_ERROR(down.Run());
    if (conn.Changes() == 0) continue;  // its batch already finished
    Query mark(conn, "BatchMarkDue");
    mark.Bind(1, *batch);
    JW_RETURN_IF_ERROR(mark.Run());
    due = due || conn.Changes() > 0;
  }
  return Status::Ok();
}

Status SqliteStore::FinishDueBatchesIn(Connection& conn, Timestamp now, std::vector<BatchInfo>& finished) {
  while (true) {
    std::vector<std::int64_t> due;
    {
      Query q(conn, "BatchDue");
      while (true) {
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        due.push_back(q.Int(0));
      }
    }
    if (due.empty()) return Status::Ok();
    for (std::int64_t n : due) {
      Query del(conn, "BatchDueDelete");
      del.Bind(1, n);
      JW_RETURN_IF_ERROR(del.Run());
      std::optional<NewJob> callback;
      JW_ASSIGN_OR_RETURN(BatchInfo b, ReadBatch(conn, n, /*with_members=*/true, &callback));
      if (b.state != BatchState::kRunning) continue;
      b.state = DecideBatch(b.counts, b.min_succeeded, /*deadline_passed=*/false);
      if (b.state == BatchState::kRunning) continue;  // reopened by a retry in the same transaction
      b.finished_at = now;
      if (callback) {
        callback->run_at = now;
        // Inserted first for its id, which its own args.batch carries.
        JW_ASSIGN_OR_RETURN(InsertedJob job, InsertIn(conn, *callback, now));
        b.callback_job_id = job.id;
        JW_ASSIGN_OR_RETURN(std::string args, CallbackArgs(callback->args, EncodeBatchJson(b)));
        Query set(conn, "JobSetArgs");
        set.Bind(1, job.id).Bind(2, args);
        JW_RETURN_IF_ERROR(set.Run());
      }
      Query fin(conn, "BatchFinish");
      fin.Bind(1, n).Bind(2, std::string(ToString(b.state))).Bind(3, now).Bind(4, b.callback_job_id);
      JW_RETURN_IF_ERROR(fin.Run());
      finished.push_back(std::move(b));
    }
  }
}

void SqliteStore::NotifyBatchesFinished(const std::vector<BatchInfo>& finished) const {
  if (!batch_listener_) return;
  for (const BatchInfo& b : finished) batch_listener_(b);
}

Result<BatchInfo> SqliteStore::BatchGet(const std::string& id, bool with_members) {
  const std::optional<std::int64_t> n = ParseBatchId(id);
  if (!n) return Status::NotFound("batch " + id + " does not exist");
  auto conn = readers_.Acquire();
  BatchInfo out;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    JW_ASSIGN_OR_RETURN(out, ReadBatch(c, *n, with_members, nullptr));
    return Status::Ok();
  });
  if (!s.ok()) return s.code() == StatusCode::kNotFound ? s : s.WithContext("read batch " + id);
  return out;
}

Result<std::vector<BatchInfo>> SqliteStore::BatchList(const BatchListParams& p) {
  std::int64_t before = std::numeric_limits<std::int64_t>::max();
  if (!p.before_id.empty()) {
    const std::optional<std::int64_t> n = ParseBatchId(p.before_id);
    if (!n) return Status::InvalidArgument("after: '" + p.before_id + "' is not a batch id");
    before = *n;
  }
  auto conn = readers_.Acquire();
  std::vector<BatchInfo> out;
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    {
      Query q(c, "BatchListRows");
      if (p.state) {
        q.Bind(1, std::string(ToString(*p.state)));
      } else {
        q.BindNull(1);
      }
      q.Bind(2, before).Bind(3, p.limit);
      while (true) {
        JW_ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        out.push_back(BatchFromRow(q));
      }
    }
    for (BatchInfo& b : out) JW_RETURN_IF_ERROR(ReadCounts(c, b.id, b.counts));
    return Status::Ok();
  });
  if (!s.ok()) return s.WithContext("list batches");
  return out;
}

Result<std::int64_t> SqliteStore::BatchPurgeFinished(Timestamp before, int limit) {
  return WriteCountingChanges(
      "BatchPurgeFinished", [&](Query& q) { q.Bind(1, before).Bind(2, limit); }, limit, "purge finished batches");
}

Result<std::array<std::int64_t, 3>> SqliteStore::BatchStateCounts() {
  auto conn = readers_.Acquire();
  std::array<std::int64_t, 3> out{};
  Status s = InReadTx(*conn, [&](Connection& c) -> Status {
    Query q(c, "BatchStateCounts");
    while (true) {
      JW_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) return Status::Ok();
      if (auto st = ParseBatchState(q.Text(0))) out[static_cast<std::size_t>(*st)] = q.Int(1);
    }
  });
  if (!s.ok()) return s.WithContext("count batches");
  return out;
}

}  // namespace jobwarden::sqlite
