#include "engine/reaper.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace jobwarden {

Duration DefaultReaperTick(Duration lease_ttl) {
  return std::min<Duration>(std::chrono::seconds(1), lease_ttl / 4);
}

namespace {
// Every tick is at least 10 ms.
ReaperOptions WithTick(ReaperOptions o) {
  o.tick = std::max(o.tick, Duration(10));
  return o;
}
}  // namespace

Reaper::Reaper(Engine& engine, Duration tick)
    : Reaper(engine, ReaperOptions{.tick = tick, .server_start_grace = false, .on_pass = nullptr}) {}

Reaper::Reaper(Engine& engine, ReaperOptions options) : engine_(engine), options_(WithTick(std::move(options))) {}

Reaper::~Reaper() { Stop(); }

void Reaper::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  thread_.Start([this](const std::stop_token& stop) { Loop(stop); });
}

void Reaper::Stop() { thread_.Stop(); }

void Reaper::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Reaper::Loop(const std::stop_token& stop) {
  // The server-start grace is owed until one pass has gone through.
  bool first = options_.server_start_grace;
  while (true) {
    Result<ReapStats> r =
        engine_.ReapOnce(first ? Engine::ReapPass::kAfterServerStart : Engine::ReapPass::kRegular);
    if (!r.ok()) {
      spdlog::warn("reaper: pass failed, will retry next tick: {}", r.status().ToString());
    } else {
      first = false;
      if (options_.on_pass) options_.on_pass(*r);
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, stop, options_.tick, [&] { return wake_; });
    if (stop.stop_requested()) return;
    wake_ = false;
  }
}

}  // namespace jobwarden
