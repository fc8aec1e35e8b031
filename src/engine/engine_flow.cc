// The engine's flow-control operations (DESIGN.md "Flow control"): reading
// and changing queue and resource limits, the doctor's "held by" reasons,
// and the watch that turns queue warnings and breaker changes into events.
// Enforcement itself is in the store's fetch, in the leasing transaction.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "engine/engine.h"

namespace jobwarden {

namespace {

// The warnings a queue's counts and limits put in force at `now`.
std::vector<std::string> WarningsOf(const QueueInfo& q, Timestamp now) {
  std::vector<std::string> out;
  const std::int64_t available = q.counts[static_cast<int>(JobState::kAvailable)];
  if (q.limits.warn_depth && available > *q.limits.warn_depth) out.emplace_back(kWarnDepth);
  if (q.limits.warn_age && q.oldest_available_run_at && now - *q.oldest_available_run_at > *q.limits.warn_age) {
    out.emplace_back(kWarnAge);
  }
  return out;
}

std::string WarningMessage(const QueueInfo& q, std::string_view reason, Timestamp now) {
  const std::int64_t available = q.counts[static_cast<int>(JobState::kAvailable)];
  if (reason == kWarnDepth) {
    return "queue " + q.name + ": " + std::to_string(available) + " available jobs, over warn_depth " +
           std::to_string(q.limits.warn_depth.value_or(0));
  }
  const Duration age = q.oldest_available_run_at ? now - *q.oldest_available_run_at : Duration(0);
  return "queue " + q.name + ": oldest available job waits for " + FormatDurationShort(age) + ", over warn_age " +
         FormatDurationShort(q.limits.warn_age.value_or(Duration(0)));
}

// Limits a job leaving `running` may free (Engine::HasFlowLimits).
bool FreesOnStop(const QueueLimits& q) { return q.concurrency.has_value(); }
bool FreesOnStop(const ResourceLimits& r) { return r.concurrency.has_value() || r.breaker.failures > 0; }

}  // namespace

std::vector<std::string> ResourceHoldReasons(const ResourceInfo& r, Timestamp now) {
  std::vector<std::string> out;
  const std::string who = "resource " + r.key;
  if (r.held_until && *r.held_until > now) {
    out.push_back(who + " held by retry_after until " + FormatRfc3339(*r.held_until));
  }
  if (r.breaker.state == BreakerState::kOpen && r.breaker.open_until) {
    out.push_back(who + " breaker open until " + FormatRfc3339(*r.breaker.open_until) + " (" +
                  std::to_string(r.breaker.failures) + " failures in a row)");
  } else if (r.breaker.state == BreakerState::kHalfOpen && r.breaker.probe_job) {
    out.push_back(who + " breaker half-open: waiting for the probe " + FormatJobId(*r.breaker.probe_job));
  }
  if (r.limits.concurrency && r.running >= *r.limits.concurrency) {
    out.push_back(who + " concurrency " + std::to_string(*r.limits.concurrency) + " reached (" +
                  std::to_string(r.running) + " running)");
  }
  if (r.limits.rate && r.bucket && r.bucket->tokens < 1) {
    out.push_back(
        who + " rate " + r.limits.rate->text + " spent (next token at " +
        FormatRfc3339(WhenAvailable(*r.bucket, r.limits.rate->per_second, r.limits.EffectiveBurst(), 1, now)) + ")");
  }
  return out;
}

Result<std::vector<QueueInfo>> Engine::Queues() {
  JW_ASSIGN_OR_RETURN(std::vector<QueueInfo> queues, store_.QueueList());
  const Timestamp now = clock_.Now();
  for (QueueInfo& q : queues) q.warnings = WarningsOf(q, now);
  return queues;
}

Result<QueueInfo> Engine::Queue(const std::string& name) {
  JW_ASSIGN_OR_RETURN(std::vector<QueueInfo> queues, Queues());
  for (QueueInfo& q : queues) {
    if (q.name == name) return std::move(q);
  }
  return Status::NotFound("queue " + name + " has no jobs and no settings");
}

Result<QueueInfo> Engine::SetQueueLimits(const std::string& name, const QueueLimitsPatch& patch) {
  if (!IsValidName(name, kMaxQueueNameLength)) {
    return Status::InvalidArgument("queue: must be 1-" + std::to_string(kMaxQueueNameLength) +
                                   " characters of letters, digits and _ - . : /");
  }
  QueueLimits current;
  if (auto q = Queue(name); q.ok()) {
    current = q->limits;
  } else if (q.status().code() != StatusCode::kNotFound) {
    return q.status();
  }
  const QueueLimits next = Apply(current, patch);
  JW_RETURN_IF_ERROR(ValidateQueueLimits(next));
  JW_RETURN_IF_ERROR(store_.QueueSetLimits(name, next, clock_.Now()));
  WatchSoon();
  if (FreesOnStop(next)) has_flow_limits_.store(true);
  return Queue(name);
}

Result<std::vector<ResourceInfo>> Engine::Resources() { return store_.ResourceList(clock_.Now()); }

Result<ResourceInfo> Engine::Resource(const std::string& key) { return store_.ResourceGet(key, clock_.Now()); }

Result<ResourceInfo> Engine::SetResourceLimits(const std::string& key, const ResourceLimitsPatch& patch) {
  if (!IsValidName(key, 255)) {
    return Status::InvalidArgument("resource key: must be 1-255 characters of letters, digits and _ - . : /");
  }
  ResourceLimits current;
  if (auto r = Resource(key); r.ok()) {
    current = r->limits;
  } else if (r.status().code() != StatusCode::kNotFound) {
    return r.status();
  }
  const ResourceLimits next = Apply(current, patch);
  JW_RETURN_IF_ERROR(ValidateResourceLimits(next));
  JW_RETURN_IF_ERROR(store_.ResourceSetLimits(key, next, clock_.Now()));
  WatchSoon();
  if (FreesOnStop(next)) has_flow_limits_.store(true);
  return Resource(key);
}

Status Engine::ApplyLimits(const FlowLimits& limits) {
  for (const auto& [name, l] : limits.queues) {
    if (!IsValidName(name, kMaxQueueNameLength))
      return Status::InvalidArgument("queues." + name + ": not a valid queue name");
    if (Status s = ValidateQueueLimits(l); !s.ok()) return s.WithContext("queues." + name);
  }
  for (const auto& [key, l] : limits.resources) {
    if (!IsValidName(key, 255)) return Status::InvalidArgument("resources." + key + ": not a valid resource key");
    if (Status s = ValidateResourceLimits(l); !s.ok()) return s.WithContext("resources." + key);
  }
  const Timestamp now = clock_.Now();
  for (const auto& [name, l] : limits.queues) {
    JW_RETURN_IF_ERROR(store_.QueueSetLimits(name, l, now).WithContext("queues." + name));
    if (FreesOnStop(l)) has_flow_limits_.store(true);
  }
  for (const auto& [key, l] : limits.resources) {
    // Unchanged limits are not rewritten: a restart must not refill a bucket.
    if (FreesOnStop(l)) has_flow_limits_.store(true);
    if (auto r = store_.ResourceGet(key, now); r.ok() && r->limits == l) continue;
    JW_RETURN_IF_ERROR(store_.ResourceSetLimits(key, l, now).WithContext("resources." + key));
  }
  WatchSoon();
  return Status::Ok();
}

Result<std::vector<QueueHold>> Engine::HeldQueues() {
  JW_ASSIGN_OR_RETURN(std::vector<QueueInfo> queues, Queues());
  JW_ASSIGN_OR_RETURN(std::vector<ResourceInfo> resources, Resources());
  const Timestamp now = clock_.Now();
  std::map<std::string, std::vector<std::string>> holds_by_key;
  for (const ResourceInfo& r : resources) {
    std::vector<std::string> h = ResourceHoldReasons(r, now);
    if (!h.empty()) holds_by_key.emplace(r.key, std::move(h));
  }
  std::vector<QueueHold> out;
  for (const QueueInfo& q : queues) {
    const std::int64_t available = q.counts[static_cast<int>(JobState::kAvailable)];
    if (available == 0) continue;
    QueueHold hold;
    hold.queue = q.name;
    hold.available = available;
    if (q.paused) hold.reasons.push_back("queue paused");
    const std::int64_t running = q.counts[static_cast<int>(JobState::kRunning)];
    if (q.limits.concurrency && running >= *q.limits.concurrency) {
      hold.reasons.push_back("queue concurrency " + std::to_string(*q.limits.concurrency) + " reached (" +
                             std::to_string(running) + " running)");
    }
    if (!holds_by_key.empty()) {
      JW_ASSIGN_OR_RETURN(auto keys, store_.QueueResourceKeys(q.name, 1000));
      for (const auto& [key, n] : keys) {
        auto it = holds_by_key.find(key);
        if (it == holds_by_key.end()) continue;
        for (const std::string& why : it->second) hold.reasons.push_back(std::to_string(n) + " held: " + why);
      }
    }
    if (!hold.reasons.empty()) out.push_back(std::move(hold));
  }
  return out;
}

void Engine::WatchSoon() {
  MutexLock lock(watch_mu_);
  watch_has_subjects_ = true;
}

void Engine::AddFlowListener(FlowListener listener) { flow_listeners_.push_back(std::move(listener)); }

Status Engine::WatchFlow() {
  const Timestamp now = clock_.Now();
  std::vector<FlowEvent> events;
  {
    MutexLock lock(watch_mu_);
    if (watched_at_ && now - *watched_at_ < (watch_has_subjects_ ? kWatchEvery : kWatchIdleEvery)) {
      return Status::Ok();
    }
    watched_at_ = now;
    bool subjects = false;
    // Queue warnings: only queues that have warn_depth or warn_age.
    JW_ASSIGN_OR_RETURN(std::vector<QueueInfo> queues, Queues());
    std::map<std::string, std::string> warnings;  // "queue/reason" -> message
    for (const QueueInfo& q : queues) {
      subjects = subjects || q.limits.warn_depth || q.limits.warn_age;
      for (const std::string& reason : q.warnings)
        warnings.emplace(q.name + "/" + reason, WarningMessage(q, reason, now));
    }
    for (const auto& [id, message] : warnings) {
      if (watched_warnings_.count(id) != 0) continue;
      const std::size_t slash = id.rfind('/');
      events.push_back({FlowEvent::Kind::kQueueWarning, id.substr(0, slash), id.substr(slash + 1), message,
                        std::nullopt, BreakerState::kClosed, now});
    }
    for (const auto& [id, message] : watched_warnings_) {
      if (warnings.count(id) != 0) continue;
      const std::size_t slash = id.rfind('/');
      const std::string name = id.substr(0, slash);
      const std::string reason = id.substr(slash + 1);
      events.push_back({FlowEvent::Kind::kQueueWarningCleared, name, reason,
                        "queue " + name + ": " + reason + " warning cleared", std::nullopt, BreakerState::kClosed,
                        now});
    }
    watched_warnings_ = std::move(warnings);

    // Breakers: every resource that has one.
    JW_ASSIGN_OR_RETURN(std::vector<ResourceInfo> resources, Resources());
    std::map<std::string, BreakerState> breakers;
    for (const ResourceInfo& r : resources) {
      if (r.limits.breaker.failures == 0 && r.breaker.state == BreakerState::kClosed) continue;
      subjects = true;
      breakers.emplace(r.key, r.breaker.state);
      auto it = watched_breakers_.find(r.key);
      const BreakerState before = it == watched_breakers_.end() ? BreakerState::kClosed : it->second;
      if (before == r.breaker.state) continue;
      std::string message = "resource " + r.key + ": breaker " + std::string(ToString(before)) + " -> " +
                            std::string(ToString(r.breaker.state));
      if (r.breaker.state == BreakerState::kOpen && r.breaker.open_until) {
        message += " after " + std::to_string(r.breaker.failures) + " failures in a row, until " +
                   FormatRfc3339(*r.breaker.open_until);
      }
      events.push_back({FlowEvent::Kind::kBreaker, r.key, "", message, before, r.breaker.state, now});
    }
    watched_breakers_ = std::move(breakers);
    watch_has_subjects_ = subjects;
    bool frees = false;
    for (const QueueInfo& q : queues) frees = frees || FreesOnStop(q.limits);
    for (const ResourceInfo& r : resources) frees = frees || FreesOnStop(r.limits);
    has_flow_limits_.store(frees);
  }
  for (const FlowEvent& e : events) {
    if (e.kind == FlowEvent::Kind::kQueueWarningCleared) {
      spdlog::info("{}", e.message);
    } else {
      spdlog::warn("{}", e.message);
    }
    for (const FlowListener& l : flow_listeners_) l(e);
  }
  return Status::Ok();
}

}  // namespace jobwarden
