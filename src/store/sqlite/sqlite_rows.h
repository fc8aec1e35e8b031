// Statements and rows of the SQLite driver: the named statements of
// sql/queries.sql (parsed once, prepared on every connection), and the
// functions that read a job, a worker or an error entry from a row and bind
// the composite fields (tags, progress) of a write. Shared by the driver's
// write and read paths (sqlite_job_writes.cc, sqlite_job_reads.cc, ...).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace jobwarden::sqlite {

// The statements of sql/queries.sql as (name, SQL), {JOB_COLUMNS} expanded.
const std::vector<std::pair<std::string, std::string>>& Statements();
// Prepares every statement of Statements() on `conn`.
Status PrepareAll(Connection& conn);

// Tags (and worker queues) are stored as a JSON array of strings.
std::string EncodeTags(const std::vector<std::string>& tags);
std::vector<std::string> DecodeTags(const std::string& text);
// A JSON array of state names (the JobDeleteMany statements take one).
std::string StatesJson(const std::vector<JobState>& states);

// Reads a row selected with {JOB_COLUMNS} (columns from `first`).
Result<Job> ReadJob(const Query& q);
// The changes of the JobLease statement (sql/queries.sql), applied to the row
// read before it: fetch answers with the leased job without reading it again.
void LeaseFields(Job& j, const JobFetchParams& p);
// Appends the job's error entries (JobErrors) to job.errors.
Status LoadErrors(Connection& conn, Job& job);
// Binds an optional Progress as (flag, done, total, message) at `first`..first+3.
void BindProgress(Query& q, int first, const std::optional<Progress>& p);
// Reads a row of the WorkerList/WorkerGet column list.
WorkerRecord ReadWorker(const Query& q);
// Why a guarded write matched no row.
Status GuardFailure(Connection& conn, JobId id, JobState expected_state, std::int64_t token);

}  // namespace jobwarden::sqlite
