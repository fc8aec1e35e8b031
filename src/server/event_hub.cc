#include "server/event_hub.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <type_traits>

#include "protocol/job_json.h"

namespace jobwarden::server {

namespace {

constexpr std::size_t kCacheLimit = 100'000;

nlohmann::json NullIfEmpty(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

constexpr auto kCloseDrain = std::chrono::seconds(2);  // CloseAll waits this long for queued events

}  // namespace

EventHub::EventHub(std::size_t max_subscribers, JobLookup lookup)
    : max_subscribers_(max_subscribers), lookup_(std::move(lookup)) {
  thread_.Start([this](const std::stop_token& stop) { Loop(stop); },
                [this] {
                  {
                    MutexLock sync(queue_mu_);  // the loop checks its token under queue_mu_: no lost wake-up
                    stopping_ = true;           // and no publisher waits for room any more
                  }
                  queue_cv_.NotifyAll();
                });
}

EventHub::~EventHub() { thread_.Stop(); }

void EventHub::Enqueue(Event e) {
  bool wake = false;
  {
    MutexLock lock(queue_mu_);
    while (queue_.size() >= kMaxQueued && !stopping_) queue_cv_.Wait(queue_mu_);
    if (stopping_) return;  // the hub is going away: nobody will read it
    wake = queue_.empty() && !processing_;
    queue_.push_back(Queued{++seq_, std::move(e)});
  }
  // The thread takes everything queued once it wakes: only the first event
  // of a quiet hub has to wake it.
  if (wake) queue_cv_.NotifyAll();
}

void EventHub::Loop(const std::stop_token& stop) {
  std::deque<Queued> batch;
  while (true) {
    {
      MutexLock lock(queue_mu_);
      processing_ = false;
      queue_cv_.NotifyAll();  // room for blocked publishers; an idle hub for CloseAll
      while (!stop.stop_requested() && queue_.empty()) queue_cv_.Wait(queue_mu_);
      if (stop.stop_requested()) return;
      batch.swap(queue_);
      processing_ = true;
    }
    for (const Queued& q : batch) Process(q);
    batch.clear();
  }
}

void EventHub::Process(const Queued& q) {
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, JobEventRecord>) {
          ProcessState(q.seq, e);
        } else if constexpr (std::is_same_v<T, ProgressEvent>) {
          ProcessProgress(q.seq, e);
        } else if constexpr (std::is_same_v<T, FlowEvent>) {
          ProcessFlow(q.seq, e);
        } else {
          ProcessBatch(q.seq, e);
        }
      },
      q.event);
}

std::shared_ptr<EventHub::Subscription> EventHub::Subscribe(EventFilter filter) {
  MutexLock lock(mu_);
  if (closed_ || subs_.size() >= max_subscribers_) return nullptr;
  auto s = std::make_shared<Subscription>();
  {
    MutexLock queued(queue_mu_);
    s->after_seq = seq_;  // what is queued now changed the state this stream starts from
  }
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

void EventHub::Deliver(std::uint64_t seq, std::optional<JobId> id, const std::optional<std::string>& queue,
                       std::string_view key, std::string_view event, std::string data) {
  std::string frame;                          // encoded once, for the streams that take every event
  std::shared_ptr<const std::string> shared;  // and the data once, for the coalescing ones
  MutexLock lock(mu_);
  for (const auto& s : subs_) {
    if (seq <= s->after_seq) continue;
    // A stream filtered by job gets that job's events only (no flow or
    // batch event); one filtered by queue, that queue's only.
    if (s->filter.job_id && s->filter.job_id != id) continue;
    if (s->filter.queue && s->filter.queue != queue) continue;
    if (s->filter.coalesce.count() > 0) {
      if (!shared) shared = std::make_shared<const std::string>(data);
      s->channel->PushKeyed(key, event, shared);
      continue;
    }
    if (frame.empty()) frame = SseFrame(event, data);
    s->channel->Push(frame);
  }
}

void EventHub::PublishState(const JobEventRecord& e) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  Enqueue(e);
}

