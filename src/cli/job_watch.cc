#include "cli/job_watch.h"

#include <unistd.h>

#include <deque>
#include <iostream>
#include <map>
#include <thread>

#include "cli/output.h"
#include "core/job_state.h"

namespace jobwarden::cli {

namespace {

// Items per second over the progress reports of the last 30 s (the job's
// own clock: each report's updated_at), else the attempt's average.
class RateMeter {
 public:
  void Add(const Job& job) {
    if (!job.progress.updated_at) return;
    if (!samples_.empty() && samples_.back().at == *job.progress.updated_at) return;
    if (!samples_.empty() && job.progress.done < samples_.back().done) samples_.clear();  // a new attempt
    samples_.push_back({*job.progress.updated_at, job.progress.done});
    while (samples_.size() > 2 && samples_.back().at - samples_.front().at > std::chrono::seconds(30)) {
      samples_.pop_front();
    }
  }
  std::optional<double> PerSecond(const Job& job) const {
    if (samples_.size() >= 2) {
      const double dt = std::chrono::duration<double>(samples_.back().at - samples_.front().at).count();
      if (dt > 0) return static_cast<double>(samples_.back().done - samples_.front().done) / dt;
    }
    if (job.started_at && job.progress.updated_at && *job.progress.updated_at > *job.started_at) {
      const double dt = std::chrono::duration<double>(*job.progress.updated_at - *job.started_at).count();
      return static_cast<double>(job.progress.done) / dt;
    }
    return std::nullopt;
  }

 private:
  struct Sample {
    Timestamp at;
    std::int64_t done;
  };
  std::deque<Sample> samples_;
};

std::string Headline(const Job& job) {
  std::string line = "job " + FormatJobId(job.id) + " [" + job.kind + "] " + std::string(ToString(job.state));
  if (job.state == JobState::kRunning || job.attempt > 0) {
    line += ", attempt " + std::to_string(job.attempt) + "/" + std::to_string(job.max_attempts);
  }
  if (job.state == JobState::kRunning && job.worker_id) line += " on " + *job.worker_id;
  return line;
}

std::string Ending(const Job& job) {
  std::string line = Headline(job);
  if (job.started_at && job.finished_at) line += " after " + FormatDurationShort(*job.finished_at - *job.started_at);
  if (job.state != JobState::kSucceeded && !job.errors.empty()) {
    const ErrorEntry& e = job.errors.back();
    line += ": " + std::string(ToString(e.error_class)) + ": " + e.message;
  }
  return line;
}

}  // namespace

Status WatchJob(JobTarget& target, JobId id, Duration interval) {
  const bool tty = isatty(STDOUT_FILENO) != 0;
  RateMeter rate;
  std::optional<JobState> shown_state;
  int shown_attempt = -1;
  Timestamp last_plain{};
  std::string last_line;
  bool bar_on_screen = false;
  while (true) {
    JW_ASSIGN_OR_RETURN(Job job, target.Get(id));
    const Timestamp now = target.Now();
    rate.Add(job);
    const bool changed = shown_state != job.state || shown_attempt != job.attempt;
    if (IsTerminal(job.state)) {
      if (bar_on_screen) std::cout << "\r\033[K";
      std::cout << Ending(job) << "\n";
      return Status::Ok();
    }
    if (changed) {
      if (bar_on_screen) std::cout << "\r\033[K";
      std::cout << Headline(job) << "\n";
      bar_on_screen = false;
      shown_state = job.state;
      shown_attempt = job.attempt;
    }
    if (job.state == JobState::kRunning) {
      const std::string line = ProgressBarLine(job, rate.PerSecond(job), now);
      if (tty) {
        std::cout << "\r\033[K" << line;
        bar_on_screen = true;
      } else if (changed || (line != last_line && now - last_plain >= std::chrono::seconds(5))) {
        // Plain lines: at most one every 5 s, as a log reads.
        std::cout << line << "\n";
        last_plain = now;
        last_line = line;
      }
    }
    std::cout.flush();
    std::this_thread::sleep_for(interval);
  }
}

Status WatchJobs(JobTarget& target, const JobListParams& params, Duration interval) {
  const bool tty = isatty(STDOUT_FILENO) != 0;
  std::map<JobId, JobState> seen;
  bool first = true;
  while (true) {
    JW_ASSIGN_OR_RETURN(std::vector<Job> jobs, target.List(params));
    const Timestamp now = target.Now();
    if (tty) {
      std::cout << "\033[H\033[J" << FormatRfc3339(now) << "  (every " << FormatDurationShort(interval)
                << "; Ctrl-C to stop)\n";
      PrintJobTable(std::cout, jobs, now);
    } else if (first) {
      PrintJobTable(std::cout, jobs, now);
    }
    std::map<JobId, JobState> current;
    for (const Job& j : jobs) {
      current.emplace(j.id, j.state);
      if (tty || first) continue;
      auto it = seen.find(j.id);
      if (it == seen.end()) {
        std::cout << FormatRfc3339(now) << " job " << FormatJobId(j.id) << " [" << j.kind << "] " << ToString(j.state)
                  << "\n";
      } else if (it->second != j.state) {
        std::cout << FormatRfc3339(now) << " job " << FormatJobId(j.id) << " [" << j.kind << "] "
                  << ToString(it->second) << " -> " << ToString(j.state) << "\n";
      }
    }
    if (!tty && !first) {
      for (const auto& [id, state] : seen) {
        if (!current.contains(id)) {
          std::cout << FormatRfc3339(now) << " job " << FormatJobId(id) << " " << ToString(state)
                    << " -> no longer listed\n";
        }
      }
    }
    seen = std::move(current);
    first = false;
    std::cout.flush();
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace jobwarden::cli
