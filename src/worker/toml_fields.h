// Typed values out of a parsed TOML file, with errors that name the file and
// the key ("demo.toml: worker.lease_ttl: expected a duration such as \"30s\"").
// Shared by the two config readers: worker/config.cc ([worker], [kinds.*])
// and server/server_config.cc ([server]).
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/time.h"

namespace jobwarden::toml_fields {

// kInvalidArgument "<file>: <key>: <why>".
Status Bad(const std::string& file, const std::string& key, const std::string& why);

// A duration string ("30s", "1h30m") or a number of seconds.
Result<Duration> ReadDuration(const toml::node& node, const std::string& file, const std::string& key);

// An integer within [min, max].
Result<std::int64_t> ReadInteger(const toml::node& node, const std::string& file, const std::string& key,
                                 std::int64_t min, std::int64_t max);

}  // namespace jobwarden::toml_fields
