// The reaper service: runs Engine::ReapOnce() every tick on its own thread.
//
// All the logic lives in Engine::ReapOnce (one pass, guarded, idempotent);
// this is only the loop, so tests call ReapOnce directly with a FakeClock.
#pragma once

#include <functional>
#include <stop_token>

#include "core/owned_thread.h"
#include "core/thread_annotations.h"
#include "engine/engine.h"

namespace jobwarden {

// The reaper tick of DESIGN.md: min(1 s, TTL/4).
Duration DefaultReaperTick(Duration lease_ttl);

struct ReaperOptions {
  Duration tick = std::chrono::seconds(1);
  // The first pass is Engine::ReapPass::kAfterServerStart (a server's reaper).
  bool server_start_grace = false;
  // Called on the reaper thread after every successful pass (e.g. the server
  // wakes one long-poll per job the pass made available).
  std::function<void(const ReapStats&)> on_pass;
};

class Reaper {
 public:
  Reaper(Engine& engine, Duration tick);
  Reaper(Engine& engine, ReaperOptions options);
  ~Reaper();  // stops and joins
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  void Start();
  // Stops the loop and joins the thread. Idempotent.
  void Stop();
  // Asks for a pass as soon as possible (e.g. after a known worker death).
  void Wake();

 private:
  void Loop(const std::stop_token& stop);

  Engine& engine_;
  const ReaperOptions options_;
  Mutex mu_;
  CondVar cv_;  // Wake(), and Stop() through the OwnedThread's wake
  bool wake_ GUARDED_BY(mu_) = false;
  OwnedThread thread_;  // joined by Stop()
};

}  // namespace jobwarden
