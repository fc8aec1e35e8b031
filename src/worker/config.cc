#include "worker/config.h"

#include <toml++/toml.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "worker/toml_fields.h"

namespace jobwarden {

namespace {

namespace fs = std::filesystem;

using toml_fields::Bad;
using toml_fields::ReadDuration;

Result<int> ReadInt(const toml::node& node, const std::string& file, const std::string& key, int min, int max) {
  JW_ASSIGN_OR_RETURN(const std::int64_t v, toml_fields::ReadInteger(node, file, key, min, max));
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

Status ReadWorker(const toml::table& t, const std::string& file, WorkerOptions& w,
                  std::optional<Duration>& reaper_tick) {
  for (const auto& [k, node] : t) {
    const std::string key = "worker." + std::string(k.str());
    if (k == "concurrency") {
      JW_ASSIGN_OR_RETURN(w.concurrency, ReadInt(node, file, key, 1, 1024));
    } else if (k == "queues") {
      JW_ASSIGN_OR_RETURN(w.queues, ReadStrings(node, file, key));
    } else if (k == "lease_ttl") {
      JW_ASSIGN_OR_RETURN(w.lease_ttl, ReadDuration(node, file, key));
    } else if (k == "grace") {
      JW_ASSIGN_OR_RETURN(w.grace, ReadDuration(node, file, key));
    } else if (k == "drain_timeout") {
      JW_ASSIGN_OR_RETURN(w.drain_timeout, ReadDuration(node, file, key));
    } else if (k == "max_abandoned") {
      JW_ASSIGN_OR_RETURN(w.max_abandoned, ReadInt(node, file, key, 0, 1000));
    } else if (k == "reaper_tick") {
      JW_ASSIGN_OR_RETURN(reaper_tick, ReadDuration(node, file, key));
      if (*reaper_tick < std::chrono::milliseconds(10) || *reaper_tick > std::chrono::minutes(1)) {
        return Bad(file, key, "must be between 10ms and 1m");
      }
    } else if (k == "id") {
      JW_ASSIGN_OR_RETURN(w.worker_id, ReadString(node, file, key));
    } else {
      return Bad(file, key, "unknown key");
    }
  }
  return Status::Ok();
}

Status ReadKind(const std::string& name, const toml::table& t, const std::string& file, const fs::path& dir,
                Config& config) {
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
      if (*c.grace > config.worker.grace) config.worker.grace = *c.grace;
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
  config.kinds[name] = d;
  if (has_command) config.commands[name] = std::move(c);
  return Status::Ok();
}

}  // namespace

Result<Config> LoadConfig(const std::string& path) {
  Config config;
  config.path = path;
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    std::error_code ec;
    if (!fs::exists(path, ec)) return Status::InvalidArgument(path + ": no such config file");
    return Status::InvalidArgument(msg.str());
  }
  const fs::path dir = fs::absolute(path).parent_path();
  // [server] belongs to the server (server/server_config.h): `jobwarden up`
  // gives one file to both.
  for (const auto& [k, node] : root) {
    if (k != "worker" && k != "kinds" && k != "server") {
      return Bad(path, std::string(k.str()), "unknown section (expected [worker], [kinds.NAME] or [server])");
    }
  }
  // [worker] first: a kind's grace may raise the worker's.
  if (const toml::node* node = root.get("worker")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) return Bad(path, "worker", "expected a table");
    JW_RETURN_IF_ERROR(ReadWorker(*t, path, config.worker, config.reaper_tick));
  }
  if (const toml::node* node = root.get("kinds")) {
    const toml::table* kinds = node->as_table();
    if (kinds == nullptr) return Bad(path, "kinds", "expected a table of kinds");
    for (const auto& [name, kind] : *kinds) {
      const toml::table* t = kind.as_table();
      if (t == nullptr) return Bad(path, "kinds." + std::string(name.str()), "expected a table");
      JW_RETURN_IF_ERROR(ReadKind(std::string(name.str()), *t, path, dir, config));
    }
  }
  JW_RETURN_IF_ERROR(ApplyEnvironment(config));
  if (config.worker.lease_ttl < std::chrono::seconds(1) || config.worker.lease_ttl > std::chrono::minutes(10)) {
    return Bad(path, "worker.lease_ttl", FormatDurationShort(config.worker.lease_ttl) + " is not between 1s and 10m");
  }
  if (config.worker.grace > config.worker.lease_ttl / 2) {
    return Bad(path, "worker.grace", FormatDurationShort(config.worker.grace) + " must be at most half the lease TTL (" +
                                         FormatDurationShort(config.worker.lease_ttl / 2) + ")");
  }
  return config;
}

Status ApplyEnvironment(Config& config) {
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  if (auto v = env("JOBWARDEN_CONCURRENCY")) {
    auto n = ParseInt(*v, 1, 1024);
    if (!n.ok()) return n.status().WithContext("JOBWARDEN_CONCURRENCY");
    config.worker.concurrency = *n;
  }
  if (auto v = env("JOBWARDEN_QUEUES")) {
    config.worker.queues.clear();
    std::stringstream ss(*v);
    for (std::string q; std::getline(ss, q, ',');) {
      if (!q.empty()) config.worker.queues.push_back(q);
    }
  }
  if (auto v = env("JOBWARDEN_LEASE_TTL")) {
    auto d = ParseDuration(*v);
    if (!d.ok()) return d.status().WithContext("JOBWARDEN_LEASE_TTL");
    config.worker.lease_ttl = *d;
  }
  if (auto v = env("JOBWARDEN_DRAIN_TIMEOUT")) {
    auto d = ParseDuration(*v);
    if (!d.ok()) return d.status().WithContext("JOBWARDEN_DRAIN_TIMEOUT");
    config.worker.drain_timeout = *d;
  }
  return Status::Ok();
}

}  // namespace jobwarden
