#include "cli/output.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <utility>

#include "protocol/flow_json.h"
#include "protocol/job_json.h"

namespace jobwarden::cli {

namespace {

constexpr int kBarWidth = 20;
constexpr std::size_t kCellMax = 60;         // table cells are cut here, so a row stays one line
constexpr std::size_t kTailLinesShown = 20;  // output tail lines `status` prints

// One line, at most `max` characters: tables and one-line views must not be
// broken by a message with newlines in it.
std::string OneLine(std::string_view s, std::size_t max = kCellMax) {
  std::string out;
  out.reserve(std::min(s.size(), max));
  for (char c : s) {
    out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  }
  if (out.size() > max) {
    out.resize(max - 3);
    out += "...";
  }
  return out;
}

// Left-aligned columns separated by two spaces; the last column is not padded.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

std::string TimeLine(const std::optional<Timestamp>& t, Timestamp now) {
  if (!t) return "-";
  return FormatRfc3339(*t) + " (" + RelativeTime(*t, now) + ")";
}

std::string Count(const QueueInfo& q, JobState s) { return std::to_string(q.counts[static_cast<std::size_t>(s)]); }

nlohmann::json SecondsOrNull(const std::optional<Duration>& d) {
  return d ? nlohmann::json(ToSeconds(*d)) : nlohmann::json(nullptr);
}

std::string DurationOrDash(const std::optional<Duration>& d) { return d ? FormatDurationShort(*d) : "-"; }

std::string Joined(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += separator;
    out += p;
  }
  return out;
}

// A duration as a person types it (and ParseDuration reads it back): "5m",
// "45s", "1h30m", "1s500ms".
std::string DurationText(Duration d) {
  std::int64_t ms = d.count();
  if (ms <= 0) return "0s";
  std::string out;
  for (const auto& [unit, size] : {std::pair<const char*, std::int64_t>{"d", 86'400'000},
                                   {"h", 3'600'000},
                                   {"m", 60'000},
                                   {"s", 1000},
                                   {"ms", 1}}) {
    if (ms >= size) {
      out += std::to_string(ms / size) + unit;
      ms %= size;
    }
  }
  return out;
}

// A number as a person writes it: 20, 2.5.
std::string NumberText(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string StateText(const Job& job) {
  std::string s(ToString(job.state));
  if (job.cancel_requested) {
    s += " (stop requested";
    if (job.cancel_reason != CancelReason::kNone) s += ": " + std::string(ToString(job.cancel_reason));
    s += ")";
  }
  return s;
}

void PrintLabelled(std::ostream& out, std::string_view label, const std::string& value) {
  std::string padded(label);
  padded.resize(std::max<std::size_t>(padded.size() + 1, 12), ' ');
  out << padded << value << '\n';
}

}  // namespace

std::string ProgressText(const Progress& p) {
  std::string text;
  if (p.total && *p.total > 0) {
    const std::int64_t done = std::min(p.done, *p.total);
    const int filled = static_cast<int>(done * kBarWidth / *p.total);
    const int percent = static_cast<int>(done * 100 / *p.total);
    text = "[" + std::string(static_cast<std::size_t>(filled), '#') +
           std::string(static_cast<std::size_t>(kBarWidth - filled), '-') + "] " + std::to_string(percent) + "% " +
           std::to_string(p.done) + "/" + std::to_string(*p.total);
  } else if (p.done > 0 || p.updated_at) {
    text = std::to_string(p.done) + " done";
  }
  if (!p.message.empty()) text += (text.empty() ? "" : " ") + p.message;
  return text.empty() ? "-" : text;
}

std::optional<NearestLimit> NearestLimitOf(const Job& job) {
  if (job.state != JobState::kRunning) return std::nullopt;
  std::optional<NearestLimit> best;
  const auto consider = [&](std::string name, Timestamp at) {
    if (!best || at < best->at) best = NearestLimit{std::move(name), at};
  };
  if (job.started_at && job.timeout > Duration(0)) consider("timeout", *job.started_at + job.timeout);
  if (job.deadline_at) consider("deadline", *job.deadline_at);
  if (job.stall_timeout && job.stall_since) consider("stall_timeout", *job.stall_since + *job.stall_timeout);
  return best;
}

std::string ProgressBarLine(const Job& job, std::optional<double> items_per_s, Timestamp now) {
  Progress p = job.progress;
  const std::string message = std::move(p.message);
  p.message.clear();
  std::string line = ProgressText(p);
  if (line == "-") line = "no progress reported";
  if (items_per_s) {
    char rate[32];
    std::snprintf(rate, sizeof rate, *items_per_s < 10 ? "%.1f/s" : "%.0f/s", *items_per_s);
    line += std::string(" · ") + rate;
    if (p.total && *items_per_s > 0 && p.done < *p.total) {
      const double left_s = static_cast<double>(*p.total - p.done) / *items_per_s;
      line +=
          " · ETA " + FormatDurationShort(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(left_s)));
    }
  }
  if (auto limit = NearestLimitOf(job)) {
    line += " · " + limit->name +
            (limit->at > now ? " in " + FormatDurationShort(limit->at - now)
                             : " passed " + FormatDurationShort(now - limit->at) + " ago (stopping)");
  }
  if (job.cancel_requested) line += " · stopping";
  if (!message.empty()) line += " · " + message;
  return line;
}

std::string RelativeTime(Timestamp t, Timestamp now) {
  if (t <= now) return FormatDurationShort(now - t) + " ago";
  return "in " + FormatDurationShort(t - now);
}

void PrintJobDetail(std::ostream& out, const Job& job, Timestamp now) {
  out << "job " << FormatJobId(job.id) << "  " << job.kind << "  (queue " << job.queue << ", priority " << job.priority
      << ")\n";
  PrintLabelled(out, "state", StateText(job));
  PrintLabelled(out, "attempt", std::to_string(job.attempt) + " of " + std::to_string(job.max_attempts));
  std::string progress = ProgressText(job.progress);
  if (job.progress.updated_at) progress += "  (updated " + RelativeTime(*job.progress.updated_at, now) + ")";
  PrintLabelled(out, "progress", progress);
  if (job.state == JobState::kRunning) {
    PrintLabelled(out, "worker", job.worker_id.value_or("-"));
    if (job.lease_expires_at) {
      const Duration left = *job.lease_expires_at - now;
      PrintLabelled(out, "lease",
                    (left >= Duration(0) ? FormatDurationShort(left) + " left"
                                         : "expired " + FormatDurationShort(-left) + " ago") +
                        " (TTL " + FormatDurationShort(job.lease_ttl) + ")");
    }
    if (job.cancel_requested && job.takeback_at) {
      PrintLabelled(out, "take-back", TimeLine(job.takeback_at, now) + " if the worker has not stopped it");
    }
  }
  std::string limits = "timeout " + FormatDurationShort(job.timeout);
  if (job.stall_timeout) limits += ", stall timeout " + FormatDurationShort(*job.stall_timeout);
  if (job.deadline_at) limits += ", deadline " + TimeLine(job.deadline_at, now);
  PrintLabelled(out, "limits", limits);
  PrintLabelled(out, "created", TimeLine(job.created_at, now));
  PrintLabelled(out, "run at", TimeLine(job.run_at, now));
  PrintLabelled(out, "started", TimeLine(job.started_at, now));
  PrintLabelled(out, "heartbeat", TimeLine(job.heartbeat_at, now));
  PrintLabelled(out, "finished", TimeLine(job.finished_at, now));
  if (job.unique_key) PrintLabelled(out, "unique key", *job.unique_key);
  if (job.resource_key) PrintLabelled(out, "resource", *job.resource_key);
  if (job.batch_id) PrintLabelled(out, "batch", *job.batch_id);
  if (!job.tags.empty()) {
    std::string tags;
    for (const std::string& t : job.tags) tags += (tags.empty() ? "" : ", ") + t;
    PrintLabelled(out, "tags", tags);
  }
  PrintLabelled(out, "args", OneLine(ParseStoredJson(job.args).dump(), 200));
  if (job.checkpoint) PrintLabelled(out, "checkpoint", OneLine(ParseStoredJson(*job.checkpoint).dump(), 200));
  if (job.result) PrintLabelled(out, "result", OneLine(ParseStoredJson(*job.result).dump(), 200));
  if (job.errors.empty()) {
    PrintLabelled(out, "errors", "none");
    return;
  }
  PrintLabelled(out, "errors", std::to_string(job.errors.size()));
  for (const ErrorEntry& e : job.errors) {
    out << "  attempt " << e.attempt << "  " << ToString(e.error_class) << "  " << FormatRfc3339(e.at);
    if (e.limit) out << "  limit " << *e.limit;
    if (!e.counted) out << "  (not counted)";
    out << "\n    " << OneLine(e.message, 500) << '\n';
  }
  const ErrorEntry& last = job.errors.back();
  if (last.output_tail && !last.output_tail->empty()) {
    std::vector<std::string> lines;
    std::istringstream in(*last.output_tail);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    const std::size_t first = lines.size() > kTailLinesShown ? lines.size() - kTailLinesShown : 0;
    out << "output tail (attempt " << last.attempt << ", last " << (lines.size() - first) << " lines):\n";
    for (std::size_t i = first; i < lines.size(); ++i) out << "  | " << lines[i] << '\n';
  }
}

void PrintJobTable(std::ostream& out, const std::vector<Job>& jobs, Timestamp now) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "STATE", "KIND", "QUEUE", "ATTEMPT", "PROGRESS", "CREATED", "LAST ERROR"});
  for (const Job& j : jobs) {
    std::string last_error = "-";
    if (!j.errors.empty()) {
      last_error = std::string(ToString(j.errors.back().error_class)) + ": " + j.errors.back().message;
    }
    rows.push_back({FormatJobId(j.id), StateText(j), OneLine(j.kind, 40), j.queue,
                    std::to_string(j.attempt) + "/" + std::to_string(j.max_attempts), OneLine(ProgressText(j.progress)),
                    RelativeTime(j.created_at, now), OneLine(last_error)});
  }
  PrintTable(out, rows);
}

