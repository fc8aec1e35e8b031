// Failure groups on the wire (GET /v1/failures, `jobwarden failures --json`):
// pattern, class, kinds, count, first_at, last_at, sample_job_ids.
#pragma once

#include <nlohmann/json.hpp>

#include "core/failure_groups.h"
#include "core/status.h"

namespace jobwarden {

nlohmann::json FailureGroupToJson(const FailureGroup& g);
// A malformed answer is kInternal naming the field, as the other answer decoders.
Result<FailureGroup> FailureGroupFromJson(const nlohmann::json& j);

}  // namespace jobwarden
