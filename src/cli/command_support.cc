#include "cli/command_support.h"

#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <map>

namespace jobwarden::cli {

Status Flag(std::string_view flag, const Status& s) { return Status(s.code(), std::string(flag) + ": " + s.message()); }

Result<Duration> DurationFlag(std::string_view flag, const std::string& text) {
  Result<Duration> d = ParseDuration(text);
  if (!d.ok()) return Flag(flag, d.status());
  return d;
}

Result<std::optional<Duration>> OptionalDurationFlag(std::string_view flag, const CLI::Option* opt,
                                                     const std::string& text) {
  if (opt->count() == 0) return std::optional<Duration>();
  JW_ASSIGN_OR_RETURN(Duration d, DurationFlag(flag, text));
  return std::optional<Duration>(d);
}

Status NameEngineFields(const Status& s) {
  static const std::map<std::string, std::string, std::less<>> kFlags = {
      {"kind", "KIND"},
      {"args", "--args"},
      {"queue", "--queue"},
      {"priority", "--priority"},
      {"timeout", "--timeout"},
      {"stall_timeout", "--stall-timeout"},
      {"deadline", "--deadline"},
      {"delay", "--delay"},
      {"run_at", "--delay"},
      {"max_attempts", "--max-attempts"},
      {"unique_key", "--unique-key"},
      {"resource_key", "--resource-key"},
      {"tags", "--tag"},
      {"limit", "--limit"},
      {"state", "--state"},
      {"older_than", "--older-than"},
      {"cost", "--cost"},
      // Flow-control limits (`queue set`, `resource set`).
      {"concurrency", "--concurrency"},
      {"warn_depth", "--warn-depth"},
      {"warn_age", "--warn-age"},
      {"rate", "--rate"},
      {"burst", "--burst"},
      {"breaker_failures", "--breaker-failures"},
      {"breaker_cooldown", "--breaker-cooldown"},
      // The server's field names (remote mode).
      {"timeout_s", "--timeout"},
      {"stall_timeout_s", "--stall-timeout"},
      {"deadline_s", "--deadline"},
      {"deadline_at", "--deadline"},
      {"delay_s", "--delay"},
      {"older_than_s", "--older-than"},
      {"warn_age_s", "--warn-age"},
      {"breaker_cooldown_s", "--breaker-cooldown"},
  };
  if (s.code() != StatusCode::kInvalidArgument) return s;
  const std::string& m = s.message();
  const std::size_t colon = m.find(": ");
  if (colon == std::string::npos) return s;
  auto it = kFlags.find(std::string_view(m).substr(0, colon));
  if (it == kFlags.end()) return s;
  return Status::InvalidArgument(it->second + m.substr(colon));
}

int WithTarget(const GlobalOptions& global, const std::function<Status(JobTarget&)>& body) {
  // A one-shot command's answer is its output and exit code; the engine's own
  // logs (a state change it just made) would only repeat it. SPDLOG_LEVEL=info shows them.
  spdlog::set_level(spdlog::level::err);
  spdlog::cfg::load_env_levels();
  Result<std::unique_ptr<JobTarget>> target = OpenJobTarget(global);
  if (!target.ok()) return Fail(target.status());
  Status s = body(**target);
  if (!s.ok()) return Fail(NameEngineFields(s));
  return kExitOk;
}

void Refresh(JobTarget& target) {
  Status s = target.Refresh();
  if (!s.ok()) std::cerr << "jobwarden: warning: reaper pass failed, the view may be stale: " << s.message() << '\n';
}

}  // namespace jobwarden::cli