void EventHub::ProcessState(std::uint64_t seq, const JobEventRecord& e) {
  auto [kind, queue] = Resolve(e.id, e.kind, e.queue);
  // {"at", "error_class", "from", "job_id", "kind", "message", "queue", "to"},
  // written straight to text: the hot event of a busy server.
  const auto string_or_null = [](std::string& out, std::string_view v) {
    if (v.empty()) {
      out += "null";
    } else {
      AppendJsonString(out, v);
    }
  };
  std::string j;
  j.reserve(160 + e.message.size() + kind.size() + queue.size());
  j += "{\"at\":";
  AppendJsonTimeOrNull(j, e.at);
  j += ",\"error_class\":";
  string_or_null(j, e.error_class ? ToString(*e.error_class) : std::string_view());
  j += ",\"from\":";
  string_or_null(j, e.from ? ToString(*e.from) : std::string_view());
  j += ",\"job_id\":";
  AppendJsonString(j, FormatJobId(e.id));
  j += ",\"kind\":";
  string_or_null(j, kind);
  j += ",\"message\":";
  AppendJsonString(j, e.message);
  j += ",\"queue\":";
  string_or_null(j, queue);
  j += ",\"to\":";
  string_or_null(j, e.to ? ToString(*e.to) : std::string_view());
  j += '}';
  Deliver(seq, e.id, queue, "s" + std::to_string(e.id), "state", std::move(j));
}

void EventHub::PublishProgress(JobId id, const Progress& progress, Timestamp at) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  Enqueue(ProgressEvent{id, progress, at});
}

void EventHub::ProcessProgress(std::uint64_t seq, const ProgressEvent& e) {
  const JobId id = e.id;
  const Timestamp at = e.at;
  auto [kind, queue] = Resolve(id, "", "");
  Progress p = e.progress;
  if (!p.updated_at) p.updated_at = at;
  nlohmann::json j = {{"job_id", FormatJobId(id)},
                      {"kind", NullIfEmpty(kind)},
                      {"queue", NullIfEmpty(queue)},
                      {"progress", ProgressToJson(p)},
                      {"at", FormatRfc3339(at)}};
  Deliver(seq, id, queue, "p" + std::to_string(id), "progress",
          j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void EventHub::PublishFlow(const FlowEvent& e) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  Enqueue(e);
}

void EventHub::ProcessFlow(std::uint64_t seq, const FlowEvent& e) {
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
    Deliver(seq, std::nullopt, std::nullopt, "r" + e.name, "breaker", dump(j));
    return;
  }
  nlohmann::json j = {{"queue", e.name},
                      {"reason", e.reason},
                      {"cleared", e.kind == FlowEvent::Kind::kQueueWarningCleared},
                      {"message", e.message},
                      {"at", FormatRfc3339(e.at)}};
  Deliver(seq, std::nullopt, e.name, "w" + e.name, "queue_warning", dump(j));
}

void EventHub::PublishBatch(const BatchInfo& b) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  Enqueue(b);
}

void EventHub::ProcessBatch(std::uint64_t seq, const BatchInfo& b) {
  Deliver(seq, std::nullopt, std::nullopt, "b" + b.id, "batch", EncodeBatchJson(b, b.total <= kBatchEventMembers));
}

void EventHub::CloseAll(const std::string& reason) {
  {
    // What was published before the shutdown reaches the streams first.
    const auto give_up = std::chrono::steady_clock::now() + kCloseDrain;
    MutexLock queued(queue_mu_);
    while ((!queue_.empty() || processing_) && queue_cv_.WaitUntil(queue_mu_, give_up) == std::cv_status::no_timeout) {
    }
  }
  MutexLock lock(mu_);
  closed_ = true;
  const std::string frame = SseFrame("shutdown", nlohmann::json({{"message", reason}}).dump());
  for (const auto& s : subs_) s->channel->Close(frame);
}

std::size_t EventHub::subscribers() const { return count_.load(); }

}  // namespace jobwarden::server
