#include "protocol/job_codec.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <charconv>
#include <cstdint>

#include "protocol/job_json.h"

namespace jobwarden {

namespace {

Status Bad(const std::string& field, const std::string& what) {
  return Status::Internal("server answer: " + field + ": " + what);
}

// A reader over one object: absent or null leaves the target unchanged.
class Reader {
 public:
  Reader(const nlohmann::json& j, std::string prefix) : j_(j), prefix_(std::move(prefix)) {}

  const nlohmann::json* Find(const char* name) const {
    auto it = j_.find(name);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  Status Str(const char* name, std::string& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return Bad(prefix_ + name, "must be a string");
    out = v->get<std::string>();
    return Status::Ok();
  }
  Status OptStr(const char* name, std::optional<std::string>& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return Bad(prefix_ + name, "must be a string");
    out = v->get<std::string>();
    return Status::Ok();
  }
  template <typename I>
  Status Int(const char* name, I& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_number_integer()) return Bad(prefix_ + name, "must be an integer");
    out = static_cast<I>(v->get<std::int64_t>());
    return Status::Ok();
  }
  Status Bool(const char* name, bool& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_boolean()) return Bad(prefix_ + name, "must be true or false");
    out = v->get<bool>();
    return Status::Ok();
  }
  Status Secs(const char* name, std::optional<Duration>& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_number()) return Bad(prefix_ + name, "must be a number of seconds");
    auto d = FromSeconds(v->get<double>());
    if (!d.ok()) return Bad(prefix_ + name, d.status().message());
    out = *d;
    return Status::Ok();
  }
  Status Time(const char* name, std::optional<Timestamp>& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return Bad(prefix_ + name, "must be an RFC 3339 time");
    auto t = ParseRfc3339(v->get<std::string>());
    if (!t.ok()) return Bad(prefix_ + name, t.status().message());
    out = *t;
    return Status::Ok();
  }
  // A JSON-valued field kept as text (args, checkpoint, result).
  Status Text(const char* name, std::optional<std::string>& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    out = v->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return Status::Ok();
  }

 private:
  const nlohmann::json& j_;
  std::string prefix_;
};

Result<ErrorEntry> ErrorEntryFromJson(const nlohmann::json& j, const std::string& prefix) {
  if (!j.is_object()) return Bad(prefix, "must be an object");
  Reader r(j, prefix + ".");
  ErrorEntry e;
  std::string cls;
  std::optional<Timestamp> at;
  JW_RETURN_IF_ERROR(r.Int("attempt", e.attempt));
  JW_RETURN_IF_ERROR(r.Str("class", cls));
  JW_RETURN_IF_ERROR(r.Str("message", e.message));
  JW_RETURN_IF_ERROR(r.Time("at", at));
  JW_RETURN_IF_ERROR(r.Bool("counted", e.counted));
  JW_RETURN_IF_ERROR(r.OptStr("limit", e.limit));
  JW_RETURN_IF_ERROR(r.OptStr("output_tail", e.output_tail));
  auto parsed = ParseErrorClass(cls);
  if (!parsed) return Bad(prefix + ".class", "'" + cls + "' is not an error class");
  e.error_class = *parsed;
  if (at) e.at = *at;
  return e;
}

}  // namespace

