// Batches on the wire (DESIGN.md "Batches"): the body of POST /v1/batches
// (and of a handler's fd-3 {"batch": ...} line), and the reader of the batch
// JSON that core/batch.h's EncodeBatchJson writes (the CLI against a server).
#pragma once

#include <nlohmann/json.hpp>

#include "core/batch.h"
#include "core/status.h"

namespace jobwarden {

// Strict: unknown fields are refused, every error names the field the way
// the caller wrote it ("jobs[3].timeout_s: ...", "callback.kind: required").
// Values (ranges, one deadline of two) are the engine's to check.
Result<BatchRequest> ParseBatchRequest(const nlohmann::json& body);

// The writer's inverse, for a client that submits a batch.
nlohmann::json BatchRequestToJson(const BatchRequest& r);

// A malformed answer is kInternal naming the field, as the other answer decoders.
Result<BatchInfo> BatchInfoFromJson(const nlohmann::json& j);

}  // namespace jobwarden
