#include "core/schedule.h"

#include <nlohmann/json.hpp>

#include "core/job.h"

namespace jobwarden {

std::string_view ToString(CatchUp c) { return c == CatchUp::kNone ? "none" : "one"; }

std::optional<CatchUp> ParseCatchUp(std::string_view s) {
  if (s == "one") return CatchUp::kOne;
  if (s == "none") return CatchUp::kNone;
  return std::nullopt;
}

Status ValidateSchedule(const ScheduleSpec& spec) {
  if (!IsValidName(spec.name, 200)) {
    return Status::InvalidArgument("schedules: name '" + spec.name +
                                   "' must be 1-200 characters of letters, digits and _ - . : /");
  }
  const std::string at = "schedules." + spec.name + ".";
  if (auto timing = CronSchedule::Parse(spec.cron, spec.timezone); !timing.ok()) {
    return Status::InvalidArgument(at + timing.status().message());
  }
  if (spec.kind.empty()) return Status::InvalidArgument(at + "kind: required");
  if (!IsValidName(spec.kind, 200))
    return Status::InvalidArgument(at + "kind: '" + spec.kind + "' is not a valid kind");
  if (!IsValidName(spec.queue, 200)) {
    return Status::InvalidArgument(at + "queue: '" + spec.queue + "' is not a valid queue name");
  }
  const nlohmann::json args = nlohmann::json::parse(spec.args, nullptr, /*allow_exceptions=*/false);
  if (!args.is_object()) return Status::InvalidArgument(at + "args: must be a JSON object");
  return Status::Ok();
}

std::string ScheduleFireKey(const std::string& name, Timestamp fire) {
  return "schedule:" + name + ":" + FormatRfc3339(fire);
}

std::optional<FirePlan> PlanFire(const CronSchedule& timing, CatchUp catch_up, Timestamp next_fire_at, Timestamp now) {
  if (next_fire_at > now) return std::nullopt;
  // The latest fire at or before now. @every: by arithmetic; cron: by stepping
  // (bounded, for a process that was down for years).
  Timestamp latest = next_fire_at;
  if (auto every = timing.every()) {
    const std::int64_t d = every->count();
    const std::int64_t since = ToMillis(now) - ToMillis(next_fire_at);
    latest = next_fire_at + Duration(since / d * d);
  } else {
    for (int i = 0; i < 1'000'000; ++i) {
      auto n = timing.NextAfter(latest);
      if (!n || *n > now) break;
      latest = *n;
    }
  }
  FirePlan plan;
  auto next = timing.NextAfter(now);
  // A schedule that no longer fires (cannot happen for one Parse accepted) waits a year.
  plan.next_fire_at = next ? *next : now + std::chrono::hours(24 * 366);
  if (catch_up == CatchUp::kOne || now - latest <= kCatchUpNoneLateness) plan.fire = latest;
  return plan;
}

}  // namespace jobwarden
