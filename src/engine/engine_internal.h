// The engine's shared rules, used by the files that implement Engine
// (engine.cc, engine_admin.cc). Not part of its interface.
#pragma once

namespace jobwarden::engine_internal {

inline constexpr int kChunk = 1000;  // rows per write in maintenance and bulk admin

}  // namespace jobwarden::engine_internal
