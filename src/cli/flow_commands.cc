// The flow-control subcommands (DESIGN.md "Flow control", docs/cli.md):
//   jobwarden queue set NAME [--concurrency N | --unlimited] [--warn-depth N] [--warn-age D] [--clear]
//   jobwarden resource set KEY [--concurrency N | --unlimited] [--rate R] [--burst N]
//                              [--breaker-failures N] [--breaker-cooldown D] [--clear]
//   jobwarden resources [--json]
//
// A `set` merges: a flag left out keeps its limit, `--clear` clears every
// limit first, and a limit given as `off` is cleared alone. Input is checked
// before the target is opened; each message names the flag (exit 2).
#include <nlohmann/json.hpp>

#include <charconv>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <string>

#include "cli/cli.h"
#include "cli/command_support.h"
#include "cli/job_target.h"
#include "cli/output.h"
#include "core/flow_config.h"
#include "core/job.h"
#include "protocol/flow_json.h"
#include "protocol/schedule_json.h"

namespace jobwarden::cli {

namespace {

constexpr std::string_view kOff = "off";
constexpr std::int64_t kMaxLimit = 1'000'000;
constexpr std::size_t kMaxResourceKeyLength = 255;

// A whole number from `min` to `max` given to `flag`.
Result<std::int64_t> CountFlag(std::string_view flag, const std::string& text, std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min || v > max) {
    return Status::InvalidArgument(std::string(flag) + ": '" + text + "' is not a whole number from " +
                                   std::to_string(min) + " to " + std::to_string(max));
  }
  return v;
}

// A change from a flag: absent when not given, cleared by `off`, else `parse(text)`.
template <typename T, typename Parse>
Result<FieldChange<T>> ChangeFlag(const CLI::Option* opt, const std::string& text, Parse parse) {
  if (opt->count() == 0) return FieldChange<T>();
  if (text == kOff) return FieldChange<T>(std::optional<T>());
  Result<T> v = parse(text);
  if (!v.ok()) return v.status();
  return FieldChange<T>(std::optional<T>(*v));
}

// --concurrency N / --unlimited (CLI11 refuses both at once).
Result<FieldChange<int>> ConcurrencyChange(const CLI::Option* opt, const std::string& text, bool unlimited) {
  if (unlimited) return FieldChange<int>(std::optional<int>());
  return ChangeFlag<int>(opt, text, [](const std::string& t) -> Result<int> {
    JW_ASSIGN_OR_RETURN(std::int64_t n, CountFlag("--concurrency", t, 1, kMaxLimit));
    return static_cast<int>(n);
  });
}

// "nothing to set" unless some flag was given.
Status SomethingToSet(bool any, std::string_view flags) {
  if (any) return Status::Ok();
  return Status::InvalidArgument("nothing to set: give " + std::string(flags));
}

// --- queue set --------------------------------------------------------------

struct QueueSetOptions {
  std::string name, concurrency, warn_depth, warn_age;
  bool unlimited = false, clear = false, json = false;
  CLI::Option *concurrency_opt, *warn_depth_opt, *warn_age_opt;
};

Result<QueueLimitsPatch> BuildQueuePatch(const QueueSetOptions& o) {
  if (!IsValidName(o.name, kMaxQueueNameLength)) {
    return Status::InvalidArgument("NAME: '" + o.name + "' is not a valid queue name (1-" +
                                   std::to_string(kMaxQueueNameLength) +
                                   " characters of letters, digits and _ - . : /)");
  }
  QueueLimitsPatch p;
  p.clear = o.clear;
  JW_ASSIGN_OR_RETURN(p.concurrency, ConcurrencyChange(o.concurrency_opt, o.concurrency, o.unlimited));
  JW_ASSIGN_OR_RETURN(p.warn_depth, ChangeFlag<std::int64_t>(o.warn_depth_opt, o.warn_depth, [](const std::string& t) {
                        return CountFlag("--warn-depth", t, 1, std::numeric_limits<std::int64_t>::max());
                      }));
  JW_ASSIGN_OR_RETURN(p.warn_age, ChangeFlag<Duration>(o.warn_age_opt, o.warn_age, [](const std::string& t) {
                        return DurationFlag("--warn-age", t);
                      }));
  JW_RETURN_IF_ERROR(SomethingToSet(p.clear || p.concurrency || p.warn_depth || p.warn_age,
                                    "--concurrency, --unlimited, --warn-depth, --warn-age or --clear"));
  return p;
}

void AddQueueSet(CLI::App& queue, GlobalOptions& global, Action& action) {
  AddCommand<QueueSetOptions>(
      queue, action, "set",
      "Change a queue's limits; flags left out keep theirs (--clear: clear all first; a value of off clears one)",
      [&global](const QueueSetOptions& o) {
        Result<QueueLimitsPatch> patch = BuildQueuePatch(o);
        if (!patch.ok()) return Fail(patch.status());
        return WithTarget(global, [&](JobTarget& t) -> Status {
          JW_ASSIGN_OR_RETURN(QueueInfo q, t.SetQueueLimits(o.name, *patch));
          if (o.json) {
            PrintJson(std::cout, QueueInfoToJson(q, t.Now()));
          } else {
            PrintQueueLimits(std::cout, q);
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, QueueSetOptions& o) {
        cmd.add_option("NAME", o.name, "Queue name")->required();
        o.concurrency_opt = cmd.add_option("--concurrency", o.concurrency,
                                           "At most N running jobs of the queue, across all workers (1: sequential)")
                                ->type_name("N");
        cmd.add_flag("--unlimited", o.unlimited, "No concurrency limit")->excludes(o.concurrency_opt);
        o.warn_depth_opt =
            cmd.add_option("--warn-depth", o.warn_depth, "Warn when more than N jobs are available (off: no warning)")
                ->type_name("N");
        o.warn_age_opt = cmd.add_option("--warn-age", o.warn_age,
                                        "Warn when the oldest available job waits longer than this, e.g. 5m (off)")
                             ->type_name("DUR");
        cmd.add_flag("--clear", o.clear, "Clear every limit first");
        cmd.add_flag("--json", o.json, "Print the queue JSON");
      });
}

// --- resource set -----------------------------------------------------------

struct ResourceSetOptions {
  std::string key, concurrency, rate, burst, breaker_failures, breaker_cooldown;
  bool unlimited = false, clear = false, json = false;
  CLI::Option *concurrency_opt, *rate_opt, *burst_opt, *failures_opt, *cooldown_opt;
};

Result<double> BurstFlag(const std::string& text) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !(v >= 1) || v > 1e12) {
    return Status::InvalidArgument("--burst: '" + text + "' is not a number of tokens (at least 1)");
  }
  return v;
}

Result<int> FailuresFlag(const std::string& text) {
  JW_ASSIGN_OR_RETURN(std::int64_t n, CountFlag("--breaker-failures", text, 1, kMaxLimit));
  return static_cast<int>(n);
}

Result<ResourceLimitsPatch> BuildResourcePatch(const ResourceSetOptions& o) {
  if (!IsValidName(o.key, kMaxResourceKeyLength)) {
    return Status::InvalidArgument("KEY: '" + o.key + "' is not a valid resource key (1-" +
                                   std::to_string(kMaxResourceKeyLength) +
                                   " characters of letters, digits and _ - . : /)");
  }
  ResourceLimitsPatch p;
  p.clear = o.clear;
  JW_ASSIGN_OR_RETURN(p.concurrency, ConcurrencyChange(o.concurrency_opt, o.concurrency, o.unlimited));
  JW_ASSIGN_OR_RETURN(p.rate, ChangeFlag<Rate>(o.rate_opt, o.rate, [](const std::string& t) -> Result<Rate> {
                        Result<Rate> r = ParseRate(t);
                        if (!r.ok()) return Flag("--rate", r.status());
                        return r;
                      }));
  JW_ASSIGN_OR_RETURN(p.burst, ChangeFlag<double>(o.burst_opt, o.burst, BurstFlag));
  JW_ASSIGN_OR_RETURN(p.breaker_failures, ChangeFlag<int>(o.failures_opt, o.breaker_failures, FailuresFlag));
  if (o.cooldown_opt->count() > 0) {
    JW_ASSIGN_OR_RETURN(Duration d, DurationFlag("--breaker-cooldown", o.breaker_cooldown));
    p.breaker_cooldown = std::optional<Duration>(d);
  }
  JW_RETURN_IF_ERROR(
      SomethingToSet(p.clear || p.concurrency || p.rate || p.burst || p.breaker_failures || p.breaker_cooldown,
                     "--concurrency, --unlimited, --rate, --burst, --breaker-failures, --breaker-cooldown or --clear"));
  return p;
}

void AddResourceSet(CLI::App& resource, GlobalOptions& global, Action& action) {
  AddCommand<ResourceSetOptions>(
      resource, action, "set",
      "Change a resource's limits; flags left out keep theirs (--clear: clear all first; a value of off clears one)",
      [&global](const ResourceSetOptions& o) {
        Result<ResourceLimitsPatch> patch = BuildResourcePatch(o);
        if (!patch.ok()) return Fail(patch.status());
        return WithTarget(global, [&](JobTarget& t) -> Status {
          JW_ASSIGN_OR_RETURN(ResourceInfo r, t.SetResourceLimits(o.key, *patch));
          if (o.json) {
            PrintJson(std::cout, ResourceInfoToJson(r));
          } else {
            PrintResourceLimits(std::cout, r);
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, ResourceSetOptions& o) {
        cmd.add_option("KEY", o.key, "Resource key, e.g. host:imx.to (the jobs' resource_key)")->required();
        o.concurrency_opt = cmd.add_option("--concurrency", o.concurrency,
                                           "At most N running jobs with this resource_key, across all workers")
                                ->type_name("N");
        cmd.add_flag("--unlimited", o.unlimited, "No concurrency limit")->excludes(o.concurrency_opt);
        o.rate_opt =
            cmd.add_option("--rate", o.rate, "Token bucket: N/s, N/min or N/h, e.g. 10/s (off: none)")->type_name("R");
        o.burst_opt =
            cmd.add_option("--burst", o.burst, "Bucket size, with a rate (default: the rate's N; off)")->type_name("N");
        o.failures_opt = cmd.add_option("--breaker-failures", o.breaker_failures,
                                        "Open the breaker after N failures in a row (off: no breaker)")
                             ->type_name("N");
        o.cooldown_opt = cmd.add_option("--breaker-cooldown", o.breaker_cooldown,
                                        "How long the breaker stays open before one probe, e.g. 30s (default 30s)")
                             ->type_name("DUR");
        cmd.add_flag("--clear", o.clear, "Clear every limit first");
        cmd.add_flag("--json", o.json, "Print the resource JSON");
      });
}

// --- resources --------------------------------------------------------------

struct ResourcesOptions {
  bool json = false;
};

void AddResources(CLI::App& app, GlobalOptions& global, Action& action) {
  AddCommand<ResourcesOptions>(
      app, action, "resources",
      "Resources: limits, running and available jobs, breaker, retry_after hold, success rate and p50/p95 (5 min)",
      [&global](const ResourcesOptions& o) {
        return WithTarget(global, [&](JobTarget& t) -> Status {
          Refresh(t);
          JW_ASSIGN_OR_RETURN(std::vector<ResourceInfo> resources, t.Resources());
          if (o.json) {
            PrintJson(std::cout, ResourcesToJson(resources));
          } else {
            PrintResourceTable(std::cout, resources, t.Now());
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, ResourcesOptions& o) { cmd.add_flag("--json", o.json, "Print a JSON array of resources"); });
}

// --- schedules --------------------------------------------------------------

struct SchedulesOptions {
  bool json = false;
};

void PrintScheduleTable(std::ostream& out, const std::vector<ScheduleInfo>& schedules, Timestamp now) {
  if (schedules.empty()) {
    out << "no schedules (add [schedules.NAME] tables to the config file)\n";
    return;
  }
  out << std::left << std::setw(20) << "NAME" << std::setw(18) << "CRON" << std::setw(16) << "KIND" << std::setw(26)
      << "NEXT FIRE" << std::setw(10) << "IN"
      << "LAST FIRE\n";
  for (const ScheduleInfo& s : schedules) {
    std::string cron = s.spec.cron;
    if (s.spec.timezone != "UTC") cron += " (" + s.spec.timezone + ")";
    out << std::left << std::setw(20) << s.spec.name << std::setw(18) << cron << std::setw(16) << s.spec.kind
        << std::setw(26) << FormatRfc3339(s.next_fire_at) << std::setw(10)
        << (s.next_fire_at > now ? FormatDurationShort(s.next_fire_at - now) : std::string("due"))
        << (s.last_fire_at ? FormatRfc3339(*s.last_fire_at) : std::string("-")) << "\n";
  }
}

void AddSchedules(CLI::App& app, GlobalOptions& global, Action& action) {
  AddCommand<SchedulesOptions>(
      app, action, "schedules", "Schedules ([schedules.NAME]) with their next and last fire",
      [&global](const SchedulesOptions& o) {
        return WithTarget(global, [&](JobTarget& t) -> Status {
          JW_ASSIGN_OR_RETURN(std::vector<ScheduleInfo> schedules, t.Schedules());
          if (o.json) {
            nlohmann::json list = nlohmann::json::array();
            for (const ScheduleInfo& s : schedules) list.push_back(ScheduleInfoToJson(s));
            PrintJson(std::cout, list);
          } else {
            PrintScheduleTable(std::cout, schedules, t.Now());
          }
          return Status::Ok();
        });
      },
      [](CLI::App& cmd, SchedulesOptions& o) { cmd.add_flag("--json", o.json, "Print a JSON array of schedules"); });
}

}  // namespace

void AddFlowCommands(CLI::App& app, GlobalOptions& global, Action& action) {
  CLI::App* queue = app.add_subcommand("queue", "A queue's flow-control limits (queue set)");
  queue->require_subcommand(1);
  AddQueueSet(*queue, global, action);
  CLI::App* resource = app.add_subcommand("resource", "A resource's flow-control limits (resource set)");
  resource->require_subcommand(1);
  AddResourceSet(*resource, global, action);
  AddResources(app, global, action);
  AddSchedules(app, global, action);
}

}  // namespace jobwarden::cli
