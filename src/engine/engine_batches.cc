// The engine's batches (DESIGN.md "Batches"; core/batch.h): submit with
// deadline propagation, the reads, the batch_deadline label of a member's
// deadline failure, and the events of a finished batch. The finish itself
// (state, callback) is the store's, in the transaction that ended the last
// member, so that it happens exactly once.
#include <spdlog/spdlog.h>

#include <map>

#include "core/log_fields.h"
#include "engine/engine.h"

namespace jobwarden {

Result<BatchInfo> Engine::SubmitBatch(const BatchRequest& request) {
  const Timestamp now = clock_.Now();
  JW_RETURN_IF_ERROR(ValidateBatch(request, now, kMaxBulkJobs));
  NewBatch b;
  b.name = request.name;
  b.deadline_at = BatchDeadline(request, now);
  b.min_succeeded = request.min_succeeded.value_or(static_cast<int>(request.jobs.size()));
  b.parent_id = request.parent_id;
  std::optional<Timestamp> parent_deadline;
  if (request.parent_id) {
    auto parent = store_.JobGet(*request.parent_id);
    if (!parent.ok()) {
      if (parent.status().code() != StatusCode::kNotFound) return parent.status().WithContext("read parent job");
      return Status::InvalidArgument("parent_id: job " + FormatJobId(*request.parent_id) + " does not exist")
          .WithField("parent_id");
    }
    parent_deadline = parent->deadline_at;
  }
  b.members.reserve(request.jobs.size());
  for (std::size_t i = 0; i < request.jobs.size(); ++i) {
    const std::string where = "jobs[" + std::to_string(i) + "]";
    auto prepared = Prepare(request.jobs[i], now);
    if (!prepared.ok()) return prepared.status().WithContext(where);
    NewJob m = std::move(prepared).value();
    m.deadline_at = MemberDeadline(m.deadline_at, b.deadline_at, parent_deadline);
    if (m.deadline_at && *m.deadline_at <= std::max(m.run_at, now)) {
      return Status::InvalidArgument(where + ".run_at: the member would start after its deadline " +
                                     FormatRfc3339(*m.deadline_at))
          .WithField(where + ".run_at");
    }
    b.members.push_back(std::move(m));
  }
  if (request.callback) {
    const BatchCallback& cb = *request.callback;
    EnqueueRequest r;
    r.kind = cb.kind;
    r.args = cb.args;
    r.queue = cb.queue;
    r.priority = CallbackPriority(request);
    auto prepared = Prepare(r, now);
    if (!prepared.ok()) return prepared.status().WithContext("callback");
    // The batch JSON is added as args.batch, so its args must be an object.
    JW_RETURN_IF_ERROR(CallbackArgs(prepared->args, "{}").status());
    b.callback = std::move(prepared).value();
  }
  JW_ASSIGN_OR_RETURN(InsertedBatch inserted, store_.BatchInsert(b, now));
  for (std::size_t i = 0; i < inserted.member_ids.size(); ++i) {
    const NewJob& m = b.members[i];
    Emit({inserted.member_ids[i], m.kind, m.queue, std::nullopt, m.state, std::nullopt, "enqueued", now});
  }
  spdlog::info("batch {} submitted: {} members{}", inserted.id, inserted.member_ids.size(),
               b.deadline_at ? ", deadline " + FormatRfc3339(*b.deadline_at) : std::string());
  JW_ASSIGN_OR_RETURN(BatchInfo info, store_.BatchGet(inserted.id, /*with_members=*/true));
  for (const auto& l : batch_listeners_) l(info);
  return info;
}

Result<BatchInfo> Engine::SubmitChildBatch(JobId parent, std::int64_t token, BatchRequest request) {
  if (request.parent_id && *request.parent_id != parent) {
    return Status::InvalidArgument("parent_id: a batch submitted from job " + FormatJobId(parent) +
                                   " has that job as its parent")
        .WithField("parent_id");
  }
  JW_ASSIGN_OR_RETURN(Job job, store_.JobGet(parent));
  if (job.state != JobState::kRunning || job.lease_token != token) {
    return Status::LeaseLost("job " + FormatJobId(parent) + ": lease token " + std::to_string(token) +
                             " is not current; the job's handler cannot fan out");
  }
  request.parent_id = parent;
  return SubmitBatch(request);
}

Result<BatchInfo> Engine::Batch(const std::string& id) { return store_.BatchGet(id, /*with_members=*/true); }

Result<std::vector<BatchInfo>> Engine::Batches(const BatchListParams& params) {
  if (params.limit < 1 || params.limit > 1000) return Status::InvalidArgument("limit: must be 1-1000");
  return store_.BatchList(params);
}

void Engine::AddBatchListener(std::function<void(const BatchInfo&)> listener) {
  batch_listeners_.push_back(std::move(listener));
}

void Engine::BatchFinished(const BatchInfo& b) const {
  spdlog::info("batch {} {}: {} of {} succeeded (min {}){}", b.id, ToString(b.state),
               b.counts[static_cast<std::size_t>(JobState::kSucceeded)], b.total, b.min_succeeded,
               b.callback_job_id ? ", callback job " + FormatJobId(*b.callback_job_id) : std::string());
  if (b.callback_job_id) {
    // Its enqueue event, as for any job (a server wakes waiting fetches on it).
    auto job = store_.JobGet(*b.callback_job_id);
    if (job.ok()) {
      Emit({job->id, job->kind, job->queue, std::nullopt, job->state, std::nullopt,
            "enqueued (callback of batch " + b.id + ")", job->created_at});
    } else {
      spdlog::warn("batch {}: its callback job {} was enqueued, but reading it for the event failed: {}", b.id,
                   *b.callback_job_id, job.status().ToString());
    }
  }
  for (const auto& l : batch_listeners_) l(b);
}

void Engine::LabelBatchDeadlines(std::vector<JobChange>& changes, const std::vector<Job>& before) {
  std::map<std::string, std::optional<Timestamp>> deadlines;  // per batch, read once per call
  const std::string_view deadline_limit = LimitName(CancelReason::kDeadline);
  for (std::size_t i = 0; i < changes.size() && i < before.size(); ++i) {
    JobChange& c = changes[i];
    const Job& job = before[i];
    if (!c.error || c.error->limit != deadline_limit || !job.batch_id || !job.deadline_at) continue;
    auto [it, fresh] = deadlines.try_emplace(*job.batch_id);
    if (fresh) {
      auto batch = store_.BatchGet(*job.batch_id, /*with_members=*/false);
      if (batch.ok()) {
        it->second = batch->deadline_at;
      } else {
        // The failure is right either way; only its label would be less precise.
        const ScopedLogFields log_fields(JobLogFields(job));
        spdlog::warn("job {}: reading batch {} to label a deadline failure: {}", job.id, *job.batch_id,
                     batch.status().ToString());
      }
    }
    // The member's deadline is the earliest of its own, the batch's and its
    // parent's: the batch's is the one that struck when they are the same.
    if (it->second && *it->second == *job.deadline_at) {
      c.error->limit = "batch_deadline";
      c.error->message = "batch " + *job.batch_id + " deadline " + FormatRfc3339(*it->second) + " passed" +
                         (c.from == JobState::kRunning ? " while the member ran" : " before the member could run");
    }
  }
}

}  // namespace jobwarden