nlohmann::json JobsToJson(const std::vector<Job>& jobs) {
  nlohmann::json arr = nlohmann::json::array();
  for (const Job& j : jobs) arr.push_back(JobToJson(j));
  return arr;
}

void PrintQueueTable(std::ostream& out, const std::vector<QueueInfo>& queues, Timestamp now) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"QUEUE", "PAUSED", "SCHEDULED", "AVAILABLE", "RUNNING", "CONCURRENCY", "SUCCEEDED", "FAILED",
                  "CANCELLED", "OLDEST AVAILABLE", "WARNINGS"});
  for (const QueueInfo& q : queues) {
    std::string oldest = "-";
    if (q.oldest_available_run_at)
      oldest = FormatDurationShort(std::max(Duration(0), now - *q.oldest_available_run_at));
    rows.push_back({q.name, q.paused ? "yes" : "no", Count(q, JobState::kScheduled), Count(q, JobState::kAvailable),
                    Count(q, JobState::kRunning), q.limits.concurrency ? std::to_string(*q.limits.concurrency) : "-",
                    Count(q, JobState::kSucceeded), Count(q, JobState::kFailed), Count(q, JobState::kCancelled), oldest,
                    q.warnings.empty() ? "-" : Joined(q.warnings, ",")});
  }
  PrintTable(out, rows);
}

