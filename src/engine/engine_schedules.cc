// The engine's schedules (DESIGN.md "Schedules"; core/schedule.h): the
// config file's tables applied at start, the list with each next fire, and
// the fires, which every reaper pass tries (guarded in the store, so any
// number of processes fire each one once).
#include <spdlog/spdlog.h>

#include "engine/engine.h"

namespace jobwarden {

namespace {

// The job a schedule's fire enqueues (its unique_key is the fire's).
EnqueueRequest FireRequest(const ScheduleSpec& spec) {
  EnqueueRequest r;
  r.kind = spec.kind;
  r.args = spec.args;
  r.queue = spec.queue;
  return r;
}

}  // namespace

Status Engine::ApplySchedules(const std::vector<ScheduleSpec>& specs) {
  const Timestamp now = clock_.Now();
  std::vector<ScheduleUpsertItem> items;
  items.reserve(specs.size());
  for (const ScheduleSpec& spec : specs) {
    JW_RETURN_IF_ERROR(ValidateSchedule(spec));
    JW_ASSIGN_OR_RETURN(CronSchedule timing, CronSchedule::Parse(spec.cron, spec.timezone));
    auto next = timing.NextAfter(now);
    if (!next) return Status::InvalidArgument("schedules." + spec.name + ".cron: never fires");
    // The job a fire enqueues must be one the engine accepts: checked now, not at the first fire.
    if (auto prepared = Prepare(FireRequest(spec), now); !prepared.ok()) {
      return prepared.status().WithContext("schedules." + spec.name);
    }
    items.push_back({spec, *next});
  }
  if (items.empty()) return Status::Ok();
  return store_.ScheduleUpsert(items, now);
}

Result<std::vector<ScheduleInfo>> Engine::Schedules() { return store_.ScheduleList(); }

Result<std::int64_t> Engine::FireDueSchedules(Timestamp now) {
  JW_ASSIGN_OR_RETURN(std::vector<ScheduleInfo> schedules, store_.ScheduleList());
  std::int64_t fired = 0;
  for (const ScheduleInfo& s : schedules) {
    if (s.next_fire_at > now) continue;
    auto timing = CronSchedule::Parse(s.spec.cron, s.spec.timezone);
    if (!timing.ok()) {
      // Written by a newer or broken process: say so every pass, and leave it alone.
      spdlog::error("schedule {}: {}; not fired", s.spec.name, timing.status().message());
      continue;
    }
    const std::optional<FirePlan> plan = PlanFire(*timing, s.spec.catch_up, s.next_fire_at, now);
    if (!plan) continue;
    ScheduleFireParams p{s.spec.name, s.next_fire_at, plan->next_fire_at, plan->fire, std::nullopt, now};
    if (plan->fire) {
      EnqueueRequest r = FireRequest(s.spec);
      r.unique_key = ScheduleFireKey(s.spec.name, *plan->fire);
      auto job = Prepare(r, now);
      if (!job.ok()) {
        spdlog::error("schedule {}: its job is refused: {}; not fired", s.spec.name, job.status().ToString());
        continue;
      }
      p.job = std::move(job).value();
    }
    JW_ASSIGN_OR_RETURN(ScheduleFireResult result, store_.ScheduleFire(p));
    if (!result.won) continue;  // another process fired it
    if (!plan->fire) {
      spdlog::info("schedule {}: skipped the fire of {} (catch_up = none; {} late); next {}", s.spec.name,
                   FormatRfc3339(s.next_fire_at), FormatDurationShort(now - s.next_fire_at),
                   FormatRfc3339(plan->next_fire_at));
      continue;
    }
    ++fired;
    if (result.job && !result.job->deduplicated) {
      Emit({result.job->id, s.spec.kind, s.spec.queue, std::nullopt, JobState::kAvailable, std::nullopt,
            "enqueued by schedule " + s.spec.name, now});
    }
    spdlog::info("schedule {}: fired {} (job {}); next {}", s.spec.name, FormatRfc3339(*plan->fire),
                 result.job ? std::to_string(result.job->id) : std::string("-"), FormatRfc3339(plan->next_fire_at));
  }
  return fired;
}

}  // namespace jobwarden
