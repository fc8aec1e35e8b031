#include "server/server_config.h"

#include <toml++/toml.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "config/toml_fields.h"

namespace jobwarden::server {

namespace {

using toml_fields::Bad;
using toml_fields::ReadDuration;

Result<std::size_t> ReadSize(const toml::node& node, const std::string& file, const std::string& key, std::int64_t min,
                             std::int64_t max) {
  JW_ASSIGN_OR_RETURN(const std::int64_t v, toml_fields::ReadInteger(node, file, key, min, max));
  return static_cast<std::size_t>(v);
}

std::optional<Role> ParseRole(std::string_view s) {
  if (s == "admin") return Role::kAdmin;
  if (s == "worker") return Role::kWorker;
  if (s == "read") return Role::kRead;
  return std::nullopt;
}

Status AddToken(ServerConfig& c, const std::string& token, Role role, const std::string& where) {
  if (token.size() < 16) return Status::InvalidArgument(where + ": a token must be at least 16 characters");
  for (const auto& [t, r] : c.tokens) {
    if (t == token && r != role) return Status::InvalidArgument(where + ": the same token is given two roles");
  }
  c.tokens.emplace_back(token, role);
  return Status::Ok();
}

Status ReadTokens(const toml::node& node, const std::string& file, ServerConfig& c) {
  const toml::table* t = node.as_table();
  if (t == nullptr) return Bad(file, "server.tokens", "expected a table such as { admin = \"...\" }");
  for (const auto& [k, v] : *t) {
    const std::string key = "server.tokens." + std::string(k.str());
    auto role = ParseRole(k.str());
    if (!role) return Bad(file, key, "unknown role (expected admin, worker or read)");
    if (auto s = v.value<std::string>()) {
      JW_RETURN_IF_ERROR(AddToken(c, *s, *role, file + ": " + key));
    } else if (const toml::array* arr = v.as_array()) {
      for (const toml::node& el : *arr) {
        auto s2 = el.value<std::string>();
        if (!s2) return Bad(file, key, "expected a string or an array of strings");
        JW_RETURN_IF_ERROR(AddToken(c, *s2, *role, file + ": " + key));
      }
    } else {
      return Bad(file, key, "expected a string or an array of strings");
    }
  }
  return Status::Ok();
}

Status ReadServer(const toml::table& t, const std::string& file, ServerConfig& c) {
  for (const auto& [k, node] : t) {
    const std::string key = "server." + std::string(k.str());
    if (k == "listen") {
      auto s = node.value<std::string>();
      if (!s) return Bad(file, key, "expected \"HOST:PORT\"");
      Status st = ParseListen(*s, c.listen_host, c.listen_port);
      if (!st.ok()) return Bad(file, key, st.message());
    } else if (k == "tokens") {
      JW_RETURN_IF_ERROR(ReadTokens(node, file, c));
    } else if (k == "state_dir") {
      auto s = node.value<std::string>();
      if (!s) return Bad(file, key, "expected a path");
      std::filesystem::path p(*s);
      c.state_dir = p.is_absolute() ? *s : (std::filesystem::absolute(file).parent_path() / p).string();
    } else if (k == "max_body_bytes") {
      JW_ASSIGN_OR_RETURN(c.max_body_bytes, ReadSize(node, file, key, 1024, std::int64_t{1} << 30));
    } else if (k == "max_bulk_body_bytes") {
      JW_ASSIGN_OR_RETURN(c.max_bulk_body_bytes, ReadSize(node, file, key, 1024, std::int64_t{1} << 32));
    } else if (k == "max_wait") {
      JW_ASSIGN_OR_RETURN(c.max_wait, ReadDuration(node, file, key));
    } else if (k == "max_long_polls") {
      JW_ASSIGN_OR_RETURN(c.max_long_polls, ReadSize(node, file, key, 0, 100'000));
    } else if (k == "max_event_streams") {
      JW_ASSIGN_OR_RETURN(c.max_event_streams, ReadSize(node, file, key, 0, 100'000));
    } else if (k == "max_sessions") {
      JW_ASSIGN_OR_RETURN(c.max_sessions, ReadSize(node, file, key, 0, 100'000));
    } else if (k == "session_grace") {
      JW_ASSIGN_OR_RETURN(c.session_grace, ReadDuration(node, file, key));
    } else if (k == "busy_poll_us") {
      JW_ASSIGN_OR_RETURN(const std::size_t us, ReadSize(node, file, key, 0, 10'000));
      c.busy_poll = std::chrono::microseconds(us);
    } else if (k == "log_format") {
      auto s = node.value<std::string>();
      if (!s) return Bad(file, key, "expected \"text\" or \"json\"");
      auto format = ParseLogFormat(*s);
      if (!format) return Bad(file, key, "unknown format '" + *s + "' (expected text or json)");
      c.log_format = *format;
    } else {
      return Bad(file, key, "unknown key");
    }
  }
  return Status::Ok();
}

Status ApplyEnvironment(ServerConfig& c) {
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  if (auto v = env("JOBWARDEN_LISTEN")) {
    JW_RETURN_IF_ERROR(ParseListen(*v, c.listen_host, c.listen_port).WithContext("JOBWARDEN_LISTEN"));
  }
  const std::pair<const char*, Role> vars[] = {{"JOBWARDEN_ADMIN_TOKEN", Role::kAdmin},
                                               {"JOBWARDEN_WORKER_TOKEN", Role::kWorker},
                                               {"JOBWARDEN_READ_TOKEN", Role::kRead}};
  for (const auto& [name, role] : vars) {
    if (auto v = env(name)) JW_RETURN_IF_ERROR(AddToken(c, *v, role, name));
  }
  return Status::Ok();
}

}  // namespace

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kPublic: return "public";
    case Role::kRead: return "read";
    case Role::kWorker: return "worker";
    case Role::kAdmin: return "admin";
  }
  return "public";
}

Status ParseListen(std::string_view text, std::string& host, int& port) {
  std::string_view h;
  std::string_view p;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::InvalidArgument("'" + std::string(text) + "' is not HOST:PORT");
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return Status::InvalidArgument("'" + std::string(text) + "' is not HOST:PORT");
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  if (h.empty()) return Status::InvalidArgument("'" + std::string(text) + "': the host is missing");
  int value = -1;
  const auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || ptr != p.data() + p.size() || value < 0 || value > 65535) {
    return Status::InvalidArgument("'" + std::string(text) + "': the port must be 0-65535");
  }
  host = std::string(h);
  port = value;
  return Status::Ok();
}

bool IsLoopbackName(std::string_view host) {
  if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  // 127.0.0.0/8, dotted quad only.
  if (host.rfind("127.", 0) != 0) return false;
  int dots = 0;
  std::size_t digits = 0;
  for (char ch : host) {
    if (ch == '.') {
      if (digits == 0 || digits > 3) return false;
      ++dots;
      digits = 0;
    } else if (ch >= '0' && ch <= '9') {
      ++digits;
    } else {
      return false;
    }
  }
  return dots == 3 && digits > 0 && digits <= 3;
}

Result<ServerConfig> LoadServerConfig(const std::string& path) {
  ServerConfig c;
  if (!path.empty()) {
    JW_ASSIGN_OR_RETURN(const toml::table root, toml_fields::ParseFile(path));
    JW_RETURN_IF_ERROR(toml_fields::OnlyKnownSections(root, path));
    if (const toml::node* node = root.get("server")) {
      const toml::table* t = node->as_table();
      if (t == nullptr) return Bad(path, "server", "expected a table");
      JW_RETURN_IF_ERROR(ReadServer(*t, path, c));
    }
  }
  JW_RETURN_IF_ERROR(ApplyEnvironment(c));
  return c;
}

Status ValidateServerConfig(const ServerConfig& c) {
  if (c.tokens.empty() && !IsLoopbackName(c.listen_host)) {
    return Status::InvalidArgument("listen " + c.listen_host +
                                   ": refusing to serve a non-loopback address with no "
                                   "token configured (set [server] tokens or JOBWARDEN_ADMIN_TOKEN)");
  }
  if (c.max_bulk_body_bytes < c.max_body_bytes) {
    return Status::InvalidArgument("server.max_bulk_body_bytes: must be at least max_body_bytes");
  }
  if (c.session_grace < std::chrono::milliseconds(200)) {
    return Status::InvalidArgument("server.session_grace: must be at least 200ms (a drop is noticed within ~200ms)");
  }
  return Status::Ok();
}

}  // namespace jobwarden::server