nlohmann::json QueuesToJson(const std::vector<QueueInfo>& queues, Timestamp now) {
  nlohmann::json arr = nlohmann::json::array();
  for (const QueueInfo& q : queues) arr.push_back(QueueInfoToJson(q, now));
  return arr;
}

void PrintQueueLimits(std::ostream& out, const QueueInfo& q) {
  std::vector<std::string> parts;
  parts.push_back(q.limits.concurrency ? "concurrency " + std::to_string(*q.limits.concurrency)
                                       : "concurrency unlimited");
  if (q.limits.warn_depth) parts.push_back("warn_depth " + std::to_string(*q.limits.warn_depth));
  if (q.limits.warn_age) parts.push_back("warn_age " + DurationText(*q.limits.warn_age));
  out << "queue " << q.name << ": " << Joined(parts, ", ") << '\n';
}

void PrintResourceTable(std::ostream& out, const std::vector<ResourceInfo>& resources, Timestamp now) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back(
      {"RESOURCE", "CONCURRENCY", "RATE", "RUNNING", "AVAILABLE", "BREAKER", "HELD UNTIL", "SUCCESS (5M)", "P50/P95"});
  for (const ResourceInfo& r : resources) {
    const ResourceLimits& l = r.limits;
    std::string rate = "-";
    if (l.rate) rate = l.rate->text + (l.burst ? " (burst " + NumberText(*l.burst) + ")" : "");
    std::string breaker = "-";
    if (l.breaker.failures > 0 || r.breaker.state != BreakerState::kClosed) {
      breaker = std::string(ToString(r.breaker.state));
      if (r.breaker.state == BreakerState::kOpen && r.breaker.open_until) {
        breaker += " (" + RelativeTime(*r.breaker.open_until, now) + ")";
      } else if (l.breaker.failures > 0) {
        breaker += " (" + std::to_string(r.breaker.failures) + "/" + std::to_string(l.breaker.failures) + " failures)";
      }
    }
    const std::int64_t runs = r.stats.succeeded + r.stats.failed;
    std::string success = "-";
    if (runs > 0) {
      success = std::to_string(r.stats.succeeded * 100 / runs) + "% (" + std::to_string(r.stats.succeeded) + "/" +
                std::to_string(runs) + ")";
    }
    std::string times = "-";
    if (r.stats.p50 || r.stats.p95) times = DurationOrDash(r.stats.p50) + " / " + DurationOrDash(r.stats.p95);
    rows.push_back({OneLine(r.key), l.concurrency ? std::to_string(*l.concurrency) : "-", rate,
                    std::to_string(r.running), std::to_string(r.available), breaker,
                    r.held_until ? RelativeTime(*r.held_until, now) : "-", success, times});
  }
  PrintTable(out, rows);
}

