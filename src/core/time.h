// Time as jobwarden stores and speaks it.
//
// Timestamps are UTC wall-clock milliseconds since the Unix epoch: that is
// what the database stores (INTEGER) and what the API prints (RFC 3339 with
// milliseconds). Durations are milliseconds. Time is always passed in by the
// caller (from a Clock), never read inside logic, so tests can move it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace jobwarden {

using Duration = std::chrono::milliseconds;
using Timestamp = std::chrono::time_point<std::chrono::system_clock, Duration>;

inline std::int64_t ToMillis(Timestamp t) { return t.time_since_epoch().count(); }
inline Timestamp FromMillis(std::int64_t ms) { return Timestamp(Duration(ms)); }

// "2026-11-23T03:04:16.123Z"
std::string FormatRfc3339(Timestamp t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fff]Z" and numeric offsets ("+02:00").
Result<Timestamp> ParseRfc3339(std::string_view text);

// Parses "500ms", "30s", "5m", "2h", "1d" and sums like "1h30m". A bare number is
// seconds. Negative or empty input is an error naming what was wrong.
Result<Duration> ParseDuration(std::string_view text);
// Seconds as a JSON-friendly number: 1500ms -> 1.5.
double ToSeconds(Duration d);
// Seconds (fractions allowed, as in fields ending `_s`) to a Duration; rejects
// negative, NaN and absurdly large values.
Result<Duration> FromSeconds(double seconds);
// A short human form for tables: "850ms", "12.3s", "4m05s", "2h10m".
std::string FormatDurationShort(Duration d);

}  // namespace jobwarden
