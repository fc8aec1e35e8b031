#include "app/seed_jobs.h"

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include <sstream>

#include "config/toml_fields.h"
#include "core/log_fields.h"

namespace jobwarden {

namespace {

using toml_fields::Bad;
using toml_fields::ReadDuration;
using toml_fields::ReadString;
using toml_fields::ReadStrings;

Result<int> ReadInt(const toml::node& node, const std::string& file, const std::string& key) {
  return toml_fields::ReadInt(node, file, key, -1'000'000, 1'000'000);
}

Result<EnqueueRequest> ReadJob(const toml::table& t, const std::string& file, const std::string& where) {
  EnqueueRequest r;
  for (const auto& [k, node] : t) {
    const std::string key = where + "." + std::string(k.str());
    if (k == "kind") {
      JW_ASSIGN_OR_RETURN(r.kind, ReadString(node, file, key));
    } else if (k == "args") {
      const toml::table* args = node.as_table();
      if (args == nullptr) return Bad(file, key, "expected a table, e.g. args = { total = 50000 }");
      std::ostringstream json;
      json << toml::json_formatter{*args, toml::format_flags::none};
      r.args = json.str();
    } else if (k == "unique_key") {
      JW_ASSIGN_OR_RETURN(r.unique_key, ReadString(node, file, key));
    } else if (k == "queue") {
      JW_ASSIGN_OR_RETURN(r.queue, ReadString(node, file, key));
    } else if (k == "priority") {
      JW_ASSIGN_OR_RETURN(r.priority, ReadInt(node, file, key));
    } else if (k == "timeout") {
      JW_ASSIGN_OR_RETURN(r.timeout, ReadDuration(node, file, key));
    } else if (k == "stall_timeout") {
      JW_ASSIGN_OR_RETURN(r.stall_timeout, ReadDuration(node, file, key));
    } else if (k == "deadline") {
      JW_ASSIGN_OR_RETURN(r.deadline_in, ReadDuration(node, file, key));
    } else if (k == "delay") {
      JW_ASSIGN_OR_RETURN(r.delay, ReadDuration(node, file, key));
    } else if (k == "max_attempts") {
      JW_ASSIGN_OR_RETURN(r.max_attempts, ReadInt(node, file, key));
    } else if (k == "resource_key") {
      JW_ASSIGN_OR_RETURN(r.resource_key, ReadString(node, file, key));
    } else if (k == "tags") {
      JW_ASSIGN_OR_RETURN(r.tags, ReadStrings(node, file, key));
    } else {
      return Bad(file, key, "unknown key");
    }
  }
  if (r.kind.empty()) return Bad(file, where + ".kind", "required");
  return r;
}

}  // namespace

Result<std::vector<EnqueueRequest>> LoadSeedJobs(const std::string& path) {
  JW_ASSIGN_OR_RETURN(const toml::table root, toml_fields::ParseFile(path));
  std::vector<EnqueueRequest> jobs;
  for (const auto& [k, node] : root) {
    if (k != "jobs") return Bad(path, std::string(k.str()), "unknown key (expected [[jobs]] tables)");
    const toml::array* arr = node.as_array();
    if (arr == nullptr) return Bad(path, "jobs", "expected [[jobs]] tables");
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const std::string where = "jobs[" + std::to_string(i) + "]";
      const toml::table* t = (*arr)[i].as_table();
      if (t == nullptr) return Bad(path, where, "expected a table");
      JW_ASSIGN_OR_RETURN(EnqueueRequest r, ReadJob(*t, path, where));
      jobs.push_back(std::move(r));
    }
  }
  return jobs;
}

Result<int> SeedIfEmpty(Engine& engine, const std::vector<EnqueueRequest>& jobs) {
  JobListParams any;
  any.limit = 1;
  JW_ASSIGN_OR_RETURN(std::vector<Job> existing, engine.List(any));
  if (!existing.empty()) {
    spdlog::info(
        "seed: the database already has jobs; not enqueueing the {} seed job(s) again "
        "(unfinished jobs continue where they stopped)",
        jobs.size());
    return 0;
  }
  int enqueued = 0;
  for (const EnqueueRequest& r : jobs) {
    JW_ASSIGN_OR_RETURN(EnqueueResult e, engine.Enqueue(r));
    if (e.deduplicated) continue;
    ++enqueued;
    const ScopedLogFields log_fields(JobLogFields(e.job));
    spdlog::info("seed: enqueued job {} [{}] priority {} args {}{}", e.job.id, e.job.kind, e.job.priority, e.job.args,
                 e.job.unique_key ? " (unique_key " + *e.job.unique_key + ")" : std::string());
  }
  return enqueued;
}

}  // namespace jobwarden
