// The engine's shared rules, used by the files that implement Engine
// (engine.cc, engine_admin.cc). Not part of its interface.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace jobwarden::engine_internal {

inline constexpr int kChunk = 1000;  // rows per write in maintenance and bulk admin

// Queue and kind names: 1..max_len of [A-Za-z0-9_.:/-].
inline bool ValidName(std::string_view s, std::size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':' || c == '/';
  });
}

}  // namespace jobwarden::engine_internal
