#include "server/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "server/metrics.h"

namespace jobwarden::server {

namespace {

constexpr double kRatio = 1.1;
const double kLogRatio = std::log(kRatio);

std::int64_t MinuteOf(Timestamp t) { return std::chrono::floor<std::chrono::minutes>(t).time_since_epoch().count(); }

}  // namespace

LatencyStats::LatencyStats(const Clock& clock) : clock_(clock) {}
LatencyStats::~LatencyStats() = default;

int LatencyStats::BucketOf(Duration d) {
  const auto ms = d.count();
  if (ms < 1) return 0;
  const int i = 1 + static_cast<int>(std::floor(std::log(static_cast<double>(ms)) / kLogRatio));
  return std::clamp(i, 1, kBuckets - 1);
}

double LatencyStats::BucketValueSeconds(int bucket) {
  if (bucket == 0) return 0.0005;
  // The geometric middle of [1.1^(i-1), 1.1^i) ms.
  return std::pow(kRatio, bucket - 0.5) / 1000.0;
}

LatencyStats::Quantiles LatencyStats::QuantilesOf(const Histogram& h) {
  Quantiles q;
  for (std::uint32_t n : h) q.count += n;
  if (q.count == 0) return q;
  // The smallest bucket whose cumulative count reaches the rank.
  const auto at = [&](double p) {
    const auto rank = static_cast<std::int64_t>(std::ceil(p * static_cast<double>(q.count)));
    std::int64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += h[static_cast<std::size_t>(i)];
      if (seen >= rank) return BucketValueSeconds(i);
    }
    return BucketValueSeconds(kBuckets - 1);
  };
  q.p50_s = at(0.50);
  q.p95_s = at(0.95);
  return q;
}

void LatencyStats::Prom::Add(double seconds) {
  std::size_t i = 0;
  while (i < kPromBounds.size() && seconds > kPromBounds[i]) ++i;
  ++buckets[i];
  ++count;
  sum += seconds;
}

void LatencyStats::Add(const std::string& queue, const std::string& kind, Figure f, Duration d, Timestamp at) {
  if (d < Duration(0)) d = Duration(0);
  if (f != Figure::kTotal) {
    QueueProm& qp = prom_[queue];
    (f == Figure::kWait ? qp.wait : qp.run).Add(ToSeconds(d));
  }
  auto it = groups_.find({queue, kind});
  if (it == groups_.end()) {
    if (groups_.size() >= kMaxGroups) return;
    it = groups_.emplace(std::make_pair(queue, kind), std::make_unique<Windows>()).first;
  }
  const std::int64_t minute = MinuteOf(at);
  Minute& slot = it->second->slots[static_cast<std::size_t>(minute) % it->second->slots.size()];
  if (slot.minute != minute) {
    if (slot.minute > minute) return;  // an event from more than 15 minutes before the newest one
    slot = Minute{};
    slot.minute = minute;
  }
  Histogram& h = f == Figure::kWait ? slot.wait : f == Figure::kRun ? slot.run : slot.total;
  ++h[static_cast<std::size_t>(BucketOf(d))];
}

void LatencyStats::OnJobEvent(const JobEventRecord& e) {
  const bool starts = e.from == JobState::kAvailable && e.to == JobState::kRunning;
  const bool ends = e.from == JobState::kRunning && e.to != JobState::kRunning;
  if (!starts && !ends) return;
  MutexLock lock(mu_);
  if (starts) {
    if (e.due_at) Add(e.queue, e.kind, Figure::kWait, e.at - *e.due_at, e.at);
    if (running_.size() >= kMaxRunning) running_.clear();  // a bound; those attempts go uncounted
    running_[e.id] = Started{e.queue, e.kind, e.at, e.created_at};
    return;
  }
  auto it = running_.find(e.id);
  if (it == running_.end()) return;  // started before this server did
  const Started& s = it->second;
  Add(s.queue, s.kind, Figure::kRun, e.at - s.at, e.at);
  if (e.to && IsTerminal(*e.to) && s.created_at) Add(s.queue, s.kind, Figure::kTotal, e.at - *s.created_at, e.at);
  running_.erase(it);
}

std::vector<LatencyStats::Group> LatencyStats::Window(Duration window) const {
  const auto minutes =
      std::clamp<std::int64_t>(std::chrono::ceil<std::chrono::minutes>(window).count(), 1, kMaxWindowMinutes);
  const std::int64_t now = MinuteOf(clock_.Now());
  std::vector<Group> out;
  MutexLock lock(mu_);
  for (const auto& [key, windows] : groups_) {
    Histogram wait{}, run{}, total{};
    bool any = false;
    for (const Minute& m : windows->slots) {
      if (m.minute < 0 || m.minute <= now - minutes || m.minute > now) continue;
      for (int i = 0; i < kBuckets; ++i) {
        const auto b = static_cast<std::size_t>(i);
        wait[b] += m.wait[b];
        run[b] += m.run[b];
        total[b] += m.total[b];
        any = any || m.wait[b] || m.run[b] || m.total[b];
      }
    }
    if (!any) continue;
    out.push_back(Group{key.first, key.second, QuantilesOf(wait), QuantilesOf(run), QuantilesOf(total)});
  }
  return out;  // std::map: sorted by queue, then kind
}

void LatencyStats::AppendHistogram(std::string& out, const char* name, const char* help,
                                   const std::map<std::string, QueueProm>& per_queue, Prom QueueProm::*which) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " histogram\n";
  char num[64];
  for (const auto& [queue, qp] : per_queue) {
    const Prom& p = qp.*which;
    const std::string label = "queue=\"" + EscapeLabelValue(queue) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= kPromBounds.size(); ++i) {
      cumulative += p.buckets[i];
      if (i < kPromBounds.size()) {
        std::snprintf(num, sizeof num, "%g", kPromBounds[i]);
      } else {
        std::snprintf(num, sizeof num, "+Inf");
      }
      out += std::string(name) + "_bucket{" + label + ",le=\"" + num + "\"} " + std::to_string(cumulative) + "\n";
    }
    std::snprintf(num, sizeof num, "%.6f", p.sum);
    out += std::string(name) + "_sum{" + label + "} " + num + "\n";
    out += std::string(name) + "_count{" + label + "} " + std::to_string(p.count) + "\n";
  }
}

void LatencyStats::AppendMetrics(std::string& out) const {
  MutexLock lock(mu_);
  AppendHistogram(out, "jobwarden_job_wait_seconds", "Time from due (run_at) to the start of each attempt, per queue.",
                  prom_, &QueueProm::wait);
  AppendHistogram(out, "jobwarden_job_run_seconds", "Time from the start to the end of each attempt, per queue.", prom_,
                  &QueueProm::run);
}

}  // namespace jobwarden::server
