// The `jobwarden` command line: subcommands only (DESIGN.md "CLI"). Each
// group of subcommands lives in its own file and registers itself on the
// CLI11 app; the chosen subcommand sets `action`, which main() runs once
// parsing succeeded, so every parse error is mapped in one place (exit 2).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>

#include "core/log_fields.h"
#include "core/status.h"

namespace jobwarden::cli {

// Exit codes (DESIGN.md "CLI exit codes").
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;         // not found or refused
inline constexpr int kExitUsage = 2;           // usage or invalid input
inline constexpr int kExitInfrastructure = 3;  // server unreachable, database unusable

// Options every subcommand accepts, before or after the subcommand.
struct GlobalOptions {
  std::string db;      // --db, default $JOBWARDEN_DB, else ./var/jobwarden.db
  std::string server;  // --server URL, default $JOBWARDEN_SERVER (remote mode)
  std::string token;   // --token, default $JOBWARDEN_TOKEN
  // --local: open the --db file even when a server announces itself in the
  // discovery file beside it (client/discovery.h).
  bool local = false;
  // --log-format text|json, default $JOBWARDEN_LOG_FORMAT; absent when neither
  // was given: then a server's `[server] log_format`, else text.
  std::optional<LogFormat> log_format;
};

// What the parsed subcommand does; returns the process exit code.
using Action = std::function<int()>;

// The one mapping from a Status to an exit code (and a one-line reason on stderr).
int Fail(const Status& status);

// Subcommand groups. Each adds its subcommands to `app`; the one the user
// chose sets `action`.
void AddJobCommands(CLI::App& app, GlobalOptions& global, Action& action);      // cli/job_commands.cc
void AddWorkerCommands(CLI::App& app, GlobalOptions& global, Action& action);   // cli/worker_commands.cc
void AddServerCommands(CLI::App& app, GlobalOptions& global, Action& action);   // cli/server_commands.cc
void AddFlowCommands(CLI::App& app, GlobalOptions& global, Action& action);     // cli/flow_commands.cc
void AddBatchCommands(CLI::App& app, GlobalOptions& global, Action& action);    // cli/batch_commands.cc
void AddFailureCommands(CLI::App& app, GlobalOptions& global, Action& action);  // cli/failure_commands.cc

}  // namespace jobwarden::cli
