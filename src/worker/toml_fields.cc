#include "worker/toml_fields.h"

namespace jobwarden::toml_fields {

Status Bad(const std::string& file, const std::string& key, const std::string& why) {
  return Status::InvalidArgument(file + ": " + key + ": " + why);
}

Result<Duration> ReadDuration(const toml::node& node, const std::string& file, const std::string& key) {
  if (auto s = node.value<std::string>()) {
    auto d = ParseDuration(*s);
    if (!d.ok()) return Bad(file, key, d.status().message());
    return *d;
  }
  if (auto n = node.value<double>()) {
    auto d = FromSeconds(*n);
    if (!d.ok()) return Bad(file, key, d.status().message());
    return *d;
  }
  return Bad(file, key, "expected a duration such as \"30s\"");
}

Result<std::int64_t> ReadInteger(const toml::node& node, const std::string& file, const std::string& key,
                                 std::int64_t min, std::int64_t max) {
  auto v = node.value<std::int64_t>();
  if (!v || *v < min || *v > max) {
    return Bad(file, key, "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return *v;
}

}  // namespace jobwarden::toml_fields
