// Typed values out of a parsed TOML file, with errors that name the file and
// the key ("demo.toml: worker.lease_ttl: expected a duration such as \"30s\"").
// The one TOML reader of every config section: [worker] (worker/config.cc),
// [kinds.*] (config/kinds.cc), [server] (server/server_config.cc), [queues.*]
// and [resources.*] (config/flow_limits.cc) and the seed file (app/seed_jobs.cc).
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/time.h"

namespace jobwarden::toml_fields {

// Parses `path`. kInvalidArgument "<file>: no such config file", or
// "<file>:<line>:<column>: <what is wrong>".
Result<toml::table> ParseFile(const std::string& path);

// One file configures every process (`jobwarden up` gives the same file to
// its server and its workers), and each reads only its own sections: this
// refuses a section that no process reads ("[kind.x]" for "[kinds.x]"), so a
// typo is never silently ignored. Sections: [worker] (worker/config.h),
// [kinds.NAME] (config/kinds.h), [server] (server/server_config.h),
// [queues.NAME] and [resources."KEY"] (config/flow_limits.h).
Status OnlyKnownSections(const toml::table& root, const std::string& file);

// kInvalidArgument "<file>: <key>: <why>".
Status Bad(const std::string& file, const std::string& key, const std::string& why);

// A duration string ("30s", "1h30m") or a number of seconds.
Result<Duration> ReadDuration(const toml::node& node, const std::string& file, const std::string& key);

// An integer within [min, max].
Result<std::int64_t> ReadInteger(const toml::node& node, const std::string& file, const std::string& key,
                                 std::int64_t min, std::int64_t max);
Result<int> ReadInt(const toml::node& node, const std::string& file, const std::string& key, int min, int max);

Result<std::string> ReadString(const toml::node& node, const std::string& file, const std::string& key);
Result<std::vector<std::string>> ReadStrings(const toml::node& node, const std::string& file, const std::string& key);

// An integer written as text (an environment variable, a TOML key) within
// [min, max]: kInvalidArgument "'x' is not an integer from MIN to MAX".
Result<int> ParseInt(const std::string& text, int min, int max);

}  // namespace jobwarden::toml_fields
