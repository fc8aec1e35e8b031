#include "engine/reaper.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace jobwarden {

Duration DefaultReaperTick(Duration lease_ttl) { return std::min<Duration>(std::chrono::seconds(1), lease_ttl / 4); }

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
  thread_.Start([this](const std::stop_token& stop) { Loop(stop); },
                [this] {
                  { MutexLock sync(mu_); }  // the loop checks its token under mu_: no lost wake-up
                  cv_.NotifyAll();
                });
}

void Reaper::Stop() { thread_.Stop(); }

void Reaper::Wake() {
  {
    MutexLock lock(mu_);
    wake_ = true;
  }
  cv_.NotifyAll();
}

void Reaper::Loop(const std::stop_token& stop) {
  // The server-start grace is owed until one pass has gone through.
  bool first = options_.server_start_grace;
  while (true) {
    Result<ReapStats> r = engine_.ReapOnce(first ? Engine::ReapPass::kAfterServerStart : Engine::ReapPass::kRegular);
    if (!r.ok()) {
      spdlog::warn("reaper: pass failed, will retry next tick: {}", r.status().ToString());
    } else {
      first = false;
      if (options_.on_pass) options_.on_pass(*r);
    }
    const auto until = std::chrono::steady_clock::now() + options_.tick;
    MutexLock lock(mu_);
    while (!stop.stop_requested() && !wake_ && cv_.WaitUntil(mu_, until) == std::cv_status::no_timeout) {
    }
    if (stop.stop_requested()) return;
    wake_ = false;
  }
}

}  // namespace jobwarden
