#include "config/kinds.h"

#include "config/toml_fields.h"

namespace jobwarden {

namespace {

namespace fs = std::filesystem;

using toml_fields::Bad;
using toml_fields::ParseInt;
using toml_fields::ReadDuration;
using toml_fields::ReadInt;
using toml_fields::ReadString;
using toml_fields::ReadStrings;

// A relative path in `command` resolves against the config file's directory:
// "handlers/x.py" -> "<dir>/handlers/x.py". Only arguments that look like a
// path do: bare words ("python3"), flags, URLs, KEY=VALUE words and inline
// scripts (the argument after -c or -e, which may well contain a '/') stay.
std::string ResolveArg(const std::vector<std::string>& argv, std::size_t i, const fs::path& dir) {
  const std::string& arg = argv[i];
  if (arg.empty() || arg[0] == '/' || arg[0] == '-' || arg.find('/') == std::string::npos) return arg;
  if (arg.find("://") != std::string::npos || arg.find_first_of(" \t\n;|&$'\"`=*?<>(){}") != std::string::npos) {
    return arg;
  }
  if (i > 0 && (argv[i - 1] == "-c" || argv[i - 1] == "-e")) return arg;
  return (dir / arg).lexically_normal().string();
}

Status ReadKind(const std::string& name, const toml::table& t, const std::string& file, const fs::path& dir,
                KindsConfig& config) {
  KindDefaults d;
  CommandKind c;
  bool has_command = false;
  std::optional<Duration> backoff_base, backoff_cap;
  for (const auto& [k, node] : t) {
    const std::string key = "kinds." + name + "." + std::string(k.str());
    if (k == "command") {
      JW_ASSIGN_OR_RETURN(c.command, ReadStrings(node, file, key));
      if (c.command.empty()) return Bad(file, key, "must not be empty");
      for (std::size_t i = 0; i < c.command.size(); ++i) c.command[i] = ResolveArg(c.command, i, dir);
      has_command = true;
    } else if (k == "timeout") {
      JW_ASSIGN_OR_RETURN(d.timeout, ReadDuration(node, file, key));
      if (*d.timeout <= Duration(0)) return Bad(file, key, "must be greater than 0");
    } else if (k == "stall_timeout") {
      JW_ASSIGN_OR_RETURN(d.stall_timeout, ReadDuration(node, file, key));
      if (*d.stall_timeout <= Duration(0)) return Bad(file, key, "must be greater than 0");
    } else if (k == "max_attempts") {
      JW_ASSIGN_OR_RETURN(d.max_attempts, ReadInt(node, file, key, 1, 1000));
    } else if (k == "queue") {
      JW_ASSIGN_OR_RETURN(d.queue, ReadString(node, file, key));
    } else if (k == "resource_key") {
      JW_ASSIGN_OR_RETURN(d.resource_key, ReadString(node, file, key));
    } else if (k == "grace") {
      // The worker reports the largest grace of its kinds at fetch, so the
      // server's take-back (limit + grace + TTL/3) never comes before the kill.
      JW_ASSIGN_OR_RETURN(c.grace, ReadDuration(node, file, key));
      if (!config.max_grace || *c.grace > *config.max_grace) config.max_grace = *c.grace;
    } else if (k == "env") {
      const toml::table* env = node.as_table();
      if (env == nullptr) return Bad(file, key, "expected a table of strings");
      for (const auto& [ek, ev] : *env) {
        auto v = ev.value<std::string>();
        if (!v) return Bad(file, key + "." + std::string(ek.str()), "expected a string");
        if (ek.str().rfind("JOBWARDEN_", 0) == 0) {
          return Bad(file, key + "." + std::string(ek.str()), "JOBWARDEN_* variables are set by the worker");
        }
        c.env[std::string(ek.str())] = *v;
      }
    } else if (k == "cwd") {
      JW_ASSIGN_OR_RETURN(std::string cwd, ReadString(node, file, key));
      c.cwd = fs::path(cwd).is_absolute() ? cwd : (dir / cwd).lexically_normal().string();
    } else if (k == "exit_codes") {
      const toml::table* codes = node.as_table();
      if (codes == nullptr) return Bad(file, key, "expected a table such as { \"3\" = \"permanent\" }");
      for (const auto& [ck, cv] : *codes) {
        auto parsed_code = ParseInt(std::string(ck.str()), 1, 255);
        if (!parsed_code.ok()) return Bad(file, key + "." + std::string(ck.str()), "not an exit code (1-255)");
        const int code = *parsed_code;
        auto cls = cv.value<std::string>();
        auto parsed = cls ? ParseErrorClass(*cls) : std::nullopt;
        if (!parsed || (*parsed != ErrorClass::kTransient && *parsed != ErrorClass::kPermanent)) {
          return Bad(file, key + "." + std::string(ck.str()), "expected \"transient\" or \"permanent\"");
        }
        c.exit_codes[code] = *parsed;
      }
    } else if (k == "backoff_base") {
      JW_ASSIGN_OR_RETURN(backoff_base, ReadDuration(node, file, key));
    } else if (k == "backoff_cap") {
      JW_ASSIGN_OR_RETURN(backoff_cap, ReadDuration(node, file, key));
    } else {
      return Bad(file, key, "unknown key");
    }
  }
  if (backoff_base || backoff_cap) {
    BackoffPolicy p;
    if (backoff_base) p.base = *backoff_base;
    if (backoff_cap) p.cap = *backoff_cap;
    d.backoff = p;
  }
  config.defaults[name] = d;
  if (has_command) config.commands[name] = std::move(c);
  return Status::Ok();
}

}  // namespace

Result<KindsConfig> ReadKinds(const toml::table& root, const std::string& file, const fs::path& dir) {
  KindsConfig config;
  const toml::node* node = root.get("kinds");
  if (node == nullptr) return config;
  const toml::table* kinds = node->as_table();
  if (kinds == nullptr) return Bad(file, "kinds", "expected a table of kinds");
  for (const auto& [name, kind] : *kinds) {
    const toml::table* t = kind.as_table();
    if (t == nullptr) return Bad(file, "kinds." + std::string(name.str()), "expected a table");
    JW_RETURN_IF_ERROR(ReadKind(std::string(name.str()), *t, file, dir, config));
  }
  return config;
}

Result<KindsConfig> LoadKinds(const std::string& path) {
  if (path.empty()) return KindsConfig{};
  JW_ASSIGN_OR_RETURN(const toml::table root, toml_fields::ParseFile(path));
  JW_RETURN_IF_ERROR(toml_fields::OnlyKnownSections(root, path));
  return ReadKinds(root, path, fs::absolute(path).parent_path());
}

}  // namespace jobwarden
