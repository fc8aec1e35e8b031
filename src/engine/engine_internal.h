// The engine's shared rules, used by the files that implement Engine
// (engine.cc, engine_admin.cc). Not part of its interface.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

#include "core/job.h"

namespace jobwarden::engine_internal {

inline constexpr int kChunk = 1000;  // rows per write in maintenance and bulk admin

using ::jobwarden::IsValidName;
inline bool ValidName(std::string_view s, std::size_t max_len) { return IsValidName(s, max_len); }

}  // namespace jobwarden::engine_internal
