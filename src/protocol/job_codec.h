// The job JSON of DESIGN.md read back into the model: the decoder beside
// protocol/job_json.h's encoder, for everything that receives jobs over HTTP
// (the worker's RemoteBackend, the CLI's remote mode). JobToJson(JobFromJson(j))
// gives `j` back, so remote `status --json` prints what local mode prints.
//
// Decoding is strict about types (a server answer of the wrong shape is a
// bug, kInternal, naming the field) and lenient about absence (a field the
// server left out keeps the model's default).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string_view>
#include <vector>

#include "core/enqueue.h"
#include "core/job.h"
#include "core/status.h"
#include "core/worker_protocol.h"

namespace jobwarden {

// One reader of the job JSON, on its text (simdjson On-Demand): every job the
// client receives goes through it, so the decoders cannot drift. A job
// object; with a `lease` member (a fetch answer) also the lease token,
// expiry, TTL and grace.
Result<Job> JobFromJsonText(std::string_view text);

// The fetch answer {"jobs": [...]} decoded straight from its text: the
// worker's hot path (escapes, errors histories, any UTF-8 included).
Result<std::vector<Job>> JobsFromFetchAnswer(std::string_view text);

// The same reader for a tree (the CLI's remote mode): its text, read.
Result<Job> JobFromJson(const nlohmann::json& j);
Result<std::vector<Job>> JobsFromJson(const nlohmann::json& array);

// POST /v1/jobs body.
nlohmann::json EnqueueRequestToJson(const EnqueueRequest& r);

// The queue and resource JSON: protocol/flow_json.h.

}  // namespace jobwarden
