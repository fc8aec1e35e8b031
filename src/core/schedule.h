// Schedules (DESIGN.md "Schedules"): periodic jobs, persisted, fired exactly
// once however many processes run them.
//
// A schedule row holds its next fire time. A process that finds it due plans
// the fire (PlanFire, below) and asks the store to move next_fire_at from the
// value it read to the next one *and* enqueue the fire's job in the same
// transaction, guarded on the value it read: of any number of processes, one
// wins each fire and the others change nothing. The job's unique_key,
// "schedule:NAME:<fire time>", is the same in every process, so even two
// stores that disagree about the row could not enqueue one fire twice while
// its job is not terminal.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/cron.h"
#include "core/status.h"
#include "core/time.h"

namespace jobwarden {

enum class CatchUp {
  kOne,   // after downtime, the latest missed fire runs (once); the default
  kNone,  // a fire more than kCatchUpNoneLateness late is skipped
};
std::string_view ToString(CatchUp c);
std::optional<CatchUp> ParseCatchUp(std::string_view s);

// How late a fire may be and still count as on time under catch_up = "none"
// (a busy or briefly paused process is not downtime).
inline constexpr Duration kCatchUpNoneLateness = std::chrono::minutes(1);

// What `[schedules.NAME]` says.
struct ScheduleSpec {
  std::string name;
  std::string cron;  // 5 fields, an @macro, or "@every 30s"
  std::string timezone = "UTC";
  std::string kind;
  std::string args = "{}";  // JSON text
  std::string queue = "default";
  CatchUp catch_up = CatchUp::kOne;
  friend bool operator==(const ScheduleSpec&, const ScheduleSpec&) = default;
};

// A schedule as stored, with its state.
struct ScheduleInfo {
  ScheduleSpec spec;
  Timestamp next_fire_at{};
  std::optional<Timestamp> last_fire_at;
  std::optional<std::int64_t> last_job_id;
  Timestamp updated_at{};
};

// Checks a spec: the name (1-200 of letters, digits and _ - . :), the cron
// expression and time zone (CronSchedule::Parse), a kind, args that are a
// JSON object. Messages name the field: "schedules.nightly.cron: ...".
Status ValidateSchedule(const ScheduleSpec& spec);

// "schedule:NAME:<fire time, RFC 3339>": the fire's job's unique_key.
std::string ScheduleFireKey(const std::string& name, Timestamp fire);

struct FirePlan {
  std::optional<Timestamp> fire;  // the fire to enqueue; none: skipped (catch_up = none, too late)
  Timestamp next_fire_at{};       // what the row moves to
};

// For a due schedule (next_fire_at <= now): which fire runs, and the next one
// after `now`. With catch_up = one that is the latest fire at or before now
// (one run however many were missed); with none, that fire only if it is at
// most kCatchUpNoneLateness late. Nullopt when nothing is due.
std::optional<FirePlan> PlanFire(const CronSchedule& timing, CatchUp catch_up, Timestamp next_fire_at, Timestamp now);

}  // namespace jobwarden
