// How flow-control limits are given: whole sets from a config file
// ([queues.NAME] / [resources."KEY"] tables, applied at start) and changes
// from the API and the CLI (PUT /v1/queues/{name}, `jobwarden queue set`),
// where a field left out keeps its value and a null clears it.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "core/flow_control.h"

namespace jobwarden {

// Absent: unchanged. Present but empty (null): cleared. Present: set.
template <typename T>
using FieldChange = std::optional<std::optional<T>>;

struct QueueLimitsPatch {
  bool clear = false;  // clear every limit first (`--clear`)
  FieldChange<int> concurrency;
  FieldChange<std::int64_t> warn_depth;
  FieldChange<Duration> warn_age;
};

struct ResourceLimitsPatch {
  bool clear = false;
  FieldChange<int> concurrency;
  FieldChange<Rate> rate;
  FieldChange<double> burst;
  FieldChange<int> breaker_failures;       // null: no breaker (0)
  FieldChange<Duration> breaker_cooldown;  // null: the default, 30 s
};

namespace flow_internal {
template <typename T>
void ApplyField(std::optional<T>& field, const FieldChange<T>& change) {
  if (change) field = *change;
}
}  // namespace flow_internal

inline QueueLimits Apply(QueueLimits base, const QueueLimitsPatch& p) {
  if (p.clear) base = QueueLimits{};
  flow_internal::ApplyField(base.concurrency, p.concurrency);
  flow_internal::ApplyField(base.warn_depth, p.warn_depth);
  flow_internal::ApplyField(base.warn_age, p.warn_age);
  return base;
}

inline ResourceLimits Apply(ResourceLimits base, const ResourceLimitsPatch& p) {
  if (p.clear) base = ResourceLimits{};
  flow_internal::ApplyField(base.concurrency, p.concurrency);
  flow_internal::ApplyField(base.rate, p.rate);
  flow_internal::ApplyField(base.burst, p.burst);
  // Clearing the rate clears its burst: a burst without a rate means nothing.
  if (p.rate && !*p.rate && !p.burst) base.burst.reset();
  if (p.breaker_failures) base.breaker.failures = p.breaker_failures->value_or(0);
  if (p.breaker_cooldown) base.breaker.cooldown = p.breaker_cooldown->value_or(BreakerConfig{}.cooldown);
  return base;
}

// The limits a config file declares. Applied at start by every process that
// opens an engine with the file: each named queue and resource gets exactly
// these limits (a key left out of its table is cleared); queues and
// resources the file does not name keep what the API set.
struct FlowLimits {
  std::map<std::string, QueueLimits> queues;
  std::map<std::string, ResourceLimits> resources;
  bool empty() const { return queues.empty() && resources.empty(); }
};

}  // namespace jobwarden
