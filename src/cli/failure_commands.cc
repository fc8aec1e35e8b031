// jobwarden failures [--since D|TIME] [--limit N] [--json]: failed attempts
// grouped by class and pattern (GET /v1/failures; core/failure_groups.h).
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

#include "cli/cli.h"
#include "cli/command_support.h"
#include "cli/job_target.h"
#include "cli/output.h"
#include "protocol/failure_json.h"

namespace jobwarden::cli {

namespace {

struct FailuresOptions {
  std::string since = "24h";
  int limit = 20;
  bool json = false;
};

// "--since 1h" (ago) or an RFC 3339 time.
Result<Timestamp> SinceFlag(const std::string& text, Timestamp now) {
  if (auto t = ParseRfc3339(text); t.ok()) return *t;
  auto d = DurationFlag("--since", text);
  if (!d.ok()) {
    return Status::InvalidArgument("--since: '" + text + "' is neither a duration (1h, 30m) nor an RFC 3339 time");
  }
  return now - *d;
}

}  // namespace

void AddFailureCommands(CLI::App& app, GlobalOptions& global, Action& action) {
  AddCommand<FailuresOptions>(
      app, action, "failures", "Failed attempts grouped by pattern (numbers, ids, paths, quoted strings masked)",
      [&global](const FailuresOptions& o) {
        return WithTarget(global, [&](JobTarget& t) -> Status {
          JW_ASSIGN_OR_RETURN(Timestamp since, SinceFlag(o.since, t.Now()));
          JW_ASSIGN_OR_RETURN(Engine::Failures f, t.Failures(since, o.limit));
          if (o.json) {
            nlohmann::json list = nlohmann::json::array();
            for (const FailureGroup& g : f.groups) list.push_back(FailureGroupToJson(g));
            PrintJson(std::cout, list);
            return Status::Ok();
          }
          if (f.groups.empty()) {
            std::cout << "no failed attempts since " << FormatRfc3339(since) << "\n";
            return Status::Ok();
          }
          std::cout << std::left << std::setw(7) << "COUNT" << std::setw(14) << "CLASS" << std::setw(20) << "KINDS"
                    << std::setw(26) << "LAST"
                    << "PATTERN\n";
          for (const FailureGroup& g : f.groups) {
            std::string kinds;
            for (const std::string& k : g.kinds) kinds += (kinds.empty() ? "" : ",") + k;
            std::cout << std::left << std::setw(7) << g.count << std::setw(14) << ToString(g.error_class)
                      << std::setw(20) << kinds << std::setw(26) << FormatRfc3339(g.last_at) << g.pattern << "\n";
            std::string samples;
            for (JobId id : g.sample_job_ids) samples += (samples.empty() ? "" : ", ") + FormatJobId(id);
            std::cout << "       e.g. jobs " << samples << "\n";
          }
          std::cout << f.attempts << " failed attempts since " << FormatRfc3339(since)
                    << (f.truncated ? " (the newest only: there were more)" : "") << "\n";
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, FailuresOptions& o) {
        cmd.add_option("--since", o.since, "A duration ago (1h, 30m) or an RFC 3339 time (default 24h)");
        cmd.add_option("--limit", o.limit, "At most this many groups (1-1000)")->check(CLI::Range(1, 1000));
        cmd.add_flag("--json", o.json, "Print a JSON array of groups");
      });
}

}  // namespace jobwarden::cli
