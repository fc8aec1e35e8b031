#include "protocol/job_json.h"

#include "core/lifecycle.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>

namespace jobwarden {

namespace {

nlohmann::json TimeOrNull(const std::optional<Timestamp>& t) {
  return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
}

template <typename I>
void AppendInt(std::string& out, I v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendBool(std::string& out, bool b) { out += b ? "true" : "false"; }

// `null` for an empty optional, else what `append` writes for its value.
template <typename T, typename AppendValue>
void AppendOrNull(std::string& out, const std::optional<T>& v, AppendValue append) {
  if (v) {
    append(out, *v);
  } else {
    out += "null";
  }
}

// JSON text the store holds, as JsonOrNull/ParseStoredJson + dump write it.
void AppendStoredJson(std::string& out, const std::string& text) {
  // The common values are already in dump's form; skip the parse for them.
  if (text == "{}" || text == "null" || text == "[]") {
    out += text;
    return;
  }
  out += ParseStoredJson(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AppendStoredJsonOrNull(std::string& out, const std::optional<std::string>& text) {
  AppendOrNull(out, text, AppendStoredJson);
}

void AppendStringOrNull(std::string& out, const std::optional<std::string>& s) {
  AppendOrNull(out, s, AppendJsonString);
}

// `"name":` (names are plain ASCII, no escapes).
void Key(std::string& out, std::string_view name) {
  out += '"';
  out += name;
  out += "\":";
}

// Writes one object's fields in the order given, which must be sorted; the
// extra fields (sorted too) are slotted in at their sorted places.
class ObjectWriter {
 public:
  ObjectWriter(std::string& out, std::initializer_list<JsonField> extra)
      : out_(out), next_(extra.begin()), end_(extra.end()) {
    out_ += '{';
  }
  // Starts the field `name`: the comma, the extra fields before it, `"name":`.
  void Field(std::string_view name) {
    while (next_ != end_ && next_->name < name) WriteExtra();
    Separate();
    Key(out_, name);
  }
  void End() {
    while (next_ != end_) WriteExtra();
    out_ += '}';
  }

 private:
  void Separate() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  void WriteExtra() {
    Separate();
    Key(out_, next_->name);
    out_ += next_->json;
    ++next_;
  }
  std::string& out_;
  const JsonField* next_;
  const JsonField* end_;
  bool first_ = true;
};

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  bool plain = true;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x80 || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (!plain) {
    // Escapes, UTF-8 (and its replacement when invalid): nlohmann's own rules.
    out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

void AppendJsonSeconds(std::string& out, Duration d) {
  const std::int64_t ms = d.count();
  // Whole seconds print as nlohmann prints an integral double ("30.0").
  if (ms % 1000 == 0 && ms > -1'000'000'000'000 && ms < 1'000'000'000'000) {
    AppendInt(out, ms / 1000);
    out += ".0";
    return;
  }
  out += nlohmann::json(ToSeconds(d)).dump();
}

void AppendJsonTimeOrNull(std::string& out, const std::optional<Timestamp>& t) {
  AppendOrNull(out, t, [](std::string& o, Timestamp v) { AppendJsonString(o, FormatRfc3339(v)); });
}

void AppendJobJson(std::string& out, const Job& job, std::initializer_list<JsonField> extra) {
  const bool running = job.state == JobState::kRunning;
  // Keys in nlohmann's (std::map) order, as dump writes them.
  ObjectWriter w(out, extra);
  w.Field("args");
  AppendStoredJson(out, job.args);
  w.Field("at_risk");
  if (const std::optional<AtRisk> risk = ProjectAtRisk(job)) {
    out += "{\"limit\":";
    AppendJsonString(out, risk->limit);
    out += ",\"limit_at\":";
    AppendJsonString(out, FormatRfc3339(risk->limit_at));
    out += ",\"projected_finish_at\":";
    AppendJsonString(out, FormatRfc3339(risk->projected_finish_at));
    out += '}';
  } else {
    out += "null";
  }
  w.Field("attempt");
  AppendInt(out, job.attempt);
  w.Field("batch_id");
  AppendStringOrNull(out, job.batch_id);
  w.Field("cancel_reason");
  if (job.cancel_requested && job.cancel_reason != CancelReason::kNone) {
    AppendJsonString(out, ToString(job.cancel_reason));
  } else {
    out += "null";
  }
  w.Field("cancel_requested");
  AppendBool(out, job.cancel_requested);
  w.Field("checkpoint");
  AppendStoredJsonOrNull(out, job.checkpoint);
  w.Field("cost");
  AppendInt(out, job.cost);
  w.Field("created_at");
  AppendJsonString(out, FormatRfc3339(job.created_at));
  w.Field("deadline_at");
  AppendJsonTimeOrNull(out, job.deadline_at);
  w.Field("errors");
  out += '[';
  for (std::size_t i = 0; i < job.errors.size(); ++i) {
    if (i > 0) out += ',';
    out += ErrorEntryToJson(job.errors[i]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  out += ']';
  w.Field("finished_at");
  AppendJsonTimeOrNull(out, job.finished_at);
  w.Field("heartbeat_at");
  AppendJsonTimeOrNull(out, job.heartbeat_at);
  w.Field("id");
  out += '"';
  AppendInt(out, job.id);
  out += '"';
  w.Field("kind");
  AppendJsonString(out, job.kind);
  w.Field("lease_expires_at");
  if (running) {
    AppendJsonTimeOrNull(out, job.lease_expires_at);
  } else {
    out += "null";
  }
  // The current lease's fencing token (G5): what a dashboard shows as the
  // proof of who holds the job. Not a secret: every call that uses it also
  // needs a worker token.
  w.Field("lease_token");
  if (running && job.lease_token > 0) {
    AppendInt(out, job.lease_token);
  } else {
    out += "null";
  }
  w.Field("max_attempts");
  AppendInt(out, job.max_attempts);
  w.Field("priority");
  AppendInt(out, job.priority);
  w.Field("progress");
  out += '{';
  Key(out, "done");
  AppendInt(out, job.progress.done);
  out += ',';
  Key(out, "message");
  AppendJsonString(out, job.progress.message);
  out += ',';
  Key(out, "total");
  AppendOrNull(out, job.progress.total, AppendInt<std::int64_t>);
  out += ',';
  Key(out, "updated_at");
  AppendJsonTimeOrNull(out, job.progress.updated_at);
  out += '}';
  w.Field("queue");
  AppendJsonString(out, job.queue);
  w.Field("resource_key");
  AppendStringOrNull(out, job.resource_key);
  w.Field("result");
  AppendStoredJsonOrNull(out, job.result);
  w.Field("run_at");
  AppendJsonString(out, FormatRfc3339(job.run_at));
  w.Field("stall_timeout_s");
  AppendOrNull(out, job.stall_timeout, AppendJsonSeconds);
  w.Field("started_at");
  AppendJsonTimeOrNull(out, job.started_at);
  w.Field("state");
  AppendJsonString(out, ToString(job.state));
  w.Field("tags");
  out += '[';
  for (std::size_t i = 0; i < job.tags.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, job.tags[i]);
  }
  out += ']';
  w.Field("timeout_s");
  AppendJsonSeconds(out, job.timeout);
  w.Field("unique_key");
  AppendStringOrNull(out, job.unique_key);
  w.Field("worker_id");
  AppendStringOrNull(out, job.worker_id);
  w.End();
}

nlohmann::json ParseStoredJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return nlohmann::json(text);
  return j;
}

nlohmann::json ProgressToJson(const Progress& p) {
  return {{"done", p.done},
          {"total", p.total ? nlohmann::json(*p.total) : nlohmann::json(nullptr)},
          {"message", p.message},
          {"updated_at", TimeOrNull(p.updated_at)}};
}

nlohmann::json ErrorEntryToJson(const ErrorEntry& e) {
  nlohmann::json j = {{"attempt", e.attempt},
                      {"class", std::string(ToString(e.error_class))},
                      {"message", e.message},
                      {"at", FormatRfc3339(e.at)},
                      {"counted", e.counted}};
  if (e.limit) j["limit"] = *e.limit;
  if (e.output_tail) j["output_tail"] = *e.output_tail;
  return j;
}

// The tree is read back from the one writer, AppendJobJson, so the two
// cannot differ by a field.
nlohmann::json JobToJson(const Job& job) { return nlohmann::json::parse(JobJsonText(job)); }

std::string JobJsonText(const Job& job) {
  std::string out;
  out.reserve(768);
  AppendJobJson(out, job);
  return out;
}

Result<Progress> ProgressFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::InvalidArgument("progress: must be an object");
  Progress p;
  auto done = j.find("done");
  if (done == j.end() || !done->is_number_integer() || done->get<std::int64_t>() < 0) {
    return Status::InvalidArgument("progress.done: must be a non-negative integer");
  }
  p.done = done->get<std::int64_t>();
  if (auto total = j.find("total"); total != j.end() && !total->is_null()) {
    if (!total->is_number_integer() || total->get<std::int64_t>() < 0) {
      return Status::InvalidArgument("progress.total: must be a non-negative integer or null");
    }
    p.total = total->get<std::int64_t>();
  }
  if (auto msg = j.find("message"); msg != j.end() && !msg->is_null()) {
    if (!msg->is_string()) return Status::InvalidArgument("progress.message: must be a string");
    p.message = msg->get<std::string>();
  }
  return p;
}

}  // namespace jobwarden
