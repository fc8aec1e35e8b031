// Reading a server's JSON answer into the model, for the decoders of
// protocol/ (job_codec.cc, flow_json.cc): strict about types (a field of the
// wrong type is a bug in the server, kInternal naming the field), lenient
// about absence (absent or null leaves the target as it is). Internal to
// protocol/.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "core/status.h"
#include "core/time.h"

namespace jobwarden::answer_reader {

inline Status Bad(const std::string& field, const std::string& what) {
  return Status::Internal("server answer: " + field + ": " + what);
}

// The writers' side of Time(): an RFC 3339 string, or null when unset.
inline nlohmann::json TimeOrNull(const std::optional<Timestamp>& t) {
  return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
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

  template <typename I>
  Status OptInt(const char* name, std::optional<I>& out) const {
    I v{};
    const bool present = Find(name) != nullptr;
    JW_RETURN_IF_ERROR(Int(name, v));
    if (present) out = v;
    return Status::Ok();
  }
  Status OptDouble(const char* name, std::optional<double>& out) const {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_number()) return Bad(prefix_ + name, "must be a number");
    out = v->get<double>();
    return Status::Ok();
  }
  // An object member, or nullptr when absent or null; kInternal when not an object.
  Result<const nlohmann::json*> Object(const char* name) const {
    const nlohmann::json* v = Find(name);
    if (v != nullptr && !v->is_object()) return Bad(prefix_ + name, "must be an object");
    return v;
  }
  const std::string& prefix() const { return prefix_; }

 private:
  const nlohmann::json& j_;
  std::string prefix_;
};

}  // namespace jobwarden::answer_reader
