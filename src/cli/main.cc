// The `jobwarden` entry point: global options, the subcommand groups, and the
// two mappings to exit codes (DESIGN.md "CLI exit codes"): every CLI11 parse
// error becomes 2 here, and every Status becomes its code in Fail() below.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <exception>
#include <iostream>

#include "app/logging.h"
#include "cli/cli.h"

namespace jobwarden::cli {

int Fail(const Status& status) {
  int code = kExitInfrastructure;
  switch (status.code()) {
    case StatusCode::kOk: return kExitOk;
    case StatusCode::kNotFound:
    case StatusCode::kConflict:
    case StatusCode::kLeaseLost: code = kExitRefused; break;
    case StatusCode::kInvalidArgument:
    case StatusCode::kCheckpointTooLarge:
    case StatusCode::kNotSupported: code = kExitUsage; break;
    case StatusCode::kUnavailable:
    case StatusCode::kInternal: code = kExitInfrastructure; break;
  }
  // One line: a reason a script can log and a person can read.
  std::string line = status.message();
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (CurrentLogFormat() == LogFormat::kJson) {
    WriteStderrLine(spdlog::level::err, line);  // a process that logs JSON writes only JSON to stderr
  } else {
    std::cerr << "jobwarden: " << line << '\n';
  }
  return code;
}

}  // namespace jobwarden::cli

namespace {

std::string DefaultDb() {
  const char* env = std::getenv("JOBWARDEN_DB");
  return env != nullptr && *env != '\0' ? env : "./var/jobwarden.db";
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = jobwarden::cli;
  // Logs go to stderr: stdout is each command's answer (`id=$(jobwarden enqueue ...)`).
  spdlog::set_default_logger(spdlog::stderr_color_mt("jobwarden"));

  CLI::App app{"jobwarden: a durable background-job server and worker runtime"};
  app.name("jobwarden");
  // Subcommands created from here on hand options they do not know to the app,
  // so the global options work before or after the subcommand.
  app.fallthrough();

  cli::GlobalOptions global;
  global.db = DefaultDb();
  app.add_option("--db", global.db, "SQLite database file (env JOBWARDEN_DB); its directory is created")
      ->capture_default_str();
  app.add_option("--server", global.server, "Server URL for remote mode (env JOBWARDEN_SERVER)")
      ->envname("JOBWARDEN_SERVER");
  app.add_option("--token", global.token, "Bearer token for remote mode (env JOBWARDEN_TOKEN)")
      ->envname("JOBWARDEN_TOKEN");
  app.add_flag("--local", global.local,
               "Open the --db file directly even when a server runs on it (its discovery file is beside it)");
  std::string log_format;
  app.add_option("--log-format", log_format,
                 "Logs on stderr: text, or json (one object per line) (env JOBWARDEN_LOG_FORMAT; default: the "
                 "config's [server] log_format, else text)")
      ->envname("JOBWARDEN_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}));

  cli::Action action;
  cli::AddJobCommands(app, global, action);
  cli::AddWorkerCommands(app, global, action);
  cli::AddServerCommands(app, global, action);
  cli::AddFlowCommands(app, global, action);
  cli::AddBatchCommands(app, global, action);
  cli::AddFailureCommands(app, global, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "jobwarden: " << e.what() << " (run with --help for usage)\n";
    return cli::kExitUsage;
  }
  if (!log_format.empty()) {
    global.log_format = jobwarden::ParseLogFormat(log_format);  // checked by IsMember above
    jobwarden::SetLogFormat(*global.log_format);
  }

  if (!action) {
    if (!app.get_subcommands().empty()) return cli::kExitOk;
    std::cerr << "jobwarden: a command is required (run with --help for the list)\n";
    return cli::kExitUsage;
  }
  try {
    return action();
  } catch (const std::exception& e) {
    // A library threw past its adapter: a bug, reported like any other failure.
    return cli::Fail(jobwarden::Status::Internal(std::string("unexpected error: ") + e.what()));
  }
}
