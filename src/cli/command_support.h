// What every subcommand that talks to a JobTarget shares: flag-naming
// errors, opening the target and running the command's body on it (every
// failure leaves through cli::Fail, the one mapping to exit codes), and the
// CLI11 registration of one command with its options.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cli/cli.h"
#include "cli/job_target.h"
#include "core/status.h"
#include "core/time.h"

namespace jobwarden::cli {

// `s` with its message prefixed by the flag: "--timeout: ...".
Status Flag(std::string_view flag, const Status& s);

Result<Duration> DurationFlag(std::string_view flag, const std::string& text);

// An optional duration flag: absent when the flag was not given.
Result<std::optional<Duration>> OptionalDurationFlag(std::string_view flag, const CLI::Option* opt,
                                                     const std::string& text);

// The engine and the server name their fields ("max_attempts: must be
// 1-1000"); a person typed flags, so such messages are rewritten to name the
// flag ("--max-attempts: ..."). Other messages are unchanged.
Status NameEngineFields(const Status& s);

// Opens the target the global options name and runs `body` on it; every
// failure, from opening to the last call, leaves through cli::Fail.
int WithTarget(const GlobalOptions& global, const std::function<Status(JobTarget&)>& body);

// Before a read: one reaper pass so that what is shown is current. A failed
// pass is worth a warning, not the read.
void Refresh(JobTarget& target);

// Registers `name` with options filled by `setup`, and makes its run the action.
template <typename Options>
CLI::App* AddCommand(CLI::App& app, Action& action, const std::string& name, const std::string& description,
                     std::function<int(const Options&)> run, const std::function<void(CLI::App&, Options&)>& setup) {
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(name, description);
  setup(*cmd, *opts);
  cmd->callback([&action, opts, run = std::move(run)] { action = [opts, run] { return run(*opts); }; });
  return cmd;
}

}  // namespace jobwarden::cli
