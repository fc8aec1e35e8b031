// The queue JSON and the resource JSON of DESIGN.md ("Flow control"), and the
// bodies that change their limits (PUT /v1/queues/{name}, PUT
// /v1/resources/{key}). One writer and one reader each, used by the server
// (its answers), the CLI (--json, and its remote mode) and the dashboard's
// API, so the field names cannot drift.
//
// Queue JSON: `name`, `paused`, `counts` {per state}, `oldest_available_run_at`,
// `oldest_available_age_s`, `concurrency` (null: unlimited), `running`,
// `warn_depth`, `warn_age_s` (null: off), `warnings` (["depth", "age"]: in force).
//
// Resource JSON: `key`, `concurrency`, `rate` ("10/s"; null: unlimited),
// `burst` (null: the rate's N), `breaker_failures` (null: no breaker),
// `breaker_cooldown_s`, `running`, `available`, `breaker` {`state`, `failures`,
// `open_until`}, `held_until` (a retry_after hold in force), and `stats` over
// the last 5 minutes {`succeeded`, `failed`, `success_rate` (null: no runs),
// `p50_s`, `p95_s`}.
//
// The change bodies follow JSON merge-patch (RFC 7396): a field left out keeps
// its value, `null` clears it, a value sets it. Fields: queue `concurrency`,
// `warn_depth`, `warn_age_s`; resource `concurrency`, `rate`, `burst`,
// `breaker_failures`, `breaker_cooldown_s`. Unknown fields and wrong types are
// refused naming the field; the values themselves are the engine's to check.
#pragma once

#include <nlohmann/json.hpp>

#include "core/flow_config.h"
#include "core/queue_info.h"
#include "core/resource_info.h"
#include "core/status.h"
#include "core/time.h"

namespace jobwarden {

// `now` gives `oldest_available_age_s`.
nlohmann::json QueueInfoToJson(const QueueInfo& q, Timestamp now);
// The reader of QueueInfoToJson (a server's answer: wrong types are kInternal).
Result<QueueInfo> QueueInfoFromJson(const nlohmann::json& j);

nlohmann::json ResourceInfoToJson(const ResourceInfo& r);
// The reader of ResourceInfoToJson. The token bucket is not part of the JSON:
// `bucket` stays empty.
Result<ResourceInfo> ResourceInfoFromJson(const nlohmann::json& j);

// Request bodies (kInvalidArgument naming the field).
Result<QueueLimitsPatch> ParseQueueLimitsPatch(const nlohmann::json& body);
Result<ResourceLimitsPatch> ParseResourceLimitsPatch(const nlohmann::json& body);
// The bodies a client sends for a patch: `clear` is every field null, then
// the patch's own fields on top.
nlohmann::json QueueLimitsPatchToJson(const QueueLimitsPatch& p);
nlohmann::json ResourceLimitsPatchToJson(const ResourceLimitsPatch& p);

}  // namespace jobwarden