nlohmann::json ResourcesToJson(const std::vector<ResourceInfo>& resources) {
  nlohmann::json arr = nlohmann::json::array();
  for (const ResourceInfo& r : resources) arr.push_back(ResourceInfoToJson(r));
  return arr;
}

void PrintResourceLimits(std::ostream& out, const ResourceInfo& r) {
  const ResourceLimits& l = r.limits;
  std::vector<std::string> parts;
  parts.push_back(l.concurrency ? "concurrency " + std::to_string(*l.concurrency) : "concurrency unlimited");
  if (l.rate) {
    parts.push_back("rate " + l.rate->text + (l.burst ? " (burst " + NumberText(*l.burst) + ")" : ""));
  } else {
    parts.push_back("rate unlimited");
  }
  if (l.breaker.failures > 0) {
    parts.push_back("breaker after " + std::to_string(l.breaker.failures) + " failures (cooldown " +
                    DurationText(l.breaker.cooldown) + ")");
  } else {
    parts.push_back("no breaker");
  }
  out << "resource " << r.key << ": " << Joined(parts, ", ") << '\n';
}

void PrintHolds(std::ostream& out, const std::vector<QueueHold>& holds) {
  for (const QueueHold& h : holds) {
    out << "queue " << h.queue << ": " << h.available << " available";
    for (const std::string& why : h.reasons) out << "; " << OneLine(why, 300);
    out << '\n';
  }
}

void PrintDiagnoses(std::ostream& out, const std::vector<JobDiagnosis>& diagnoses) {
  if (diagnoses.empty()) {
    out << "no running jobs\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back(
      {"ID", "KIND", "ATTEMPT", "LEASE LEFT", "HEARTBEAT AGE", "ATTEMPT TIME", "PROGRESS AGE", "VERDICT", "REASON"});
  for (const JobDiagnosis& d : diagnoses) {
    const Job& j = d.job;
    std::string progress_age = DurationOrDash(d.progress_age);
    if (d.progress_age && j.stall_timeout) progress_age += " / " + FormatDurationShort(*j.stall_timeout);
    rows.push_back({FormatJobId(j.id), OneLine(j.kind, 40),
                    std::to_string(j.attempt) + "/" + std::to_string(j.max_attempts), DurationOrDash(d.lease_left),
                    DurationOrDash(d.heartbeat_age),
                    FormatDurationShort(d.attempt_used) + " / " + FormatDurationShort(j.timeout), progress_age,
                    std::string(ToString(d.verdict)), OneLine(d.reason, 200)});
  }
  PrintTable(out, rows);
}

nlohmann::json DiagnosesToJson(const std::vector<JobDiagnosis>& diagnoses) {
  nlohmann::json arr = nlohmann::json::array();
  for (const JobDiagnosis& d : diagnoses) {
    arr.push_back({{"id", FormatJobId(d.job.id)},
                   {"verdict", std::string(ToString(d.verdict))},
                   {"reason", d.reason},
                   {"lease_left_s", SecondsOrNull(d.lease_left)},
                   {"heartbeat_age_s", SecondsOrNull(d.heartbeat_age)},
                   {"attempt_used_s", ToSeconds(d.attempt_used)},
                   {"progress_age_s", SecondsOrNull(d.progress_age)},
                   {"job", JobToJson(d.job)}});
  }
  return arr;
}

void PrintJson(std::ostream& out, const nlohmann::json& j) { out << j.dump(2) << '\n'; }

}  // namespace jobwarden::cli
