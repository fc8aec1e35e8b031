#include "engine/reaper.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace jobwarden {

Duration DefaultReaperTick(Duration lease_ttl) {
  return std::min<Duration>(std::chrono::seconds(1), lease_ttl / 4);
}

Reaper::Reaper(Engine& engine, Duration tick) : engine_(engine), tick_(std::max(tick, Duration(10))) {}

Reaper::~Reaper() { Stop(); }

void Reaper::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Reaper::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Reaper::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Reaper::Loop() {
  while (true) {
    Result<ReapStats> r = engine_.ReapOnce();
    if (!r.ok()) spdlog::warn("reaper: pass failed, will retry next tick: {}", r.status().ToString());
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, tick_, [&] { return stop_ || wake_; });
    if (stop_) return;
    wake_ = false;
  }
}

}  // namespace jobwarden
