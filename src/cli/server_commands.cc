// `jobwarden server`: lands with the HTTP server (issue #4).
#include "cli/cli.h"

namespace jobwarden::cli {

void AddServerCommands(CLI::App& /*app*/, GlobalOptions& /*global*/, Action& /*action*/) {}

}  // namespace jobwarden::cli
