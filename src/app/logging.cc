#include "app/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/time.h"

namespace jobwarden {

namespace {

constexpr const char* kLoggerName = "jobwarden";
// The text pattern of long-running commands: "2026-12-04 18:55:01.123 info  msg".
constexpr const char* kTextPattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v";

std::atomic<LogFormat> log_format{LogFormat::kText};
// Whether InitProcessLogging ran: then text is kTextPattern, else spdlog's own "%+".
std::atomic<bool> process_logging{false};

// One-shot commands log text with spdlog's default pattern, long-running ones
// (InitProcessLogging) with kTextPattern; JSON is the same for both.
void ApplyFormat(spdlog::logger& logger) {
  if (log_format.load() == LogFormat::kJson) {
    logger.set_formatter(std::make_unique<JsonLogFormatter>());
  } else {
    logger.set_pattern(process_logging.load() ? kTextPattern : "%+");
  }
}

// The names log shippers expect (spdlog's own say "warning" for warn).
std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    case spdlog::level::off:
    case spdlog::level::n_levels: break;
  }
  return "off";
}

}  // namespace

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  nlohmann::ordered_json line;
  line["ts"] = FormatRfc3339(std::chrono::time_point_cast<Duration>(msg.time));
  line["level"] = LevelName(msg.level);
  line["msg"] = std::string_view(msg.payload.data(), msg.payload.size());
  if (const LogFields* f = CurrentLogFields(); f != nullptr) {
    if (f->job_id) line["job_id"] = FormatJobId(*f->job_id);
    if (!f->kind.empty()) line["kind"] = f->kind;
    if (f->attempt) line["attempt"] = *f->attempt;
    if (!f->worker_id.empty()) line["worker_id"] = f->worker_id;
  }
  // ensure_ascii = false keeps valid UTF-8 as it is; `replace` turns invalid
  // bytes into U+FFFD instead of throwing, so no message can break a line.
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  dest.append(text.data(), text.data() + text.size());
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const { return std::make_unique<JsonLogFormatter>(); }

void SetLogFormat(LogFormat format) {
  // The same format again changes nothing: text stays byte for byte as it was.
  if (log_format.exchange(format) == format) return;
  ApplyFormat(*spdlog::default_logger());
}

LogFormat CurrentLogFormat() { return log_format.load(); }

void WriteStderrLine(spdlog::level::level_enum level, std::string_view line) {
  if (log_format.load() != LogFormat::kJson) {
    std::cerr << line << std::endl;
    return;
  }
  // Through the default logger's sinks (its formatter), not its level filter.
  const auto logger = spdlog::default_logger();
  const spdlog::details::log_msg msg(logger->name(), level, spdlog::string_view_t(line.data(), line.size()));
  for (const auto& sink : logger->sinks()) {
    sink->log(msg);
    sink->flush();
  }
}

void InitProcessLogging() {
  // main() may have made the stderr logger already; then only its format changes.
  auto logger = spdlog::get(kLoggerName);
  if (logger == nullptr) logger = spdlog::stderr_color_mt(kLoggerName);
  process_logging.store(true);
  ApplyFormat(*logger);
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
