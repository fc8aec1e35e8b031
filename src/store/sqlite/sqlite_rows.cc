#include "store/sqlite/sqlite_rows.h"

#include "store/sqlite/embedded_sql.h"

namespace jobwarden::sqlite {

constexpr std::string_view kJobColumns =
    "id, kind, queue, priority, state, args, attempt, max_attempts, timeout_ms, stall_timeout_ms, deadline_at, "
    "run_at, created_at, started_at, finished_at, heartbeat_at, lease_expires_at, lease_token, lease_ttl_ms, "
    "grace_ms, worker_id, cancel_requested, cancel_reason, takeback_at, progress_done, progress_total, "
    "progress_message, progress_updated_at, stall_since, checkpoint, result, unique_key, resource_key, batch_id, tags, "
    "cost";

const std::vector<std::pair<std::string, std::string>>& Statements() {
  static const auto* statements = [] {
    auto* out = new std::vector<std::pair<std::string, std::string>>();
    const std::string_view text = sqlite_sql::k_queries;
    constexpr std::string_view kMarker = "-- name: ";
    std::size_t pos = text.find(kMarker);
    while (pos != std::string_view::npos) {
      const std::size_t name_end = text.find('\n', pos);
      std::string name(text.substr(pos + kMarker.size(), name_end - pos - kMarker.size()));
      const std::size_t next = text.find(kMarker, name_end);
      std::string sql(
          text.substr(name_end + 1, next == std::string_view::npos ? std::string_view::npos : next - name_end - 1));
      const std::string placeholder = "{JOB_COLUMNS}";
      for (std::size_t at = sql.find(placeholder); at != std::string::npos; at = sql.find(placeholder)) {
        sql.replace(at, placeholder.size(), kJobColumns);
      }
      out->emplace_back(std::move(name), std::move(sql));
      pos = next;
    }
    return out;
  }();
  return *statements;
}

Status PrepareAll(Connection& conn) {
  for (const auto& [name, sql] : Statements()) JW_RETURN_IF_ERROR(conn.Prepare(name, sql));
  return Status::Ok();
}

// Decodes a JSON array of strings written by EncodeTags.
std::vector<std::string> DecodeTags(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  bool in_str = false, esc = false;
  for (char ch : text) {
    if (!in_str) {
      if (ch == '"') in_str = true;
      continue;
    }
    if (esc) {
      cur += ch;
      esc = false;
    } else if (ch == '\\') {
      esc = true;
    } else if (ch == '"') {
      out.push_back(std::move(cur));
      cur.clear();
      in_str = false;
    } else {
      cur += ch;
    }
  }
  return out;
}

// Reads a row selected with {JOB_COLUMNS} (columns from `first`).
Result<Job> ReadJob(const Query& q) {
  Job j;
  int c = 0;
  j.id = q.Int(c++);
  j.kind = q.Text(c++);
  j.queue = q.Text(c++);
  j.priority = static_cast<int>(q.Int(c++));
  const std::string state = q.Text(c++);
  auto parsed = ParseJobState(state);
  if (!parsed) return Status::Internal("job " + std::to_string(j.id) + " has unknown state '" + state + "'");
  j.state = *parsed;
  j.args = q.Text(c++);
  j.attempt = static_cast<int>(q.Int(c++));
  j.max_attempts = static_cast<int>(q.Int(c++));
  j.timeout = Duration(q.Int(c++));
  if (auto v = q.OptInt(c++)) j.stall_timeout = Duration(*v);
  j.deadline_at = q.OptTime(c++);
  j.run_at = q.Time(c++);
  j.created_at = q.Time(c++);
  j.started_at = q.OptTime(c++);
  j.finished_at = q.OptTime(c++);
  j.heartbeat_at = q.OptTime(c++);
  j.lease_expires_at = q.OptTime(c++);
  j.lease_token = q.Int(c++);
  j.lease_ttl = Duration(q.Int(c++));
  j.grace = Duration(q.Int(c++));
  j.worker_id = q.OptText(c++);
  j.cancel_requested = q.Int(c++) != 0;
  j.cancel_reason = ParseCancelReason(q.Text(c++)).value_or(CancelReason::kNone);
  j.takeback_at = q.OptTime(c++);
  j.progress.done = q.Int(c++);
  j.progress.total = q.OptInt(c++);
  j.progress.message = q.Text(c++);
  j.progress.updated_at = q.OptTime(c++);
  j.stall_since = q.OptTime(c++);
  j.checkpoint = q.OptText(c++);
  j.result = q.OptText(c++);
  j.unique_key = q.OptText(c++);
  j.resource_key = q.OptText(c++);
  j.batch_id = q.OptText(c++);
  j.tags = DecodeTags(q.Text(c++));
  j.cost = static_cast<int>(q.Int(c++));
  return j;
}

// The changes of the JobLease statement (sql/queries.sql), applied to the row
// read before it: fetch answers with the leased job without reading it again.
void LeaseFields(Job& j, const JobFetchParams& p) {
  const Timestamp now = FromMillis(ToMillis(p.now));  // as stored: whole ms
  j.state = JobState::kRunning;
  j.attempt += 1;
  j.lease_token += 1;
  j.started_at = now;
  j.heartbeat_at = now;
  j.lease_expires_at = now + p.lease_ttl;
  j.lease_ttl = p.lease_ttl;
  j.grace = p.grace;
  j.worker_id = p.worker_id;
  j.stall_since = now;
  j.cancel_requested = false;
  j.cancel_reason = CancelReason::kNone;
  j.takeback_at = std::nullopt;
}

std::string EncodeTags(const std::vector<std::string>& tags) {
  std::string out = "[";
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char ch : tags[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += ']';
  return out;
}

Status LoadErrors(Connection& conn, Job& job) {
  Query q(conn, "JobErrors");
  q.Bind(1, job.id);
  while (true) {
    JW_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    ErrorEntry e;
    e.attempt = static_cast<int>(q.Int(0));
    e.error_class = ParseErrorClass(q.Text(1)).value_or(ErrorClass::kTransient);
    e.message = q.Text(2);
    e.at = q.Time(3);
    e.counted = q.Int(4) != 0;
    e.limit = q.OptText(5);
    e.output_tail = q.OptText(6);
    job.errors.push_back(std::move(e));
  }
  return Status::Ok();
}

// Binds an optional Progress as (flag, done, total, message) at `first`..first+3.
void BindProgress(Query& q, int first, const std::optional<Progress>& p) {
  q.Bind(first, p.has_value());
  if (p) {
    q.Bind(first + 1, p->done).Bind(first + 2, p->total).Bind(first + 3, p->message);
  } else {
    q.BindNull(first + 1).BindNull(first + 2).BindNull(first + 3);
  }
}

// Reads a row of the WorkerList/WorkerGet column list.
WorkerRecord ReadWorker(const Query& q) {
  WorkerRecord w;
  w.id = q.Text(0);
  w.host = q.Text(1);
  w.pid = q.Int(2);
  w.pid_start_time = q.OptInt(3);
  w.boot_id = q.OptText(4);
  w.pid_namespace = q.OptText(5);
  w.queues = DecodeTags(q.Text(6));
  w.slots = static_cast<int>(q.Int(7));
  w.busy = static_cast<int>(q.Int(8));
  w.started_at = q.Time(9);
  w.last_seen_at = q.Time(10);
  w.stopped_at = q.OptTime(11);
  return w;
}

// Why a guarded write matched no row.
Status GuardFailure(Connection& conn, JobId id, JobState expected_state, std::int64_t token) {
  Query q(conn, "JobGuardState");
  q.Bind(1, id);
  JW_ASSIGN_OR_RETURN(bool row, q.Step());
  const std::string ref = "job " + FormatJobId(id);
  if (!row) return Status::NotFound(ref + " does not exist");
  const std::string state = q.Text(0);
  if (expected_state == JobState::kRunning) {
    if (state == "running" && q.Int(1) == token) {
      // Only the lease_expired_by guard can fail with the same token.
      return Status::Conflict(ref + ": its lease was renewed meanwhile");
    }
    if (state == "running" && q.Int(1) != token) {
      return Status::LeaseLost(ref + ": lease token " + std::to_string(token) + " is stale (current " +
                               std::to_string(q.Int(1)) + ")");
    }
    return Status::LeaseLost(ref + " is " + state + ": the lease is no longer held");
  }
  return Status::Conflict(ref + " is " + state + " (expected " + std::string(ToString(expected_state)) + ")");
}

std::string StatesJson(const std::vector<JobState>& states) {
  std::string out = "[";
  for (std::size_t i = 0; i < states.size(); ++i) {
    if (i) out += ',';
    out += '"';
    out += ToString(states[i]);
    out += '"';
  }
  return out + "]";
}

}  // namespace jobwarden::sqlite
