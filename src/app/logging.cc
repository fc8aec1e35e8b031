#include "app/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

namespace jobwarden {

void InitProcessLogging() {
  constexpr const char* kName = "jobwarden";
  // main() may have made the stderr logger already; then only its format changes.
  auto logger = spdlog::get(kName);
  if (logger == nullptr) logger = spdlog::stderr_color_mt(kName);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::info);
  if (const char* level = std::getenv("JOBWARDEN_LOG_LEVEL"); level != nullptr && *level != '\0') {
    const auto parsed = spdlog::level::from_str(level);
    if (parsed == spdlog::level::off && std::string(level) != "off") {
      spdlog::warn("JOBWARDEN_LOG_LEVEL: unknown level '{}', using info", level);
    } else {
      spdlog::set_level(parsed);
    }
  }
  // Each line reaches the terminal (or the log file a supervisor collects) at once.
  spdlog::flush_on(spdlog::level::trace);
}

}  // namespace jobwarden
