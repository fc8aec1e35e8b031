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
  MutexLock lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Reaper::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

void Reaper::Wake() {
  {
    MutexLock lock(mu_);
    wake_ = true;
  }
  cv_.NotifyAll();
}

void Reaper::Loop() {
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
    const auto until = std::chrono::steady_clock::now() + options_.tick;
    MutexLock lock(mu_);
    while (!stop_ && !wake_ && cv_.WaitUntil(mu_, until) == std::cv_status::no_timeout) {
    }
    if (stop_) return;
    wake_ = false;
  }
}

}  // namespace jobwarden