Result<Job> JobFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("job", "must be an object");
  Reader r(j, "job.");
  Job job;
  std::string id, state;
  JW_RETURN_IF_ERROR(r.Str("id", id));
  auto parsed_id = ParseJobId(id);
  if (!parsed_id.ok()) return Bad("job.id", "'" + id + "' is not a job id");
  job.id = *parsed_id;
  JW_RETURN_IF_ERROR(r.Str("kind", job.kind));
  JW_RETURN_IF_ERROR(r.Str("queue", job.queue));
  JW_RETURN_IF_ERROR(r.Int("priority", job.priority));
  JW_RETURN_IF_ERROR(r.Str("state", state));
  auto st = ParseJobState(state);
  if (!st) return Bad("job.state", "'" + state + "' is not a state");
  job.state = *st;
  std::optional<std::string> args;
  JW_RETURN_IF_ERROR(r.Text("args", args));
  if (args) job.args = *args;
  JW_RETURN_IF_ERROR(r.Int("attempt", job.attempt));
  JW_RETURN_IF_ERROR(r.Int("max_attempts", job.max_attempts));
  std::optional<Duration> timeout;
  JW_RETURN_IF_ERROR(r.Secs("timeout_s", timeout));
  if (timeout) job.timeout = *timeout;
  JW_RETURN_IF_ERROR(r.Secs("stall_timeout_s", job.stall_timeout));
  JW_RETURN_IF_ERROR(r.Time("deadline_at", job.deadline_at));
  std::optional<Timestamp> run_at, created_at;
  JW_RETURN_IF_ERROR(r.Time("run_at", run_at));
  JW_RETURN_IF_ERROR(r.Time("created_at", created_at));
  if (run_at) job.run_at = *run_at;
  if (created_at) job.created_at = *created_at;
  JW_RETURN_IF_ERROR(r.Time("started_at", job.started_at));
  JW_RETURN_IF_ERROR(r.Time("finished_at", job.finished_at));
  JW_RETURN_IF_ERROR(r.Time("heartbeat_at", job.heartbeat_at));
  JW_RETURN_IF_ERROR(r.Time("lease_expires_at", job.lease_expires_at));
  JW_RETURN_IF_ERROR(r.OptStr("worker_id", job.worker_id));
  JW_RETURN_IF_ERROR(r.Bool("cancel_requested", job.cancel_requested));
  std::optional<std::string> reason;
  JW_RETURN_IF_ERROR(r.OptStr("cancel_reason", reason));
  if (reason) {
    auto cr = ParseCancelReason(*reason);
    if (!cr) return Bad("job.cancel_reason", "'" + *reason + "' is not a cancel reason");
    job.cancel_reason = *cr;
  }
  if (const nlohmann::json* p = r.Find("progress")) {
    auto progress = ProgressFromJson(*p);
    if (!progress.ok()) return Bad("job.progress", progress.status().message());
    job.progress = std::move(progress).value();
    JW_RETURN_IF_ERROR(Reader(*p, "job.progress.").Time("updated_at", job.progress.updated_at));
  }
  JW_RETURN_IF_ERROR(r.Text("checkpoint", job.checkpoint));
  JW_RETURN_IF_ERROR(r.Text("result", job.result));
  if (const nlohmann::json* errors = r.Find("errors")) {
    if (!errors->is_array()) return Bad("job.errors", "must be an array");
    for (std::size_t i = 0; i < errors->size(); ++i) {
      JW_ASSIGN_OR_RETURN(ErrorEntry e, ErrorEntryFromJson((*errors)[i], "job.errors[" + std::to_string(i) + "]"));
      job.errors.push_back(std::move(e));
    }
  }
  JW_RETURN_IF_ERROR(r.OptStr("unique_key", job.unique_key));
  JW_RETURN_IF_ERROR(r.OptStr("resource_key", job.resource_key));
  JW_RETURN_IF_ERROR(r.OptStr("batch_id", job.batch_id));
  if (const nlohmann::json* tags = r.Find("tags")) {
    if (!tags->is_array()) return Bad("job.tags", "must be an array of strings");
    for (const auto& t : *tags) {
      if (!t.is_string()) return Bad("job.tags", "must be an array of strings");
      job.tags.push_back(t.get<std::string>());
    }
  }
  if (const nlohmann::json* lease = r.Find("lease")) {
    if (!lease->is_object()) return Bad("job.lease", "must be an object");
    Reader l(*lease, "job.lease.");
    JW_RETURN_IF_ERROR(l.Int("token", job.lease_token));
    JW_RETURN_IF_ERROR(l.Time("expires_at", job.lease_expires_at));
    std::optional<Duration> ttl, grace;
    JW_RETURN_IF_ERROR(l.Secs("ttl_s", ttl));
    JW_RETURN_IF_ERROR(l.Secs("grace_s", grace));
    if (ttl) job.lease_ttl = *ttl;
    if (grace) job.grace = *grace;
  }
  return job;
}

