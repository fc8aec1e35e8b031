// `jobwarden worker` and `jobwarden up`: land with the worker runtime wiring (issue #3).
#include "cli/cli.h"

namespace jobwarden::cli {

void AddWorkerCommands(CLI::App& /*app*/, GlobalOptions& /*global*/, Action& /*action*/) {}

}  // namespace jobwarden::cli
