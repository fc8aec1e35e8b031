#include "server/worker_sessions.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace jobwarden::server {

WorkerSessions::WorkerSessions(Engine& engine, Options options) : engine_(engine), options_(options) {}

WorkerSessions::~WorkerSessions() { Stop(); }

void WorkerSessions::Start() {
  MutexLock lock(mu_);
  thread_.Start([this](const std::stop_token& stop) { Loop(stop); },
                [this] {
                  { MutexLock sync(mu_); }  // the loop checks its token under mu_: no lost wake-up
                  cv_.NotifyAll();
                });
}

void WorkerSessions::Stop() { thread_.Stop(); }

void WorkerSessions::Registered(const std::string& worker_id) {
  MutexLock lock(mu_);
  workers_[worker_id] = WorkerState::kActive;
  pending_.erase(worker_id);
  dropped_at_.erase(worker_id);
}

Status WorkerSessions::Check(const std::string& worker_id) {
  if (worker_id.empty()) return Status::InvalidArgument("worker_id: required").WithField("worker_id");
  {
    MutexLock lock(mu_);
    auto it = workers_.find(worker_id);
    if (it != workers_.end()) {
      if (it->second == WorkerState::kActive) return Status::Ok();
      return Status::Conflict("worker_id: worker '" + worker_id +
                              "' was declared lost (its session dropped and was "
                              "not reopened within the take-back grace); register again")
          .WithField("worker_id");
    }
  }
  // Registered before this server started, or by another server on the same database.
  auto workers = engine_.Workers(false);
  if (!workers.ok()) return workers.status();
  for (const WorkerRecord& w : *workers) {
    if (w.id == worker_id) {
      MutexLock lock(mu_);
      workers_.emplace(worker_id, WorkerState::kActive);
      return Status::Ok();
    }
  }
  return Status::NotFound("worker_id: worker '" + worker_id + "' is not registered (POST /v1/worker/register first)")
      .WithField("worker_id");
}

Status WorkerSessions::CheckLeasable(const std::string& worker_id) {
  JW_RETURN_IF_ERROR(Check(worker_id));
  MutexLock lock(mu_);
  if (pending_.count(worker_id) > 0) {
    return Status::Unavailable("worker_id: the session of worker '" + worker_id +
                               "' dropped; it is leased nothing until it reopens the session")
        .WithField("worker_id");
  }
  return Status::Ok();
}

void WorkerSessions::WorkerGone(const std::string& worker_id) {
  {
    MutexLock lock(mu_);
    auto it = workers_.find(worker_id);
    if (it != workers_.end()) it->second = WorkerState::kLost;
  }
  if (options_.on_unleasable) options_.on_unleasable(worker_id);
}

void WorkerSessions::Deregistered(const std::string& worker_id) {
  std::shared_ptr<Session> s;
  {
    MutexLock lock(mu_);
    workers_.erase(worker_id);
    pending_.erase(worker_id);
    dropped_at_.erase(worker_id);
    auto it = sessions_.find(worker_id);
    if (it != sessions_.end()) {
      s = it->second;
      sessions_.erase(it);
      s->replaced = true;  // its end is not a death
    }
  }
  if (s) s->channel->Close(SseFrame("bye", R"({"message":"the worker deregistered"})"));
}

Result<std::shared_ptr<WorkerSessions::Session>> WorkerSessions::Open(const std::string& worker_id) {
  JW_RETURN_IF_ERROR(Check(worker_id));
  auto s = std::make_shared<Session>();
  s->worker_id = worker_id;
  s->channel = std::make_shared<StreamChannel>(4096);
  std::shared_ptr<Session> old;
  {
    MutexLock lock(mu_);
    if (closing_) return Status::Unavailable("the server is shutting down");
    if (open_ >= options_.max_sessions) {
      return Status::Unavailable("too many open worker sessions (limit " + std::to_string(options_.max_sessions) + ")");
    }
    ++open_;
    pending_.erase(worker_id);
    dropped_at_.erase(worker_id);
    auto it = sessions_.find(worker_id);
    if (it != sessions_.end()) {
      old = it->second;
      old->replaced = true;
    }
    sessions_[worker_id] = s;
  }
  if (old) old->channel->Close(SseFrame("replaced", R"({"message":"a newer session of this worker took over"})"));
  const nlohmann::json hello = {
      {"worker_id", worker_id}, {"session_epoch", options_.epoch}, {"grace_s", ToSeconds(options_.grace)}};
  s->channel->Push(SseFrame("hello", hello.dump()));
  return s;
}