Result<std::vector<Job>> JobsFromJson(const nlohmann::json& array) {
  if (!array.is_array()) return Bad("jobs", "must be an array");
  std::vector<Job> jobs;
  jobs.reserve(array.size());
  for (const auto& j : array) {
    JW_ASSIGN_OR_RETURN(Job job, JobFromJson(j));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

nlohmann::json EnqueueRequestToJson(const EnqueueRequest& r) {
  nlohmann::json j = {{"kind", r.kind}};
  if (r.args) j["args"] = ParseStoredJson(*r.args);
  if (r.queue) j["queue"] = *r.queue;
  if (r.priority) j["priority"] = *r.priority;
  if (r.timeout) j["timeout_s"] = ToSeconds(*r.timeout);
  if (r.stall_timeout) j["stall_timeout_s"] = ToSeconds(*r.stall_timeout);
  if (r.deadline_in) j["deadline_s"] = ToSeconds(*r.deadline_in);
  if (r.deadline_at) j["deadline_at"] = FormatRfc3339(*r.deadline_at);
  if (r.delay) j["delay_s"] = ToSeconds(*r.delay);
  if (r.run_at) j["run_at"] = FormatRfc3339(*r.run_at);
  if (r.max_attempts) j["max_attempts"] = *r.max_attempts;
  if (r.unique_key) j["unique_key"] = *r.unique_key;
  if (r.resource_key) j["resource_key"] = *r.resource_key;
  if (r.batch_id) j["batch_id"] = *r.batch_id;
  if (!r.tags.empty()) j["tags"] = r.tags;
  return j;
}

Result<QueueInfo> QueueInfoFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("queues[]", "must be an object");
  Reader r(j, "queue.");
  QueueInfo q;
  JW_RETURN_IF_ERROR(r.Str("name", q.name));
  JW_RETURN_IF_ERROR(r.Bool("paused", q.paused));
  JW_RETURN_IF_ERROR(r.Time("oldest_available_run_at", q.oldest_available_run_at));
  if (const nlohmann::json* counts = r.Find("counts")) {
    if (!counts->is_object()) return Bad("queue.counts", "must be an object");
    Reader c(*counts, "queue.counts.");
    for (JobState s : kAllJobStates) {
      const std::string name(ToString(s));
      JW_RETURN_IF_ERROR(c.Int(name.c_str(), q.counts[static_cast<std::size_t>(s)]));
    }
  }
  return q;
}

namespace {

// A cursor over JSON text for the fast path. Every method returns false on
// anything it does not handle; the caller then gives up (nullopt).
class FastReader {
 public:
  explicit FastReader(std::string_view text) : s_(text) {}

  bool AtEnd() {
    SkipWs();
    return i_ == s_.size();
  }
  bool Eat(char c) {
    SkipWs();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool Peek(char c) {
    SkipWs();
    return i_ < s_.size() && s_[i_] == c;
  }
  bool EatLiteral(std::string_view lit) {
    SkipWs();
    if (s_.substr(i_, lit.size()) != lit) return false;
    i_ += lit.size();
    return true;
  }
  // A string without escapes or bytes outside printable ASCII.
  bool PlainString(std::string_view& out) {
    if (!Eat('"')) return false;
    const std::size_t start = i_;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        out = s_.substr(start, i_ - start);
        ++i_;
        return true;
      }
      if (c == '\\' || c < 0x20 || c >= 0x80) return false;
      ++i_;
    }
    return false;
  }
  // A number's text (JSON's grammar); `integer` when it has no fraction or exponent.
  bool Number(std::string_view& out, bool& integer) {
    SkipWs();
    const std::size_t start = i_;
    integer = true;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (Digits() == 0) {
      return false;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      integer = false;
      ++i_;
      if (Digits() == 0) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integer = false;
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (Digits() == 0) return false;
    }
    out = s_.substr(start, i_ - start);
    return true;
  }
  // Skips any value, giving its text.
  bool Value(std::string_view& out) {
    SkipWs();
    const std::size_t start = i_;
    if (!SkipValue(0)) return false;
    out = s_.substr(start, i_ - start);
    return true;
  }

 private:
  std::size_t Digits() {
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ - start;
  }
  void SkipWs() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool SkipValue(int depth) {
    if (depth > 64) return false;
    SkipWs();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    std::string_view unused;
    bool integer = false;
    if (c == '"') return PlainString(unused);
    if (c == 't') return EatLiteral("true");
    if (c == 'f') return EatLiteral("false");
    if (c == 'n') return EatLiteral("null");
    if (c == '{' || c == '[') {
      const bool object = c == '{';
      ++i_;
      if (Eat(object ? '}' : ']')) return true;
      do {
        if (object && !(PlainString(unused) && Eat(':'))) return false;
        if (!SkipValue(depth + 1)) return false;
      } while (Eat(','));
      return Eat(object ? '}' : ']');
    }
    return Number(unused, integer);
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// One scalar value read by the fast path.
struct FastValue {
  enum Kind { kNull, kString, kInt, kFloat, kBool, kOther } kind = kNull;
  std::string_view text;  // the string's contents, the number's or other value's text
  std::int64_t i = 0;
  bool b = false;
};

bool ReadFastValue(FastReader& r, FastValue& v) {
  if (r.Peek('"')) {
    v.kind = FastValue::kString;
    return r.PlainString(v.text);
  }
  if (r.EatLiteral("null")) {
    v.kind = FastValue::kNull;
    return true;
  }
  if (r.Peek('{') || r.Peek('[')) {
    v.kind = FastValue::kOther;
    return r.Value(v.text);
  }
  bool integer = false;
  if (!r.Number(v.text, integer)) return false;
  if (!integer) {
    v.kind = FastValue::kFloat;
    return true;
  }
  v.kind = FastValue::kInt;
  const auto [ptr, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), v.i);
  return ec == std::errc() && ptr == v.text.data() + v.text.size();
}

bool FastBool(FastReader& r, FastValue& v) {
  if (r.EatLiteral("true")) {
    v.kind = FastValue::kBool;
    v.b = true;
    return true;
  }
  if (r.EatLiteral("false")) {
    v.kind = FastValue::kBool;
    v.b = false;
    return true;
  }
  return ReadFastValue(r, v);
}

bool FastTime(const FastValue& v, std::optional<Timestamp>& out) {
  if (v.kind == FastValue::kNull) return true;
  if (v.kind != FastValue::kString) return false;
  auto t = ParseRfc3339(v.text);
  if (!t.ok()) return false;
  out = *t;
  return true;
}

bool FastSeconds(const FastValue& v, std::optional<Duration>& out) {
  if (v.kind == FastValue::kNull) return true;
  double d = 0;
  if (v.kind == FastValue::kInt) {
    d = static_cast<double>(v.i);
  } else if (v.kind == FastValue::kFloat) {
    const auto [ptr, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), d);
    if (ec != std::errc() || ptr != v.text.data() + v.text.size()) return false;
  } else {
    return false;
  }
  auto s = FromSeconds(d);
  if (!s.ok()) return false;
  out = *s;
  return true;
}

template <typename I>
bool FastInt(const FastValue& v, I& out) {
  if (v.kind == FastValue::kNull) return true;
  if (v.kind != FastValue::kInt) return false;
  out = static_cast<I>(v.i);
  return true;
}

bool FastStr(const FastValue& v, std::string& out) {
  if (v.kind == FastValue::kNull) return true;
  if (v.kind != FastValue::kString) return false;
  out.assign(v.text);
  return true;
}

bool FastOptStr(const FastValue& v, std::optional<std::string>& out) {
  if (v.kind == FastValue::kNull) return true;
  if (v.kind != FastValue::kString) return false;
  out.emplace(v.text);
  return true;
}

// A JSON-valued field kept as text, as Reader::Text keeps it (its dump).
bool FastText(FastReader& r, std::optional<std::string>& out) {
  std::string_view text;
  if (!r.Value(text)) return false;
  if (text == "null") return true;
  if (text == "{}" || text == "[]") {
    out.emplace(text);
    return true;
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return false;
  out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return true;
}

// {"done", "message", "total", "updated_at"}, as ProgressFromJson and the
// updated_at read of JobFromJson take it.
bool FastProgress(FastReader& r, Progress& p) {
  if (r.EatLiteral("null")) return true;
  if (!r.Eat('{')) return false;
  Progress out;
  bool have_done = false;
  unsigned seen = 0;
  if (!r.Eat('}')) {
    do {
      std::string_view key;
      FastValue v;
      if (!r.PlainString(key) || !r.Eat(':') || !FastBool(r, v)) return false;
      unsigned bit = 0;
      if (key == "done") {
        if (v.kind != FastValue::kInt || v.i < 0) return false;
        out.done = v.i;
        have_done = true;
        bit = 1;
      } else if (key == "total") {
        if (v.kind == FastValue::kInt && v.i >= 0) {
          out.total = v.i;
        } else if (v.kind != FastValue::kNull) {
          return false;
        }
        bit = 2;
      } else if (key == "message") {
        if (!FastStr(v, out.message)) return false;
        bit = 4;
      } else if (key == "updated_at") {
        if (!FastTime(v, out.updated_at)) return false;
        bit = 8;
      } else {
        return false;
      }
      if ((seen & bit) != 0) return false;
      seen |= bit;
    } while (r.Eat(','));
    if (!r.Eat('}')) return false;
  }
  if (!have_done) return false;
  p = std::move(out);
  return true;
}

bool FastLease(FastReader& r, Job& job) {
  if (r.EatLiteral("null")) return true;
  if (!r.Eat('{')) return false;
  if (r.Eat('}')) return true;
  std::optional<Timestamp> expires;
  std::optional<Duration> ttl, grace;
  unsigned seen = 0;
  do {
    std::string_view key;
    FastValue v;
    if (!r.PlainString(key) || !r.Eat(':') || !FastBool(r, v)) return false;
    unsigned bit = 0;
    if (key == "token") {
      if (!FastInt(v, job.lease_token)) return false;
      bit = 1;
    } else if (key == "expires_at") {
      if (!FastTime(v, expires)) return false;
      bit = 2;
    } else if (key == "ttl_s") {
      if (!FastSeconds(v, ttl)) return false;
      bit = 4;
    } else if (key == "grace_s") {
      if (!FastSeconds(v, grace)) return false;
      bit = 8;
    } else {
      continue;  // unknown lease fields are ignored, as Reader ignores them
    }
    if ((seen & bit) != 0) return false;
    seen |= bit;
  } while (r.Eat(','));
  if (!r.Eat('}')) return false;
  if (expires) job.lease_expires_at = expires;
  if (ttl) job.lease_ttl = *ttl;
  if (grace) job.grace = *grace;
  return true;
}

// The job JSON's fields (and "lease"): their index, or -1.
int KnownJobField(std::string_view key) {
  static constexpr std::string_view kFields[] = {
      "args",         "attempt",    "batch_id",        "cancel_reason", "cancel_requested", "checkpoint",
      "created_at",   "deadline_at", "errors",         "finished_at",   "heartbeat_at",     "id",
      "kind",         "lease",      "lease_expires_at", "max_attempts", "priority",         "progress",
      "queue",        "resource_key", "result",        "run_at",        "stall_timeout_s",  "started_at",
      "state",        "tags",       "timeout_s",       "unique_key",    "worker_id"};
  for (std::size_t i = 0; i < std::size(kFields); ++i) {
    if (kFields[i] == key) return static_cast<int>(i);
  }
  return -1;
}

bool FastJob(FastReader& r, Job& job) {
  if (!r.Eat('{')) return false;
  bool have_id = false, have_state = false, have_lease = false;
  std::uint64_t seen = 0;
  std::optional<Timestamp> lease_expires_field;
  if (!r.Eat('}')) {
    do {
      std::string_view key;
      if (!r.PlainString(key) || !r.Eat(':')) return false;
      // A repeated field: the slow path decides (its tree keeps the last).
      if (const int k = KnownJobField(key); k >= 0) {
        if ((seen & (std::uint64_t{1} << k)) != 0) return false;
        seen |= std::uint64_t{1} << k;
      }
      bool ok = true;
      if (key == "args") {
        std::optional<std::string> args;
        ok = FastText(r, args);
        if (args) job.args = std::move(*args);
      } else if (key == "checkpoint") {
        ok = FastText(r, job.checkpoint);
      } else if (key == "result") {
        ok = FastText(r, job.result);
      } else if (key == "progress") {
        ok = FastProgress(r, job.progress);
      } else if (key == "lease") {
        have_lease = true;
        ok = FastLease(r, job);
      } else if (key == "errors") {
        ok = r.EatLiteral("null") || (r.Eat('[') && r.Eat(']'));
      } else if (key == "tags") {
        if (!r.EatLiteral("null")) {
          if (!r.Eat('[')) return false;
          if (!r.Eat(']')) {
            do {
              std::string_view tag;
              if (!r.PlainString(tag)) return false;
              job.tags.emplace_back(tag);
            } while (r.Eat(','));
            ok = r.Eat(']');
          }
        }
      } else {
        FastValue v;
        if (!FastBool(r, v)) return false;
        if (key == "id") {
          if (v.kind != FastValue::kString) return false;
          auto id = ParseJobId(v.text);
          if (!id.ok()) return false;
          job.id = *id;
          have_id = true;
        } else if (key == "kind") {
          ok = FastStr(v, job.kind);
        } else if (key == "queue") {
          ok = FastStr(v, job.queue);
        } else if (key == "priority") {
          ok = FastInt(v, job.priority);
        } else if (key == "state") {
          if (v.kind != FastValue::kString) return false;
          auto st = ParseJobState(v.text);
          if (!st) return false;
          job.state = *st;
          have_state = true;
        } else if (key == "attempt") {
          ok = FastInt(v, job.attempt);
        } else if (key == "max_attempts") {
          ok = FastInt(v, job.max_attempts);
        } else if (key == "timeout_s") {
          std::optional<Duration> t;
          ok = FastSeconds(v, t);
          if (t) job.timeout = *t;
        } else if (key == "stall_timeout_s") {
          ok = FastSeconds(v, job.stall_timeout);
        } else if (key == "deadline_at") {
          ok = FastTime(v, job.deadline_at);
        } else if (key == "run_at" || key == "created_at") {
          std::optional<Timestamp> t;
          ok = FastTime(v, t);
          if (t) (key == "run_at" ? job.run_at : job.created_at) = *t;
        } else if (key == "started_at") {
          ok = FastTime(v, job.started_at);
        } else if (key == "finished_at") {
          ok = FastTime(v, job.finished_at);
        } else if (key == "heartbeat_at") {
          ok = FastTime(v, job.heartbeat_at);
        } else if (key == "lease_expires_at") {
          ok = FastTime(v, lease_expires_field);
        } else if (key == "worker_id") {
          ok = FastOptStr(v, job.worker_id);
        } else if (key == "cancel_requested") {
          if (v.kind == FastValue::kBool) {
            job.cancel_requested = v.b;
          } else {
            ok = v.kind == FastValue::kNull;
          }
        } else if (key == "cancel_reason") {
          if (v.kind == FastValue::kString) {
            auto cr = ParseCancelReason(v.text);
            if (!cr) return false;
            job.cancel_reason = *cr;
          } else {
            ok = v.kind == FastValue::kNull;
          }
        } else if (key == "unique_key") {
          ok = FastOptStr(v, job.unique_key);
        } else if (key == "resource_key") {
          ok = FastOptStr(v, job.resource_key);
        } else if (key == "batch_id") {
          ok = FastOptStr(v, job.batch_id);
        }
        // Other fields are ignored, as JobFromJson ignores them.
      }
      if (!ok) return false;
    } while (r.Eat(','));
    if (!r.Eat('}')) return false;
  }
  // JobFromJson refuses a job without a valid id or state.
  if (!have_id || !have_state) return false;
  // The lease's expiry (read last by JobFromJson) wins over the field.
  const std::optional<Timestamp> lease_expires = job.lease_expires_at;
  job.lease_expires_at = lease_expires_field;
  if (have_lease && lease_expires) job.lease_expires_at = lease_expires;
  return true;
}

}  // namespace

std::optional<std::vector<Job>> JobsFromFetchAnswerText(std::string_view text) {
  FastReader r(text);
  if (!r.Eat('{')) return std::nullopt;
  std::string_view key;
  if (!r.PlainString(key) || key != "jobs" || !r.Eat(':') || !r.Eat('[')) return std::nullopt;
  std::vector<Job> jobs;
  if (!r.Eat(']')) {
    do {
      Job job;
      if (!FastJob(r, job)) return std::nullopt;
      jobs.push_back(std::move(job));
    } while (r.Eat(','));
    if (!r.Eat(']')) return std::nullopt;
  }
  if (!r.Eat('}') || !r.AtEnd()) return std::nullopt;
  return jobs;
}


// ---- The library reader (simdjson On-Demand) --------------------------------
namespace {

namespace od = simdjson::ondemand;

// Walks one object's fields in the text's order; strict about types, lenient
// about absence (null or absent leaves the target as it is).
class SjReader {
 public:
  explicit SjReader(std::string prefix) : prefix_(std::move(prefix)) {}

  Status Bad(std::string_view field, const std::string& what) const {
    return Status::Internal("server answer: " + prefix_ + std::string(field) + ": " + what);
  }
  static bool Null(od::value& v) {
    bool null = false;
    return !v.is_null().get(null) && null;
  }
  Status Str(std::string_view name, od::value& v, std::string& out) const {
    if (Null(v)) return Status::Ok();
    std::string_view s;
    if (v.get_string().get(s)) return Bad(name, "must be a string");
    out.assign(s);
    return Status::Ok();
  }
  Status OptStr(std::string_view name, od::value& v, std::optional<std::string>& out) const {
    if (Null(v)) return Status::Ok();
    std::string_view s;
    if (v.get_string().get(s)) return Bad(name, "must be a string");
    out.emplace(s);
    return Status::Ok();
  }
  template <typename I>
  Status Int(std::string_view name, od::value& v, I& out) const {
    if (Null(v)) return Status::Ok();
    std::int64_t i = 0;
    if (v.get_int64().get(i)) return Bad(name, "must be an integer");
    out = static_cast<I>(i);
    return Status::Ok();
  }
  Status Bool(std::string_view name, od::value& v, bool& out) const {
    if (Null(v)) return Status::Ok();
    bool b = false;
    if (v.get_bool().get(b)) return Bad(name, "must be true or false");
    out = b;
    return Status::Ok();
  }
  Status Secs(std::string_view name, od::value& v, std::optional<Duration>& out) const {
    if (Null(v)) return Status::Ok();
    double d = 0;
    if (v.get_double().get(d)) return Bad(name, "must be a number of seconds");
    auto s = FromSeconds(d);
    if (!s.ok()) return Bad(name, s.status().message());
    out = *s;
    return Status::Ok();
  }
  Status Time(std::string_view name, od::value& v, std::optional<Timestamp>& out) const {
    if (Null(v)) return Status::Ok();
    std::string_view s;
    if (v.get_string().get(s)) return Bad(name, "must be an RFC 3339 time");
    auto t = ParseRfc3339(s);
    if (!t.ok()) return Bad(name, t.status().message());
    out = *t;
    return Status::Ok();
  }
  // A JSON-valued field kept as compact text (args, checkpoint, result), in
  // the form nlohmann's dump writes (what the store and JobToJson hold).
  Status Text(std::string_view name, od::value& v, std::optional<std::string>& out) const {
    od::json_type type;
    if (v.type().get(type)) return Bad(name, "not JSON");
    std::string_view raw;
    if (type == od::json_type::object) {
      od::object o;
      if (v.get_object().get(o) || o.raw_json().get(raw)) return Bad(name, "not JSON");
    } else if (type == od::json_type::array) {
      od::array a;
      if (v.get_array().get(a) || a.raw_json().get(raw)) return Bad(name, "not JSON");
    } else if (type == od::json_type::null) {
      return Status::Ok();
    } else {
      raw = v.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t')) {
        raw.remove_suffix(1);
      }
    }
    if (raw == "{}" || raw == "[]" || raw == "true" || raw == "false") {
      out.emplace(raw);
      return Status::Ok();
    }
    nlohmann::json j = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Bad(name, "not JSON");
    out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return Status::Ok();
  }
  const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;
};

#define JW_SJ(expr) JW_RETURN_IF_ERROR(expr)

Status SjProgress(od::value& v, Progress& p) {
  const SjReader r("job.progress.");
  if (SjReader::Null(v)) return Status::Ok();
  od::object o;
  if (v.get_object().get(o)) return Status::Internal("server answer: job.progress: must be an object");
  Progress out;
  bool have_done = false;
  for (auto field : o) {
    std::string_view key;
    od::value fv;
    if (field.unescaped_key().get(key) || field.value().get(fv)) return r.Bad("", "not JSON");
    if (key == "done") {
      std::int64_t d = 0;
      if (fv.get_int64().get(d) || d < 0) return r.Bad(key, "must be a non-negative integer");
      out.done = d;
      have_done = true;
    } else if (key == "total") {
      if (SjReader::Null(fv)) continue;
      std::int64_t t = 0;
      if (fv.get_int64().get(t) || t < 0) return r.Bad(key, "must be a non-negative integer or null");
      out.total = t;
    } else if (key == "message") {
      JW_SJ(r.Str(key, fv, out.message));
    } else if (key == "updated_at") {
      JW_SJ(r.Time(key, fv, out.updated_at));
    }
  }
  if (!have_done) return r.Bad("done", "must be a non-negative integer");
  p = std::move(out);
  return Status::Ok();
}

Status SjErrorEntry(od::value& v, const std::string& prefix, ErrorEntry& e) {
  const SjReader r(prefix + ".");
  od::object o;
  if (v.get_object().get(o)) return Status::Internal("server answer: " + prefix + ": must be an object");
  std::string cls;
  std::optional<Timestamp> at;
  for (auto field : o) {
    std::string_view key;
    od::value fv;
    if (field.unescaped_key().get(key) || field.value().get(fv)) return r.Bad("", "not JSON");
    if (key == "attempt") {
      JW_SJ(r.Int(key, fv, e.attempt));
    } else if (key == "class") {
      JW_SJ(r.Str(key, fv, cls));
    } else if (key == "message") {
      JW_SJ(r.Str(key, fv, e.message));
    } else if (key == "at") {
      JW_SJ(r.Time(key, fv, at));
    } else if (key == "counted") {
      JW_SJ(r.Bool(key, fv, e.counted));
    } else if (key == "limit") {
      JW_SJ(r.OptStr(key, fv, e.limit));
    } else if (key == "output_tail") {
      JW_SJ(r.OptStr(key, fv, e.output_tail));
    }
  }
  auto parsed = ParseErrorClass(cls);
  if (!parsed) return r.Bad("class", "'" + cls + "' is not an error class");
  e.error_class = *parsed;
  if (at) e.at = *at;
  return Status::Ok();
}

Status SjLease(od::value& v, Job& job, std::optional<Timestamp>& expires) {
  const SjReader r("job.lease.");
  if (SjReader::Null(v)) return Status::Ok();
  od::object o;
  if (v.get_object().get(o)) return Status::Internal("server answer: job.lease: must be an object");
  std::optional<Duration> ttl, grace;
  for (auto field : o) {
    std::string_view key;
    od::value fv;
    if (field.unescaped_key().get(key) || field.value().get(fv)) return r.Bad("", "not JSON");
    if (key == "token") {
      JW_SJ(r.Int(key, fv, job.lease_token));
    } else if (key == "expires_at") {
      JW_SJ(r.Time(key, fv, expires));
    } else if (key == "ttl_s") {
      JW_SJ(r.Secs(key, fv, ttl));
    } else if (key == "grace_s") {
      JW_SJ(r.Secs(key, fv, grace));
    }
  }
  if (ttl) job.lease_ttl = *ttl;
  if (grace) job.grace = *grace;
  return Status::Ok();
}

Status SjJob(od::value& v, Job& job) {
  const SjReader r("job.");
  od::object o;
  if (v.get_object().get(o)) return Status::Internal("server answer: job: must be an object");
  std::string id, state;
  std::optional<Timestamp> lease_expires;
  for (auto field : o) {
    std::string_view key;
    od::value fv;
    if (field.unescaped_key().get(key) || field.value().get(fv)) return r.Bad("", "not JSON");
    if (key.empty()) continue;
    switch (key[0]) {
      case 'a':
        if (key == "args") {
          std::optional<std::string> args;
          JW_SJ(r.Text(key, fv, args));
          if (args) job.args = std::move(*args);
        } else if (key == "attempt") {
          JW_SJ(r.Int(key, fv, job.attempt));
        }
        break;
      case 'b':
        if (key == "batch_id") JW_SJ(r.OptStr(key, fv, job.batch_id));
        break;
      case 'c':
        if (key == "cancel_reason") {
          std::optional<std::string> reason;
          JW_SJ(r.OptStr(key, fv, reason));
          if (reason) {
            auto cr = ParseCancelReason(*reason);
            if (!cr) return r.Bad(key, "'" + *reason + "' is not a cancel reason");
            job.cancel_reason = *cr;
          }
        } else if (key == "cancel_requested") {
          JW_SJ(r.Bool(key, fv, job.cancel_requested));
        } else if (key == "checkpoint") {
          JW_SJ(r.Text(key, fv, job.checkpoint));
        } else if (key == "created_at") {
          std::optional<Timestamp> t;
          JW_SJ(r.Time(key, fv, t));
          if (t) job.created_at = *t;
        }
        break;
      case 'd':
        if (key == "deadline_at") JW_SJ(r.Time(key, fv, job.deadline_at));
        break;
      case 'e':
        if (key == "errors" && !SjReader::Null(fv)) {
          od::array a;
          if (fv.get_array().get(a)) return r.Bad(key, "must be an array");
          std::size_t i = 0;
          for (auto element : a) {
            od::value ev;
            if (element.get(ev)) return r.Bad(key, "not JSON");
            ErrorEntry e;
            JW_SJ(SjErrorEntry(ev, "job.errors[" + std::to_string(i++) + "]", e));
            job.errors.push_back(std::move(e));
          }
        }
        break;
      case 'f':
        if (key == "finished_at") JW_SJ(r.Time(key, fv, job.finished_at));
        break;
      case 'h':
        if (key == "heartbeat_at") JW_SJ(r.Time(key, fv, job.heartbeat_at));
        break;
      case 'i':
        if (key == "id") JW_SJ(r.Str(key, fv, id));
        break;
      case 'k':
        if (key == "kind") JW_SJ(r.Str(key, fv, job.kind));
        break;
      case 'l':
        if (key == "lease") {
          JW_SJ(SjLease(fv, job, lease_expires));
        } else if (key == "lease_expires_at") {
          JW_SJ(r.Time(key, fv, job.lease_expires_at));
        }
        break;
      case 'm':
        if (key == "max_attempts") JW_SJ(r.Int(key, fv, job.max_attempts));
        break;
      case 'p':
        if (key == "priority") {
          JW_SJ(r.Int(key, fv, job.priority));
        } else if (key == "progress") {
          JW_SJ(SjProgress(fv, job.progress));
        }
        break;
      case 'q':
        if (key == "queue") JW_SJ(r.Str(key, fv, job.queue));
        break;
      case 'r':
        if (key == "result") {
          JW_SJ(r.Text(key, fv, job.result));
        } else if (key == "resource_key") {
          JW_SJ(r.OptStr(key, fv, job.resource_key));
        } else if (key == "run_at") {
          std::optional<Timestamp> t;
          JW_SJ(r.Time(key, fv, t));
          if (t) job.run_at = *t;
        }
        break;
      case 's':
        if (key == "state") {
          JW_SJ(r.Str(key, fv, state));
        } else if (key == "stall_timeout_s") {
          JW_SJ(r.Secs(key, fv, job.stall_timeout));
        } else if (key == "started_at") {
          JW_SJ(r.Time(key, fv, job.started_at));
        }
        break;
      case 't':
        if (key == "timeout_s") {
          std::optional<Duration> t;
          JW_SJ(r.Secs(key, fv, t));
          if (t) job.timeout = *t;
        } else if (key == "tags" && !SjReader::Null(fv)) {
          od::array a;
          if (fv.get_array().get(a)) return r.Bad(key, "must be an array of strings");
          for (auto element : a) {
            std::string_view tag;
            if (element.get_string().get(tag)) return r.Bad(key, "must be an array of strings");
            job.tags.emplace_back(tag);
          }
        }
        break;
      case 'u':
        if (key == "unique_key") JW_SJ(r.OptStr(key, fv, job.unique_key));
        break;
      case 'w':
        if (key == "worker_id") JW_SJ(r.OptStr(key, fv, job.worker_id));
        break;
      default:
        break;  // other fields are ignored
    }
  }
  auto parsed_id = ParseJobId(id);
  if (!parsed_id.ok()) return r.Bad("id", "'" + id + "' is not a job id");
  job.id = *parsed_id;
  auto st = ParseJobState(state);
  if (!st) return r.Bad("state", "'" + state + "' is not a state");
  job.state = *st;
  // The lease's expiry wins over the field.
  if (lease_expires) job.lease_expires_at = lease_expires;
  return Status::Ok();
}

#undef JW_SJ

od::parser& ThreadParser() {
  thread_local od::parser parser;
  return parser;
}

}  // namespace

Result<std::vector<Job>> JobsFromFetchAnswer(std::string_view text) {
  const simdjson::padded_string padded(text);
  od::document doc;
  if (ThreadParser().iterate(padded).get(doc)) return Bad("fetch answer", "not JSON");
  od::object top;
  if (doc.get_object().get(top)) return Bad("fetch answer", "must be an object");
  std::vector<Job> jobs;
  bool have_jobs = false;
  for (auto field : top) {
    std::string_view key;
    od::value v;
    if (field.unescaped_key().get(key) || field.value().get(v)) return Bad("fetch answer", "not JSON");
    if (key != "jobs") continue;
    have_jobs = true;
    od::array a;
    if (v.get_array().get(a)) return Bad("jobs", "must be an array");
    for (auto element : a) {
      od::value jv;
      if (element.get(jv)) return Bad("jobs", "not JSON");
      Job job;
      JW_RETURN_IF_ERROR(SjJob(jv, job));
      jobs.push_back(std::move(job));
    }
  }
  if (!have_jobs) return Bad("fetch answer", "no jobs");
  // Nothing may follow the object.
  const char* rest = nullptr;
  if (!doc.current_location().get(rest)) return Bad("fetch answer", "not JSON");
  return jobs;
}
}  // namespace jobwarden
