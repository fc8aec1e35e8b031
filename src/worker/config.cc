#include "worker/config.h"

#include <toml++/toml.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "config/flow_limits.h"
#include "config/kinds.h"
#include "config/schedules.h"
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

}  // namespace

Result<Config> LoadConfig(const std::string& path) {
  Config config;
  config.path = path;
  JW_ASSIGN_OR_RETURN(const toml::table root, toml_fields::ParseFile(path));
  const fs::path dir = fs::absolute(path).parent_path();
  JW_RETURN_IF_ERROR(toml_fields::OnlyKnownSections(root, path));
  if (const toml::node* node = root.get("worker")) {
    const toml::table* t = node->as_table();
    if (t == nullptr) return Bad(path, "worker", "expected a table");
    JW_RETURN_IF_ERROR(ReadWorker(*t, path, config.worker, config.reaper_tick));
  }
  JW_ASSIGN_OR_RETURN(KindsConfig kinds, ReadKinds(root, path, dir));
  config.kinds = std::move(kinds.defaults);
  config.commands = std::move(kinds.commands);
  if (kinds.max_grace && *kinds.max_grace > config.worker.grace) config.worker.grace = *kinds.max_grace;
  JW_ASSIGN_OR_RETURN(config.flow_limits, ReadFlowLimits(root, path));
  JW_ASSIGN_OR_RETURN(config.schedules, ReadSchedules(root, path));
  JW_RETURN_IF_ERROR(ApplyEnvironment(config));
  if (config.worker.lease_ttl < std::chrono::seconds(1) || config.worker.lease_ttl > std::chrono::minutes(10)) {
    return Bad(path, "worker.lease_ttl", FormatDurationShort(config.worker.lease_ttl) + " is not between 1s and 10m");
  }
  if (config.worker.grace > config.worker.lease_ttl / 2) {
    return Bad(path, "worker.grace",
               FormatDurationShort(config.worker.grace) + " must be at most half the lease TTL (" +
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
