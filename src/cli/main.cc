// Temporary entry point: replaced by the full CLI in this same change set.
#include "cli/cli.h"

int main(int argc, char** argv) {
  CLI::App app{"jobwarden: a durable background-job server and worker runtime"};
  jobwarden::cli::GlobalOptions global;
  jobwarden::cli::Action action;
  jobwarden::cli::AddWorkerCommands(app, global, action);
  jobwarden::cli::AddServerCommands(app, global, action);
  CLI11_PARSE(app, argc, argv);
  return action ? action() : 0;
}
