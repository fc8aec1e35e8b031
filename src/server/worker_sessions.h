// Remote workers as the server knows them: which ids are registered, and
// each one's session (GET /v1/worker/session), the stream a worker keeps open
// for its whole life.
//
// A session carries cancel notices at once (not only in heartbeat answers)
// and reveals a dead worker: the stream writes at least every session tick,
// so a closed peer fails a write within about two ticks; unless the worker
// opens a new session within the take-back grace (default 2 s), its jobs are
// taken back as `worker_lost` and the worker is declared lost (its later
// calls are refused: it must register again). A worker that deregisters, or
// a server that shuts down, ends sessions without any take-back (DESIGN.md
// "Timing rules"). A worker that never opened a session is covered by its
// leases only.
//
// While a worker's session is dropped (take-back pending) or after it was
// declared lost or seen gone by the reaper, it is leased nothing
// (CheckLeasable): its pending long-polls are ended at once (on_unleasable),
// so a job enqueued meanwhile goes to a live worker instead of waiting out
// the grace. A job leased to it after the drop anyway (a fetch that raced the
// drop) is handed back without spending an attempt when the grace ends.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "core/owned_thread.h"
#include "core/thread_annotations.h"
#include "engine/engine.h"
#include "server/stream_channel.h"

namespace jobwarden::server {

class WorkerSessions {
 public:
  struct Options {
    Duration grace = std::chrono::seconds(2);
    std::size_t max_sessions = 1024;
    std::int64_t epoch = 0;  // this server run's session epoch
    // Called (without the lock held) when a worker can no longer be leased a
    // job: its session dropped, or WorkerGone(). The server ends its fetch waits.
    std::function<void(const std::string& worker_id)> on_unleasable;
  };
  struct Session {
    std::string worker_id;
    std::shared_ptr<StreamChannel> channel;
    // A newer session took over. Guarded by WorkerSessions::mu_, and not
    // annotated: Clang's analysis cannot name another object's mutex.
    bool replaced = false;
  };

  WorkerSessions(Engine& engine, Options options);
  ~WorkerSessions();  // Stop()
  WorkerSessions(const WorkerSessions&) = delete;
  WorkerSessions& operator=(const WorkerSessions&) = delete;

  // The thread that sends cancel notices and takes back dropped workers.
  void Start();
  void Stop();

  // --- the directory of registered workers ---
  void Registered(const std::string& worker_id);
  // OK when `worker_id` is registered and not declared lost; NotFound or
  // Conflict (lost) otherwise, with a message naming the field.
  Status Check(const std::string& worker_id);
  // Check(), and the worker may be leased a job: not while its session is
  // dropped and not yet reopened (Unavailable).
  Status CheckLeasable(const std::string& worker_id);
  // A clean exit: its session ends with `bye`, without take-back.
  void Deregistered(const std::string& worker_id);
  // The engine saw the worker die (the reaper's same-host check) and marked it
  // stopped: declared lost here too, and leased nothing.
  void WorkerGone(const std::string& worker_id);

  // --- sessions ---
  // Opens a session for a registered worker; a pending take-back is called
  // off, and an older session of the same worker is ended (`replaced`).
  // Unavailable beyond `max_sessions` or while shutting down.
  Result<std::shared_ptr<Session>> Open(const std::string& worker_id);
  // The session's stream ended (peer gone, replaced, or shutdown).
  void Ended(const std::shared_ptr<Session>& session);
  bool HasSession(const std::string& worker_id) const;
  std::size_t open_sessions() const;

  // A running job was asked to stop (engine listener): its holder's session
  // gets a `cancel` notice.
  void StopRequested(JobId id);

  // Ends every session with `shutdown`; from now on nothing is taken back.
  void CloseAll(const std::string& reason);

  std::int64_t epoch() const { return options_.epoch; }
  Duration grace() const { return options_.grace; }

 private:
  enum class WorkerState { kActive, kLost };
  void Loop(const std::stop_token& stop) EXCLUDES(mu_);
  // REQUIRES: mu_ held. Whether Loop has something to do now.
  bool WorkDueLocked() const REQUIRES(mu_);
  void SendCancelNotice(JobId id) EXCLUDES(mu_);
  void TakeBack(const std::string& worker_id) EXCLUDES(mu_);

  Engine& engine_;
  const Options options_;
  mutable Mutex mu_;
  CondVar cv_;  // notices and take-backs for Loop; Stop() wakes it through the OwnedThread's wake
  std::map<std::string, WorkerState> workers_ GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Session>> sessions_ GUARDED_BY(mu_);              // the current one per worker
  std::size_t open_ GUARDED_BY(mu_) = 0;                                                  // streams not yet ended
  std::map<std::string, std::chrono::steady_clock::time_point> pending_ GUARDED_BY(mu_);  // take-back due
  // When each pending drop was noticed (engine clock).
  std::map<std::string, Timestamp> dropped_at_ GUARDED_BY(mu_);
  std::deque<JobId> notices_ GUARDED_BY(mu_);
  bool closing_ GUARDED_BY(mu_) = false;  // shutdown began
  OwnedThread thread_;                    // Loop; joined by Stop()
};

}  // namespace jobwarden::server
