#include "server/event_hub.h"

#include <nlohmann/json.hpp>

#include "protocol/job_json.h"

namespace jobwarden::server {

namespace {

constexpr std::size_t kCacheLimit = 100'000;

nlohmann::json NullIfEmpty(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

}  // namespace

EventHub::EventHub(std::size_t max_subscribers, JobLookup lookup)
    : max_subscribers_(max_subscribers), lookup_(std::move(lookup)) {}

std::shared_ptr<EventHub::Subscription> EventHub::Subscribe(EventFilter filter) {
  MutexLock lock(mu_);
  if (closed_ || subs_.size() >= max_subscribers_) return nullptr;
  auto s = std::make_shared<Subscription>();
  s->filter = std::move(filter);
  s->channel = std::make_shared<StreamChannel>(StreamChannel::kDefaultMaxPending, s->filter.coalesce);
  if (s->filter.queue) queue_filtered_.fetch_add(1);
  subs_.push_back(s);
  count_.store(subs_.size());
  return s;
}

void EventHub::Unsubscribe(const std::shared_ptr<Subscription>& s) {
  MutexLock lock(mu_);
  for (auto it = subs_.begin(); it != subs_.end(); ++it) {
    if (*it == s) {
      if (s->filter.queue) queue_filtered_.fetch_sub(1);
      subs_.erase(it);
      break;
    }
  }
  count_.store(subs_.size());
  s->channel->Close("");
}

std::pair<std::string, std::string> EventHub::Resolve(JobId id, const std::string& kind, const std::string& queue) {
  {
    MutexLock lock(cache_mu_);
    if (!kind.empty() && !queue.empty()) {
      if (cache_.size() >= kCacheLimit) cache_.clear();
      cache_[id] = {kind, queue};
      return {kind, queue};
    }
    auto it = cache_.find(id);
    if (it != cache_.end()) return it->second;
  }
  if (queue_filtered_.load() == 0 || !lookup_) return {kind, queue};
  auto job = lookup_(id);
  if (!job.ok()) return {kind, queue};
  MutexLock lock(cache_mu_);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_[id] = {job->kind, job->queue};
  return {job->kind, job->queue};
}

void EventHub::Deliver(JobId id, const std::string& queue, std::string_view key, std::string_view event,
                       const std::string& data) {
  std::string frame;  // encoded once, for the streams that take every event
  MutexLock lock(mu_);
  for (const auto& s : subs_) {
    if (s->filter.job_id && *s->filter.job_id != id) continue;
    if (s->filter.queue && *s->filter.queue != queue) continue;
    if (s->filter.coalesce.count() > 0) {
      s->channel->PushKeyed(key, event, data);
      continue;
    }
    if (frame.empty()) frame = SseFrame(event, data);
    s->channel->Push(frame);
  }
}

void EventHub::PublishState(const JobEventRecord& e) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  auto [kind, queue] = Resolve(e.id, e.kind, e.queue);
  nlohmann::json j = {
      {"job_id", FormatJobId(e.id)},
      {"kind", NullIfEmpty(kind)},
      {"queue", NullIfEmpty(queue)},
      {"from", e.from ? nlohmann::json(std::string(ToString(*e.from))) : nlohmann::json(nullptr)},
      {"to", e.to ? nlohmann::json(std::string(ToString(*e.to))) : nlohmann::json(nullptr)},
      {"error_class", e.error_class ? nlohmann::json(std::string(ToString(*e.error_class))) : nlohmann::json(nullptr)},
      {"message", e.message},
      {"at", FormatRfc3339(e.at)},
  };
  Deliver(e.id, queue, "s" + std::to_string(e.id), "state",
          j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void EventHub::PublishProgress(JobId id, const Progress& progress, Timestamp at) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  auto [kind, queue] = Resolve(id, "", "");
  Progress p = progress;
  if (!p.updated_at) p.updated_at = at;
  nlohmann::json j = {{"job_id", FormatJobId(id)},
                      {"kind", NullIfEmpty(kind)},
                      {"queue", NullIfEmpty(queue)},
                      {"progress", ProgressToJson(p)},
                      {"at", FormatRfc3339(at)}};
  Deliver(id, queue, "p" + std::to_string(id), "progress",
          j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void EventHub::DeliverFlow(const std::optional<std::string>& queue, std::string_view key, std::string_view event,
                           const std::string& data) {
  std::string frame;
  MutexLock lock(mu_);
  for (const auto& s : subs_) {
    if (s->filter.job_id) continue;
    if (s->filter.queue && s->filter.queue != queue) continue;
    if (s->filter.coalesce.count() > 0) {
      s->channel->PushKeyed(key, event, data);
      continue;
    }
    if (frame.empty()) frame = SseFrame(event, data);
    s->channel->Push(frame);
  }
}

void EventHub::PublishFlow(const FlowEvent& e) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  const auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  if (e.kind == FlowEvent::Kind::kBreaker) {
    nlohmann::json j = {
        {"resource", e.name},
        {"from", e.from ? nlohmann::json(std::string(ToString(*e.from))) : nlohmann::json(nullptr)},
        {"to", std::string(ToString(e.to))},
        {"message", e.message},
        {"at", FormatRfc3339(e.at)},
    };
    DeliverFlow(std::nullopt, "r" + e.name, "breaker", dump(j));
    return;
  }
  nlohmann::json j = {{"queue", e.name},
                      {"reason", e.reason},
                      {"cleared", e.kind == FlowEvent::Kind::kQueueWarningCleared},
                      {"message", e.message},
                      {"at", FormatRfc3339(e.at)}};
  DeliverFlow(e.name, "w" + e.name, "queue_warning", dump(j));
}

void EventHub::PublishBatch(const BatchInfo& b) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  DeliverFlow(std::nullopt, "b" + b.id, "batch", EncodeBatchJson(b, b.total <= kBatchEventMembers));
}

void EventHub::CloseAll(const std::string& reason) {
  MutexLock lock(mu_);
  closed_ = true;
  const std::string frame = SseFrame("shutdown", nlohmann::json({{"message", reason}}).dump());
  for (const auto& s : subs_) s->channel->Close(frame);
}

std::size_t EventHub::subscribers() const { return count_.load(); }

}  // namespace jobwarden::server
