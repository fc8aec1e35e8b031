// The job subcommands: enqueue, status, ls, queues, cancel, retry, delete,
// purge, reset-stuck, pause, resume, doctor (docs/cli.md).
//
// Every command first validates all of its input (each message names the
// flag), and only then opens its JobTarget: bad input exits 2 having written
// nothing, not even a database file. Results go to stdout; reasons for a
// refusal or an error go to stderr through cli::Fail, the one mapping from
// Status to exit code.
#include <nlohmann/json.hpp>

#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/command_support.h"
#include "cli/job_target.h"
#include "cli/job_watch.h"
#include "cli/output.h"
#include "protocol/job_json.h"
#include "protocol/json_fields.h"

namespace jobwarden::cli {

namespace {

// --- input validation (each message names the flag) ---------------------

Result<JobId> IdArg(const std::string& text) {
  Result<JobId> id = ParseJobId(text);
  if (!id.ok()) return Flag("ID", id.status());
  return id;
}

Result<JobState> StateFlag(std::string_view flag, const std::string& text) {
  if (std::optional<JobState> s = ParseJobState(text)) return *s;
  std::string known;
  for (JobState s : kAllJobStates) known += (known.empty() ? "" : ", ") + std::string(ToString(s));
  return Status::InvalidArgument(std::string(flag) + ": '" + text + "' is not a state (one of " + known + ")");
}

// --- enqueue ----------------------------------------------------------------

struct EnqueueOptions {
  std::string kind, args, queue, timeout, deadline, stall_timeout, delay, unique_key, resource_key;
  int priority = 0;
  int max_attempts = 0;
  int cost = 1;
  std::vector<std::string> tags;
  CLI::Option *args_opt, *queue_opt, *priority_opt, *timeout_opt, *deadline_opt, *stall_opt, *max_attempts_opt,
      *delay_opt, *unique_opt, *resource_opt, *cost_opt;
};

Result<EnqueueRequest> BuildEnqueue(const EnqueueOptions& o) {
  EnqueueRequest r;
  r.kind = o.kind;
  if (o.args_opt->count() > 0) {
    const nlohmann::json parsed = nlohmann::json::parse(o.args, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return Status::InvalidArgument("--args: malformed JSON: " + o.args);
    r.args = o.args;
  }
  if (o.queue_opt->count() > 0) r.queue = o.queue;
  if (o.priority_opt->count() > 0) r.priority = o.priority;
  if (o.max_attempts_opt->count() > 0) {
    if (o.max_attempts < 1) return Status::InvalidArgument("--max-attempts: must be at least 1");
    r.max_attempts = o.max_attempts;
  }
  JW_ASSIGN_OR_RETURN(r.timeout, OptionalDurationFlag("--timeout", o.timeout_opt, o.timeout));
  JW_ASSIGN_OR_RETURN(r.deadline_in, OptionalDurationFlag("--deadline", o.deadline_opt, o.deadline));
  JW_ASSIGN_OR_RETURN(r.stall_timeout, OptionalDurationFlag("--stall-timeout", o.stall_opt, o.stall_timeout));
  JW_ASSIGN_OR_RETURN(r.delay, OptionalDurationFlag("--delay", o.delay_opt, o.delay));
  if (o.unique_opt->count() > 0) r.unique_key = o.unique_key;
  if (o.resource_opt->count() > 0) r.resource_key = o.resource_key;
  if (o.cost_opt->count() > 0) {
    if (o.cost < 1 || o.cost > kMaxJobCost) {
      return Status::InvalidArgument("--cost: must be 1-" + std::to_string(kMaxJobCost));
    }
    r.cost = o.cost;
  }
  r.tags = o.tags;
  return r;
}

void AddEnqueue(CLI::App& app, GlobalOptions& global, Action& action) {
  AddCommand<EnqueueOptions>(
      app, action, "enqueue", "Add a job; prints its id (the existing id when --unique-key deduplicates)",
      [&global](const EnqueueOptions& o) {
        Result<EnqueueRequest> request = BuildEnqueue(o);
        if (!request.ok()) return Fail(request.status());
        return WithTarget(global, [&](JobTarget& t) -> Status {
          JW_ASSIGN_OR_RETURN(EnqueueResult r, t.Enqueue(*request));
          std::cout << FormatJobId(r.job.id) << std::endl;
          if (r.deduplicated) {
            std::cerr << "deduplicated: job " << FormatJobId(r.job.id) << " (" << ToString(r.job.state)
                      << ") already has unique key '" << r.job.unique_key.value_or("") << "'\n";
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, EnqueueOptions& o) {
        cmd.add_option("KIND", o.kind, "Handler name (e.g. resize)")->required();
        o.args_opt = cmd.add_option("--args", o.args, "Arguments as JSON (default {})");
        o.queue_opt = cmd.add_option("--queue", o.queue, "Queue (default: default)");
        o.priority_opt = cmd.add_option("--priority", o.priority, "Higher runs first (default 0)");
        o.timeout_opt = cmd.add_option("--timeout", o.timeout, "Attempt timeout, e.g. 5m (default 30m)");
        o.deadline_opt = cmd.add_option("--deadline", o.deadline, "Whole-job deadline from now, e.g. 2h (default off)");
        o.stall_opt =
            cmd.add_option("--stall-timeout", o.stall_timeout, "Fail an attempt with no progress for this long");
        o.max_attempts_opt = cmd.add_option("--max-attempts", o.max_attempts, "Counted attempts (default 5)");
        o.delay_opt = cmd.add_option("--delay", o.delay, "Run no earlier than this from now, e.g. 30s");
        o.unique_opt = cmd.add_option("--unique-key", o.unique_key, "At most one non-terminal job with this key");
        o.resource_opt = cmd.add_option("--resource-key", o.resource_key, "External resource shared with other jobs");
        o.cost_opt = cmd.add_option("--cost", o.cost,
                                    "Tokens the job spends from its resource's rate limit when it starts (default 1)");
        cmd.add_option("--tag", o.tags, "A tag (repeat for more)")->allow_extra_args(false);
      });
}

// --- status, ls, queues, doctor (reads) ---------------------------------

struct StatusOptions {
  std::string id;
  bool json = false;
  bool watch = false;
  std::string interval = "500ms";
};

struct ListOptions {
  std::string state, queue, kind, after, tag, batch, args;
  int limit = 100;
  bool json = false;
  bool watch = false;
  std::string interval = "2s";
  CLI::Option *state_opt, *queue_opt, *kind_opt, *after_opt;
};

struct JsonOnlyOptions {
  bool json = false;
};

Result<Duration> WatchInterval(const std::string& text) {
  JW_ASSIGN_OR_RETURN(Duration d, DurationFlag("--interval", text));
  if (d < std::chrono::milliseconds(100) || d > std::chrono::minutes(1)) {
    return Status::InvalidArgument("--interval: must be 100ms-1m, not " + text);
  }
  return d;
}

void AddReads(CLI::App& app, GlobalOptions& global, Action& action) {
  AddCommand<StatusOptions>(
      app, action, "status", "Show one job: state, attempt, progress, times, lease, errors",
      [&global](const StatusOptions& o) {
        Result<JobId> id = IdArg(o.id);
        if (!id.ok()) return Fail(id.status());
        Result<Duration> interval = WatchInterval(o.interval);
        if (!interval.ok()) return Fail(interval.status());
        return WithTarget(global, [&](JobTarget& t) -> Status {
          Refresh(t);
          if (o.watch) return WatchJob(t, *id, *interval);
          JW_ASSIGN_OR_RETURN(Job job, t.Get(*id));
          if (o.json) {
            PrintJson(std::cout, JobToJson(job));
          } else {
            PrintJobDetail(std::cout, job, t.Now());
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, StatusOptions& o) {
        cmd.add_option("ID", o.id, "Job id")->required();
        cmd.add_flag("--json", o.json, "Print the job JSON of DESIGN.md");
        cmd.add_flag("--watch", o.watch,
                     "Follow the job until it ends: a progress bar (done/total, rate, ETA, the nearest limit)")
            ->excludes("--json");
        cmd.add_option("--interval", o.interval, "How often --watch reads the job (100ms-1m)")->capture_default_str();
      });

  AddCommand<ListOptions>(
      app, action, "ls", "List jobs, oldest first",
      [&global](const ListOptions& o) {
        JobListParams p;
        if (o.state_opt->count() > 0) {
          Result<JobState> s = StateFlag("--state", o.state);
          if (!s.ok()) return Fail(s.status());
          p.state = *s;
        }
        if (o.queue_opt->count() > 0) p.queue = o.queue;
        if (o.kind_opt->count() > 0) p.kind = o.kind;
        if (!o.tag.empty()) p.tag = o.tag;
        if (!o.batch.empty()) p.batch_id = o.batch;
        if (!o.args.empty()) {
          const std::size_t eq = o.args.find('=');
          if (eq == std::string::npos || eq == 0) {
            return Fail(Status::InvalidArgument("--args: '" + o.args + "' is not FIELD=VALUE (customer_id=42)"));
          }
          const std::string path = o.args.substr(0, eq);
          Result<std::string> value = ArgsFilterJson("--args", path, ArgsFilterValue(o.args.substr(eq + 1)));
          if (!value.ok()) return Fail(value.status());
          p.args_path = path;
          p.args_value = *value;
        }
        if (o.after_opt->count() > 0) {
          Result<JobId> after = ParseJobId(o.after);
          if (!after.ok()) return Fail(Flag("--after", after.status()));
          p.after_id = *after;
        }
        if (o.limit < 1 || o.limit > 10'000) return Fail(Status::InvalidArgument("--limit: must be 1-10000"));
        p.limit = o.limit;
        p.with_errors = true;  // the table shows the last error; --json shows them all
        Result<Duration> interval = WatchInterval(o.interval);
        if (!interval.ok()) return Fail(interval.status());
        return WithTarget(global, [&](JobTarget& t) -> Status {
          Refresh(t);
          if (o.watch) return WatchJobs(t, p, *interval);
          JW_ASSIGN_OR_RETURN(std::vector<Job> jobs, t.List(p));
          if (o.json) {
            PrintJson(std::cout, JobsToJson(jobs));
          } else {
            PrintJobTable(std::cout, jobs, t.Now());
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, ListOptions& o) {
        o.state_opt = cmd.add_option("--state", o.state, "scheduled, available, running, succeeded, failed, cancelled");
        o.queue_opt = cmd.add_option("--queue", o.queue, "Only this queue");
        o.kind_opt = cmd.add_option("--kind", o.kind, "Only this kind");
        cmd.add_option("--tag", o.tag, "Only jobs with this tag");
        cmd.add_option("--batch", o.batch, "Only this batch's members");
        cmd.add_option("--args", o.args,
                       "Only jobs whose args field equals a value: FIELD=VALUE (customer_id=42, order.id=7, "
                       "email=bob@example.com; a quoted \"42\" is a string)");
        cmd.add_option("--limit", o.limit, "At most this many jobs (1-10000)")->capture_default_str();
        o.after_opt = cmd.add_option("--after", o.after, "Only jobs with an id greater than this (paging)");
        cmd.add_flag("--json", o.json, "Print a JSON array of jobs");
        cmd.add_flag("--watch", o.watch, "Refresh the table until Ctrl-C (plain lines of changes when not a terminal)")
            ->excludes("--json");
        cmd.add_option("--interval", o.interval, "How often --watch reads the jobs (100ms-1m)")->capture_default_str();
      });

  AddCommand<JsonOnlyOptions>(
      app, action, "queues", "Queue depth by state, oldest available job's age, paused, concurrency, warnings",
      [&global](const JsonOnlyOptions& o) {
        return WithTarget(global, [&](JobTarget& t) -> Status {
          Refresh(t);
          JW_ASSIGN_OR_RETURN(std::vector<QueueInfo> queues, t.Queues());
          if (o.json) {
            PrintJson(std::cout, QueuesToJson(queues, t.Now()));
          } else {
            PrintQueueTable(std::cout, queues, t.Now());
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, JsonOnlyOptions& o) { cmd.add_flag("--json", o.json, "Print JSON"); });

  AddCommand<JsonOnlyOptions>(
      app, action, "doctor",
      "Explain why each running job is healthy, at risk or stuck, and what holds back waiting jobs",
      [&global](const JsonOnlyOptions& o) {
        return WithTarget(global, [&](JobTarget& t) -> Status {
          Refresh(t);
          JW_ASSIGN_OR_RETURN(std::vector<JobDiagnosis> diagnoses, t.Doctor());
          if (o.json) {
            PrintJson(std::cout, DiagnosesToJson(diagnoses));
            return Status::Ok();
          }
          PrintDiagnoses(std::cout, diagnoses);
          // Available jobs that fetch leaves waiting: paused queues and flow limits.
          JW_ASSIGN_OR_RETURN(std::vector<QueueHold> holds, t.HeldQueues());
          PrintHolds(std::cout, holds);
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, JsonOnlyOptions& o) { cmd.add_flag("--json", o.json, "Print JSON"); });
}

// --- cancel, retry, delete (one job) ----------------------------------------

struct IdOptions {
  std::string id;
};

void AddIdCommand(CLI::App& app, GlobalOptions& global, Action& action, const std::string& name,
                  const std::string& description, std::function<Status(JobTarget&, JobId)> body) {
  AddCommand<IdOptions>(
      app, action, name, description,
      [&global, body = std::move(body)](const IdOptions& o) {
        Result<JobId> id = IdArg(o.id);
        if (!id.ok()) return Fail(id.status());
        return WithTarget(global, [&](JobTarget& t) { return body(t, *id); });
      },
      [](CLI::App& cmd, IdOptions& o) { cmd.add_option("ID", o.id, "Job id")->required(); });
}

void AddJobActions(CLI::App& app, GlobalOptions& global, Action& action) {
  AddIdCommand(app, global, action, "cancel", "Cancel a job (a running one is asked to stop)",
               [](JobTarget& t, JobId id) -> Status {
                 JW_ASSIGN_OR_RETURN(Job job, t.Cancel(id));
                 if (job.state == JobState::kRunning) {
                   std::cout << "job " << FormatJobId(id) << ": stop requested; the worker stops it";
                   if (job.takeback_at)
                     std::cout << ", or the server takes it back at " << FormatRfc3339(*job.takeback_at);
                   std::cout << '\n';
                 } else {
                   std::cout << "job " << FormatJobId(id) << ": " << ToString(job.state) << '\n';
                 }
                 return Status::Ok();
               });
  AddIdCommand(app, global, action, "retry", "Run a failed or cancelled job again",
               [](JobTarget& t, JobId id) -> Status {
                 JW_ASSIGN_OR_RETURN(Job job, t.Retry(id));
                 std::cout << "job " << FormatJobId(id) << ": " << ToString(job.state) << " (attempt " << job.attempt
                           << " of " << job.max_attempts << " used)\n";
                 return Status::Ok();
               });
  AddIdCommand(app, global, action, "delete", "Delete a job that is not running", [](JobTarget& t, JobId id) -> Status {
    JW_RETURN_IF_ERROR(t.Delete(id));
    std::cout << "job " << FormatJobId(id) << ": deleted\n";
    return Status::Ok();
  });
}

// --- purge, reset-stuck, pause, resume ----------------------------------

struct PurgeOptions {
  std::string state, queue, older_than;
  CLI::Option *queue_opt, *older_opt;
};

struct ResetStuckOptions {
  std::string older_than;
};

struct QueueOptions {
  std::string queue;
};

void AddMaintenance(CLI::App& app, GlobalOptions& global, Action& action) {
  AddCommand<PurgeOptions>(
      app, action, "purge", "Delete every job in a state (never running ones); prints how many",
      [&global](const PurgeOptions& o) {
        DeleteFilter f;
        Result<JobState> state = StateFlag("--state", o.state);
        if (!state.ok()) return Fail(state.status());
        if (*state == JobState::kRunning) {
          return Fail(Status::Conflict("--state running: running jobs are never purged (cancel them first)"));
        }
        f.state = *state;
        if (o.queue_opt->count() > 0) f.queue = o.queue;
        Result<std::optional<Duration>> older = OptionalDurationFlag("--older-than", o.older_opt, o.older_than);
        if (!older.ok()) return Fail(older.status());
        f.older_than = *older;
        return WithTarget(global, [&](JobTarget& t) -> Status {
          JW_ASSIGN_OR_RETURN(std::int64_t n, t.DeleteMany(f));
          std::cout << "deleted " << n << " job(s)\n";
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, PurgeOptions& o) {
        cmd.add_option("--state", o.state, "scheduled, available, succeeded, failed or cancelled")->required();
        o.queue_opt = cmd.add_option("--queue", o.queue, "Only this queue");
        o.older_opt = cmd.add_option("--older-than", o.older_than,
                                     "Only jobs finished (or created, if unfinished) longer ago than this");
      });

  AddCommand<ResetStuckOptions>(
      app, action, "reset-stuck", "Take back running jobs whose last heartbeat is older than DUR; prints count and ids",
      [&global](const ResetStuckOptions& o) {
        Result<Duration> older = DurationFlag("--older-than", o.older_than);
        if (!older.ok()) return Fail(older.status());
        return WithTarget(global, [&](JobTarget& t) -> Status {
          JW_ASSIGN_OR_RETURN(ResetStuckResult r, t.ResetStuck(*older));
          std::cout << "reset " << r.reset_count << " job(s)\n";
          for (JobId id : r.job_ids) std::cout << FormatJobId(id) << '\n';
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, ResetStuckOptions& o) {
        cmd.add_option("--older-than", o.older_than, "Heartbeat age, e.g. 10m")->required();
      });

  for (const bool pause : {true, false}) {
    AddCommand<QueueOptions>(
        app, action, pause ? "pause" : "resume", pause ? "Stop fetching from a queue" : "Fetch from a queue again",
        [&global, pause](const QueueOptions& o) {
          return WithTarget(global, [&](JobTarget& t) -> Status {
            // The queue is the positional QUEUE here, not a --queue flag.
            if (!IsValidName(o.queue, kMaxQueueNameLength)) {
              return Status::InvalidArgument("QUEUE: '" + o.queue + "' is not a valid queue name");
            }
            JW_RETURN_IF_ERROR(pause ? t.PauseQueue(o.queue) : t.ResumeQueue(o.queue));
            std::cout << "queue " << o.queue << ": " << (pause ? "paused" : "resumed") << '\n';
            return Status::Ok();
          });
        },
        [](CLI::App& cmd, QueueOptions& o) { cmd.add_option("QUEUE", o.queue, "Queue name")->required(); });
  }
}

}  // namespace

void AddJobCommands(CLI::App& app, GlobalOptions& global, Action& action) {
  AddEnqueue(app, global, action);
  AddReads(app, global, action);
  AddJobActions(app, global, action);
  AddMaintenance(app, global, action);
}

}  // namespace jobwarden::cli
