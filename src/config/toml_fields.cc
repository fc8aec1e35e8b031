#include "config/toml_fields.h"

#include <filesystem>
#include <sstream>

namespace jobwarden::toml_fields {

Result<toml::table> ParseFile(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return Status::InvalidArgument(path + ": no such config file");
    std::ostringstream msg;
    msg << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    return Status::InvalidArgument(msg.str());
  }
}

Status OnlyKnownSections(const toml::table& root, const std::string& file) {
  for (const auto& [k, node] : root) {
    if (k != "worker" && k != "kinds" && k != "server" && k != "queues" && k != "resources" && k != "schedules") {
      return Bad(file, std::string(k.str()),
                 "unknown section (expected [worker], [kinds.NAME], [server], [queues.NAME], [resources.\"KEY\"] or "
                 "[schedules.NAME])");
    }
  }
  return Status::Ok();
}

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

Result<int> ReadInt(const toml::node& node, const std::string& file, const std::string& key, int min, int max) {
  JW_ASSIGN_OR_RETURN(const std::int64_t v, ReadInteger(node, file, key, min, max));
  return static_cast<int>(v);
}

Result<std::string> ReadString(const toml::node& node, const std::string& file, const std::string& key) {
  auto v = node.value<std::string>();
  if (!v) return Bad(file, key, "expected a string");
  return *v;
}

Result<std::vector<std::string>> ReadStrings(const toml::node& node, const std::string& file, const std::string& key) {
  const toml::array* arr = node.as_array();
  if (arr == nullptr) return Bad(file, key, "expected an array of strings");
  std::vector<std::string> out;
  for (const toml::node& el : *arr) {
    auto v = el.value<std::string>();
    if (!v) return Bad(file, key, "expected an array of strings");
    out.push_back(*v);
  }
  return out;
}

Result<int> ParseInt(const std::string& text, int min, int max) {
  std::size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min || v > max) {
    return Status::InvalidArgument("'" + text + "' is not an integer from " + std::to_string(min) + " to " +
                                   std::to_string(max));
  }
  return v;
}

}  // namespace jobwarden::toml_fields
