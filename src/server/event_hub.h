// The live event stream (GET /v1/events): every job state change the engine
// reports (G6), progress from heartbeats, and flow-control changes (queue
// warnings, breakers), fanned out to SSE subscribers filtered by job id and queue.
//
// Publishing is called on the thread that changed the job (the engine calls
// its listeners after the change is durable, before that request answers),
// so it does almost nothing there: with no subscriber it returns after one
// atomic load; with some, it queues the event, and the hub's own thread
// encodes it (once, whatever the number of subscribers) and hands it to each
// stream. A request never waits for the encoding or for the streams' locks,
// however many dashboards watch. Past kMaxQueued waiting events the publisher
// wait for room, so a hub that cannot keep up slows the writers rather than
// growing without bound. Each event carries a sequence number: a stream gets
// only events published after it subscribed, so a late subscriber's current
// state (the `job` frame) is never followed by an older change.
//
// Completions are reported by the engine without kind and queue; a small
// cache of id -> (kind, queue) from earlier events fills them in, with a read
// of the job on a miss, only when some subscriber filters by queue.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <variant>

#include "core/job.h"
#include "core/owned_thread.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "engine/engine.h"
#include "server/stream_channel.h"

namespace jobwarden::server {

struct EventFilter {
  std::optional<JobId> job_id;
  std::optional<std::string> queue;
  // > 0: a coalescing stream (StreamChannel): at most one `changes` message
  // per interval, holding the latest event of each job, batch, queue warning
  // and breaker.
  Duration coalesce{0};
};

class EventHub {
 public:
  using JobLookup = std::function<Result<Job>(JobId)>;
  static constexpr std::size_t kMaxQueued = 100'000;

  // Starts the hub's thread; the destructor stops and joins it.
  EventHub(std::size_t max_subscribers, JobLookup lookup);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  struct Subscription {
    EventFilter filter;
    std::shared_ptr<StreamChannel> channel;
    std::uint64_t after_seq = 0;  // gets the events published after it subscribed
  };
  // nullptr when `max_subscribers` streams are open or after CloseAll().
  std::shared_ptr<Subscription> Subscribe(EventFilter filter);
  void Unsubscribe(const std::shared_ptr<Subscription>& s);

  // A state change (engine listener).
  void PublishState(const JobEventRecord& e);
  // Progress a heartbeat or a settle reported.
  void PublishProgress(JobId id, const Progress& progress, Timestamp at);
  // A flow-control change (engine flow listener): `queue_warning` {queue,
  // reason, cleared, message, at} when a queue's warning starts (cleared:
  // false) or ends (cleared: true); `breaker` {resource, from, to, message,
  // at} when a resource's breaker changes state. Not tied to a job: a stream
  // filtered by job_id does not get them; one filtered by queue gets that
  // queue's warnings only.
  void PublishFlow(const FlowEvent& e);
  // A batch submitted or finished (engine batch listener): `batch`, the
  // batch JSON, with its members up to kBatchEventMembers (a bigger batch's
  // event has none: GET /v1/batches/{id} has them). Delivered as PublishFlow's
  // events are: not to streams filtered by job or queue.
  void PublishBatch(const BatchInfo& b);
  static constexpr std::int64_t kBatchEventMembers = 1000;

  // Delivers what is queued, then ends every stream with a `shutdown` event;
  // later Subscribe() calls fail.
  void CloseAll(const std::string& reason);
  std::size_t subscribers() const;

 private:
  struct ProgressEvent {
    JobId id = 0;
    Progress progress;
    Timestamp at{};
  };
  using Event = std::variant<JobEventRecord, ProgressEvent, FlowEvent, BatchInfo>;
  struct Queued {
    std::uint64_t seq = 0;
    Event event;
  };
  // Queues `e` for the hub's thread (past kMaxQueued, after waiting for room).
  void Enqueue(Event e);
  void Loop(const std::stop_token& stop);
  // Encodes one event and hands it to the streams (the hub's thread).
  void Process(const Queued& q);
  void ProcessState(std::uint64_t seq, const JobEventRecord& e);
  void ProcessProgress(std::uint64_t seq, const ProgressEvent& e);
  void ProcessFlow(std::uint64_t seq, const FlowEvent& e);
  void ProcessBatch(std::uint64_t seq, const BatchInfo& b);

  // Kind and queue of a job for events that lack them; empty strings if unknown.
  std::pair<std::string, std::string> Resolve(JobId id, const std::string& kind, const std::string& queue);
  // To the streams whose filters take it: a job's event (`id`, with its
  // queue) or, with no id, a flow or batch event (`queue`: a queue warning's
  // queue, else none). `key` names what a coalescing stream keeps only the
  // latest event of.
  void Deliver(std::uint64_t seq, std::optional<JobId> id, const std::optional<std::string>& queue,
               std::string_view key, std::string_view event, std::string data);

  const std::size_t max_subscribers_;
  JobLookup lookup_;
  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> queue_filtered_{0};
  mutable Mutex mu_;
  std::list<std::shared_ptr<Subscription>> subs_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  Mutex cache_mu_;
  std::unordered_map<JobId, std::pair<std::string, std::string>> cache_ GUARDED_BY(cache_mu_);
  // The events waiting for the hub's thread, in publication order.
  Mutex queue_mu_;
  CondVar queue_cv_;
  std::deque<Queued> queue_ GUARDED_BY(queue_mu_);
  std::uint64_t seq_ GUARDED_BY(queue_mu_) = 0;    // the last sequence number given
  bool processing_ GUARDED_BY(queue_mu_) = false;  // the thread is delivering a batch
  bool stopping_ GUARDED_BY(queue_mu_) = false;    // the thread is told to stop
  OwnedThread thread_;                             // declared last: stopped before the members it uses go
};

}  // namespace jobwarden::server