void WorkerSessions::Ended(const std::shared_ptr<Session>& session) {
  bool scheduled = false;
  {
    MutexLock lock(mu_);
    --open_;
    if (session->replaced || closing_) return;
    auto it = sessions_.find(session->worker_id);
    if (it == sessions_.end() || it->second != session) return;
    sessions_.erase(it);
    pending_[session->worker_id] = std::chrono::steady_clock::now() + options_.grace;
    dropped_at_[session->worker_id] = engine_.clock().Now();
    scheduled = true;
  }
  if (scheduled) {
    spdlog::info("worker {}: session dropped; its jobs are taken back unless it reconnects within {}",
                 session->worker_id, FormatDurationShort(options_.grace));
    if (options_.on_unleasable) options_.on_unleasable(session->worker_id);
    cv_.NotifyAll();
    // On this host a dead worker's death can be seen at once (its pid is
    // gone): no need to wait for the grace, nor for the reaper's next tick.
    // The engine then tells WorkerGone(); the pending take-back finds nothing.
    auto seen = engine_.TakeBackIfSeenGone(session->worker_id);
    if (!seen.ok()) spdlog::warn("worker {}: {}", session->worker_id, seen.status().ToString());
  }
}

bool WorkerSessions::HasSession(const std::string& worker_id) const {
  MutexLock lock(mu_);
  return sessions_.count(worker_id) > 0;
}

std::size_t WorkerSessions::open_sessions() const {
  MutexLock lock(mu_);
  return open_;
}

void WorkerSessions::StopRequested(JobId id) {
  {
    MutexLock lock(mu_);
    if (sessions_.empty()) return;
    notices_.push_back(id);
  }
  cv_.NotifyAll();
}

void WorkerSessions::CloseAll(const std::string& reason) {
  std::map<std::string, std::shared_ptr<Session>> sessions;
  {
    MutexLock lock(mu_);
    closing_ = true;
    pending_.clear();
    dropped_at_.clear();
    sessions = sessions_;
  }
  const std::string frame = SseFrame("shutdown", nlohmann::json({{"message", reason}}).dump());
  for (const auto& [id, s] : sessions) s->channel->Close(frame);
}

void WorkerSessions::SendCancelNotice(JobId id) {
  auto job = engine_.Get(id);
  if (!job.ok() || job->state != JobState::kRunning || !job->cancel_requested || !job->worker_id) return;
  std::shared_ptr<Session> s;
  {
    MutexLock lock(mu_);
    auto it = sessions_.find(*job->worker_id);
    if (it == sessions_.end()) return;
    s = it->second;
  }
  const nlohmann::json notice = {
      {"job_id", FormatJobId(job->id)},
      {"token", job->lease_token},
      {"reason", std::string(ToString(job->cancel_reason))},
      {"takeback_at", job->takeback_at ? nlohmann::json(FormatRfc3339(*job->takeback_at)) : nlohmann::json(nullptr)}};
  s->channel->Push(SseFrame("cancel", notice.dump()));
}

void WorkerSessions::TakeBack(const std::string& worker_id) {
  const std::string message = "worker " + worker_id + ": its session dropped and was not reopened within " +
                              FormatDurationShort(options_.grace);
  std::optional<Timestamp> dropped_at;
  {
    MutexLock lock(mu_);
    auto it = dropped_at_.find(worker_id);
    if (it != dropped_at_.end()) {
      dropped_at = it->second;
      dropped_at_.erase(it);
    }
  }
  // A job leased after the drop was noticed (a fetch that raced it) never
  // reached a live handler: handed back without spending an attempt.
  auto taken = engine_.TakeBackWorker(worker_id, ErrorClass::kWorkerLost, message, dropped_at);
  if (!taken.ok()) {
    spdlog::error("worker {}: take-back failed, the leases remain the safety net: {}", worker_id,
                  taken.status().ToString());
    return;
  }
  bool reopened = false;
  {
    MutexLock lock(mu_);
    reopened = sessions_.count(worker_id) > 0;
    if (!reopened && workers_.count(worker_id) > 0) workers_[worker_id] = WorkerState::kLost;
  }
  if (!reopened) {
    Status s = engine_.DeregisterWorker(worker_id);
    if (!s.ok()) spdlog::warn("worker {}: could not mark it stopped: {}", worker_id, s.ToString());
  }
  spdlog::warn("worker {} lost (session dropped): took back {} job(s)", worker_id, taken->size());
}

void WorkerSessions::Loop(const std::stop_token& stop) {
  MutexLock lock(mu_);
  while (!stop.stop_requested()) {
    auto next = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (const auto& [id, due] : pending_) next = std::min(next, due);
    while (!stop.stop_requested() && !WorkDueLocked() && cv_.WaitUntil(mu_, next) == std::cv_status::no_timeout) {
    }
    if (stop.stop_requested()) break;
    std::deque<JobId> notices;
    notices.swap(notices_);
    std::vector<std::string> due;
    const auto now = std::chrono::steady_clock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second <= now) {
        due.push_back(it->first);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    MutexUnlock unlock(mu_);  // the engine's database work runs without the lock
    for (JobId id : notices) SendCancelNotice(id);
    for (const std::string& w : due) TakeBack(w);
  }
}

bool WorkerSessions::WorkDueLocked() const {
  if (!notices_.empty()) return true;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [id, due] : pending_) {
    if (due <= now) return true;
  }
  return false;
}

}  // namespace jobwarden::server
