#include "worker/command_runner.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/lifecycle.h"
#include "protocol/job_json.h"

extern char** environ;

namespace jobwarden {

namespace {

std::string_view EnvName(std::string_view entry) { return entry.substr(0, entry.find('=')); }

bool IsSecret(std::string_view entry) {
  const std::string_view name = EnvName(entry);
  return name.rfind("JOBWARDEN_", 0) == 0 || name == "DATABASE_URL" || name.rfind("PG", 0) == 0;
}

// Set by the worker for each attempt; a kind's `env` cannot override them.
bool IsReserved(std::string_view name) { return name.rfind("JOBWARDEN_", 0) == 0; }

std::string FmtCommand(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += a.size() > 60 ? a.substr(0, 57) + "..." : a;
  }
  return out;
}

// What the handler reported on fd 3 that decides its outcome: written on the
// supervisor thread as lines arrive, read once the process is gone.
struct Fd3Outcome {
  Mutex mu;
  std::optional<ControlMessage> error GUARDED_BY(mu);  // the last error line
  std::optional<std::string> result GUARDED_BY(mu);    // the last result line
  std::vector<std::string> batches GUARDED_BY(mu);     // every batch line, submitted if the run succeeds
};

// The attempt's command line, environment, directory and stdin (the job JSON).
CommandSpec SpecFor(const Job& job, const CommandKind& kind) {
  CommandSpec spec;
  spec.argv = kind.command;
  spec.env = HandlerEnvironment(job, kind);
  spec.cwd = kind.cwd;
  spec.name = "job " + FormatJobId(job.id) + " [" + job.kind + "] attempt " + std::to_string(job.attempt);
  spec.log_fields = OwnedLogFields(JobLogFields(job));
  nlohmann::json in = JobToJson(job);
  in["deadline"] = AttemptDeadline(job) ? nlohmann::json(FormatRfc3339(*AttemptDeadline(job))) : nullptr;
  spec.stdin_data = in.dump();
  spec.stdin_data += '\n';
  return spec;
}

// fd-3 messages arrive on the supervisor thread: record them, never block.
// Progress and checkpoints go to the active job at once; the last error and
// result wait in `fd3` for the exit.
ControlCallback RecordControl(std::shared_ptr<ActiveJob> a, std::shared_ptr<Fd3Outcome> fd3, std::string name) {
  return [a = std::move(a), fd3 = std::move(fd3), name = std::move(name)](const ControlMessage& m) {
    switch (m.type) {
      case ControlMessage::Type::kProgress: RecordProgress(*a, m.progress); break;
      case ControlMessage::Type::kCheckpoint: {
        Status s = RecordCheckpoint(*a, m.json);
        if (!s.ok()) spdlog::error("{}: fd-3 checkpoint ignored: {}", name, s.message());
        break;
      }
      case ControlMessage::Type::kResult: {
        MutexLock lock(fd3->mu);
        fd3->result = m.json;
        break;
      }
      case ControlMessage::Type::kError: {
        MutexLock lock(fd3->mu);
        fd3->error = m;
        break;
      }
      case ControlMessage::Type::kBatch: {
        MutexLock lock(fd3->mu);
        fd3->batches.push_back(m.json);
        break;
      }
    }
  };
}

}  // namespace

std::vector<std::string> HandlerEnvironment(const Job& job, const CommandKind& kind) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (IsSecret(entry)) continue;
    const std::string name(entry.substr(0, entry.find('=')));
    if (kind.env.count(name) != 0) continue;  // the kind's value wins
    env.emplace_back(entry);
  }
  for (const auto& [k, v] : kind.env) {
    if (IsReserved(k)) {
      spdlog::warn("kind {}: env {} is reserved for the worker; ignored", job.kind, k);
      continue;
    }
    env.push_back(k + "=" + v);
  }
  env.push_back("JOBWARDEN_JOB_ID=" + FormatJobId(job.id));
  env.push_back("JOBWARDEN_JOB_KIND=" + job.kind);
  env.push_back("JOBWARDEN_ATTEMPT=" + std::to_string(job.attempt));
  if (auto deadline = AttemptDeadline(job)) env.push_back("JOBWARDEN_DEADLINE=" + FormatRfc3339(*deadline));
  env.push_back("JOBWARDEN_LEASE_TOKEN=" + std::to_string(job.lease_token));
  env.push_back("JOBWARDEN_CONTROL_FD=3");
  return env;
}

