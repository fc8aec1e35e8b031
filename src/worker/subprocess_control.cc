// The fd-3 control channel (JOBWARDEN_CONTROL_FD): the supervisor thread's
// reader, which splits what a handler writes into lines (bounded by
// max_control_line) and hands each valid one to the attempt's callback, and
// ParseControlLine, the one parser of the line format.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "protocol/job_json.h"
#include "worker/subprocess_internal.h"

namespace jobwarden {

namespace subprocess_internal {

void SupervisorImpl::ReadControl(Attempt& a) {
  char buf[kReadChunk];
  for (int i = 0; i < 8 && a.ctl_; ++i) {
    const ssize_t n = ::read(a.ctl_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      if (n < 0) spdlog::warn("{}: reading fd 3: {}", a.name_, ErrnoText(errno));
      // A last line without its newline still counts.
      if (!a.skipping_long_line_ && !a.line_.empty()) HandleLine(a, a.line_);
      std::string().swap(a.line_);
      Unwatch(a.ctl_);
      return;
    }
    ConsumeControl(a, std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

void SupervisorImpl::ConsumeControl(Attempt& a, std::string_view data) {
  while (!data.empty()) {
    const std::size_t nl = data.find('\n');
    const std::string_view part = data.substr(0, nl);
    if (!a.skipping_long_line_) {
      if (a.line_.size() + part.size() > a.max_line_) {
        a.skipping_long_line_ = true;
        std::string().swap(a.line_);
        spdlog::warn("{}: ignored an fd-3 line longer than {} bytes", a.name_, a.max_line_);
      } else {
        a.line_.append(part);
      }
    }
    if (nl == std::string_view::npos) return;
    if (!a.skipping_long_line_) HandleLine(a, a.line_);
    a.line_.clear();
    a.skipping_long_line_ = false;
    data.remove_prefix(nl + 1);
  }
}

void SupervisorImpl::HandleLine(Attempt& a, std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank lines are fine
  auto m = ParseControlLine(line);
  if (!m.ok()) {
    if (++a.bad_lines_ <= kMaxLoggedBadLines) {
      spdlog::warn("{}: ignored a malformed fd-3 line ({}): {}", a.name_, m.status().message(), line.substr(0, 200));
    }
    return;
  }
  if (!a.on_control_) return;
  try {
    a.on_control_(*m);
  } catch (const std::exception& e) {
    spdlog::error("{}: the fd-3 callback threw: {}", a.name_, e.what());
  }
}

}  // namespace subprocess_internal

Result<ControlMessage> ParseControlLine(std::string_view line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return Status::InvalidArgument("expected a JSON object such as {\"progress\": {...}}");
  if (j.size() != 1) {
    return Status::InvalidArgument("expected exactly one of progress, checkpoint, result, error or batch; got " +
                                   std::to_string(j.size()) + " keys");
  }
  const auto item = j.begin();
  const std::string& key = item.key();
  const nlohmann::json& value = item.value();
  ControlMessage m;
  try {
    if (key == "progress") {
      JW_ASSIGN_OR_RETURN(m.progress, ProgressFromJson(value));
      m.type = ControlMessage::Type::kProgress;
    } else if (key == "checkpoint" || key == "result") {
      m.type = key == "checkpoint" ? ControlMessage::Type::kCheckpoint : ControlMessage::Type::kResult;
      m.json = value.dump();
    } else if (key == "batch") {
      // Its fields are the server's to check (POST /v1/batches); here only its shape.
      if (!value.is_object()) return Status::InvalidArgument("batch: must be an object like POST /v1/batches' body");
      m.type = ControlMessage::Type::kBatch;
      m.json = value.dump();
    } else if (key == "error") {
      if (!value.is_object()) return Status::InvalidArgument("error: must be an object with class and message");
      auto cls = value.find("class");
      if (cls == value.end() || !cls->is_string()) return Status::InvalidArgument("error.class: must be a string");
      auto parsed = ParseErrorClass(cls->get<std::string>());
      if (!parsed || (*parsed != ErrorClass::kTransient && *parsed != ErrorClass::kPermanent &&
                      *parsed != ErrorClass::kRateLimited)) {
        return Status::InvalidArgument("error.class: '" + cls->get<std::string>() +
                                       "' is not one a handler may declare (transient, permanent, rate_limited)");
      }
      m.type = ControlMessage::Type::kError;
      m.error_class = *parsed;
      if (auto msg = value.find("message"); msg != value.end() && !msg->is_null()) {
        if (!msg->is_string()) return Status::InvalidArgument("error.message: must be a string");
        m.error_message = msg->get<std::string>();
      }
      if (m.error_message.empty())
        m.error_message = "the handler reported a " + std::string(ToString(*parsed)) + " error";
      if (auto ra = value.find("retry_after_s"); ra != value.end() && !ra->is_null()) {
        if (!ra->is_number()) return Status::InvalidArgument("error.retry_after_s: must be a number of seconds");
        auto d = FromSeconds(ra->get<double>());
        if (!d.ok()) return d.status().WithContext("error.retry_after_s");
        m.retry_after = *d;
      }
    } else {
      return Status::InvalidArgument("unknown key '" + key +
                                     "' (expected progress, checkpoint, result, error or batch)");
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("cannot read the line: ") + e.what());
  }
  return m;
}

}  // namespace jobwarden
