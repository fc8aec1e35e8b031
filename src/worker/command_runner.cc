#include "worker/command_runner.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/lifecycle.h"
#include "engine/job_json.h"

extern char** environ;

namespace jobwarden {

namespace {

bool IsSecret(std::string_view entry) {
  const std::string_view name = entry.substr(0, entry.find('='));
  return name.rfind("JOBWARDEN_", 0) == 0 || name == "DATABASE_URL" || name.rfind("PG", 0) == 0;
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
  for (const auto& [k, v] : kind.env) env.push_back(k + "=" + v);
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
  if (stop != StopReason::kNone) {
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
  CommandSpec spec;
  spec.argv = kind_.command;
  spec.env = HandlerEnvironment(job, kind_);
  spec.cwd = kind_.cwd;
  {
    nlohmann::json in = JobToJson(job);
    in["deadline"] = AttemptDeadline(job) ? nlohmann::json(FormatRfc3339(*AttemptDeadline(job))) : nullptr;
    spec.stdin_data = in.dump();
    spec.stdin_data += '\n';
  }

  // fd-3 messages arrive on the supervisor thread: record them, never block.
  struct Fd3 {
    std::mutex mu;
    std::optional<ControlMessage> error;   // GUARDED_BY(mu): the last error line
    std::optional<std::string> result;     // GUARDED_BY(mu): the last result line
  };
  auto fd3 = std::make_shared<Fd3>();
  auto on_control = [a, fd3](const ControlMessage& m) {
    switch (m.type) {
      case ControlMessage::Type::kProgress: {
        std::lock_guard<std::mutex> lock(a->mu);
        a->progress = m.progress;
        a->progress_dirty = true;
        break;
      }
      case ControlMessage::Type::kCheckpoint: {
        {
          std::lock_guard<std::mutex> lock(a->mu);
          a->checkpoint = m.json;
          a->checkpoint_dirty = true;
        }
        if (a->notifier) a->notifier->Notify();
        break;
      }
      case ControlMessage::Type::kResult: {
        std::lock_guard<std::mutex> lock(fd3->mu);
        fd3->result = m.json;
        break;
      }
      case ControlMessage::Type::kError: {
        std::lock_guard<std::mutex> lock(fd3->mu);
        fd3->error = m;
        break;
      }
    }
  };

  auto started = supervisor_.Start(spec, on_control);
  if (!started.ok()) {
    RunOutcome out;
    out.failure.error_class = ErrorClass::kTransient;
    out.failure.message = started.status().ToString();
    return out;
  }
  std::shared_ptr<Subprocess> proc = std::move(started).value();
  StopReason already;
  {
    std::lock_guard<std::mutex> lock(a->mu);
    a->terminate = [proc, kind_grace = kind_.grace](Duration grace) { proc->Terminate(kind_grace.value_or(grace)); };
    a->kill = [proc] { proc->Kill(); };
    already = a->stop_reason;
  }
  // A stop that came while the process was starting.
  if (already != StopReason::kNone) proc->Terminate(Duration(0));

  const ExitInfo exit = proc->Wait();
  StopReason stop;
  {
    std::lock_guard<std::mutex> lock(a->mu);
    a->terminate = nullptr;
    a->kill = nullptr;
    stop = a->stop_reason;
  }
  std::lock_guard<std::mutex> lock(fd3->mu);
  return FromExitStatus(job, exit, stop, fd3->error, fd3->result, kind_.exit_codes);
}

}  // namespace jobwarden