RunOutcome FromExitStatus(const Job& job, const ExitInfo& exit, StopReason stop,
                          const std::optional<ControlMessage>& fd3_error, const std::optional<std::string>& fd3_result,
                          const std::map<int, ErrorClass>& exit_codes) {
  RunOutcome out;
  out.failure.output_tail = exit.output_tail.empty() ? std::nullopt : std::optional<std::string>(exit.output_tail);
  // The worker's stop decides only if it reached the process: one that ended
  // on its own as the stop was being sent keeps its own outcome. (A handler
  // that exits 0 after SIGTERM, say with a final checkpoint, was stopped: its
  // work is not done.)
  if (stop != StopReason::kNone && exit.killed_by_us) {
    out.stopped = true;
    auto tail = out.failure.output_tail;
    out.failure = StoppedFailure(job, stop);
    out.failure.output_tail = tail;
    if (exit.signaled) out.failure.message += " (ended by " + SignalName(exit.signal) + ")";
    return out;
  }
  if (exit.signaled) {
    out.failure.error_class = ErrorClass::kCrashed;
    out.failure.message = "handler process killed by " + SignalName(exit.signal);
    return out;
  }
  if (fd3_error) {
    out.failure.error_class = fd3_error->error_class;
    out.failure.message = fd3_error->error_message;
    out.failure.retry_after = fd3_error->retry_after;
    return out;
  }
  if (exit.exit_code == 0) {
    out.success = true;
    out.result = fd3_result;
    return out;
  }
  out.failure.error_class = ErrorClass::kTransient;
  if (exit.exit_code == 75) {
    out.failure.message = "handler exited with code 75 (EX_TEMPFAIL)";
    return out;
  }
  if (auto it = exit_codes.find(exit.exit_code); it != exit_codes.end()) out.failure.error_class = it->second;
  out.failure.message = "handler exited with code " + std::to_string(exit.exit_code);
  return out;
}

CommandRunner::CommandRunner(SubprocessSupervisor& supervisor, CommandKind kind)
    : supervisor_(supervisor), kind_(std::move(kind)) {}

RunOutcome CommandRunner::Run(const std::shared_ptr<ActiveJob>& a) {
  const Job& job = a->job;
  const CommandSpec spec = SpecFor(job, kind_);
  auto fd3 = std::make_shared<Fd3Outcome>();
  auto started = supervisor_.Start(spec, RecordControl(a, fd3, spec.name));
  if (!started.ok()) {
    RunOutcome out;
    out.failure.error_class = ErrorClass::kTransient;
    out.failure.message = "cannot start the handler (" + FmtCommand(kind_.command) + "): " + started.status().message();
    return out;
  }
  std::shared_ptr<Subprocess> proc = std::move(started).value();
  const Duration grace = kind_.grace.value_or(a->grace);
  StopReason already;
  {
    MutexLock lock(a->mu);
    a->terminate = [proc, kind_grace = kind_.grace](Duration g) { proc->Terminate(kind_grace.value_or(g)); };
    a->kill = [proc] { proc->Kill(); };
    already = a->stop_reason;
  }
  // A stop that came while the process was starting.
  if (already == StopReason::kLeaseLost) {
    proc->Kill();
  } else if (already != StopReason::kNone) {
    proc->Terminate(grace);
  }

  const ExitInfo exit = proc->Wait();
  StopReason stop;
  {
    MutexLock lock(a->mu);
    a->terminate = nullptr;
    a->kill = nullptr;
    stop = a->stop_reason;
  }
  MutexLock lock(fd3->mu);
  RunOutcome out = FromExitStatus(job, exit, stop, fd3->error, fd3->result, kind_.exit_codes);
  if (out.success) out.batches = std::move(fd3->batches);
  return out;
}

}  // namespace jobwarden
