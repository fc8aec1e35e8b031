#include "app/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

extern char** environ;

namespace jobwarden {

namespace {

class RealProcessControl : public ProcessControl {
 public:
  RealProcessControl(std::string exe, std::vector<std::string> env) : exe_(std::move(exe)) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      const std::string entry(*e);
      const std::string name = entry.substr(0, entry.find('='));
      const bool replaced =
          std::any_of(env.begin(), env.end(), [&](const std::string& x) { return x.substr(0, x.find('=')) == name; });
      if (!replaced) env_.push_back(entry);
    }
    env_.insert(env_.end(), env.begin(), env.end());
  }

  Result<pid_t> Spawn(const std::vector<std::string>& argv) override {
    // Everything the child needs is built before fork: after it, only
    // async-signal-safe calls (this process has many threads).
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (const std::string& e : env_) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return Status::Unavailable(std::string("start worker: fork: ") + std::strerror(errno));
    if (pid == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the supervisor died before prctl
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      sigaction(SIGPIPE, &dfl, nullptr);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      const int devnull = open("/dev/null", O_RDONLY);
      if (devnull > 0) {
        dup2(devnull, 0);
      }
      // The server's listening socket and database stay with the server.
      close_range(3, ~0U, 0);
      execve(exe_.c_str(), args.data(), envp.data());
      _exit(127);
    }
    return pid;
  }

  void Signal(pid_t pid, int signo) override {
    if (pid > 0) kill(pid, signo);
  }

  std::optional<int> TryReap(pid_t pid) override {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno == ECHILD) return 0;  // not ours any more: count it as gone
    return std::nullopt;
  }

 private:
  const std::string exe_;
  std::vector<std::string> env_;
};

}  // namespace

std::unique_ptr<ProcessControl> MakeProcessControl(std::string exe, std::vector<std::string> env) {
  return std::make_unique<RealProcessControl>(std::move(exe), std::move(env));
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    const char* name = strsignal(sig);
    return "was killed by signal " + std::to_string(sig) + (name != nullptr ? " (" + std::string(name) + ")" : "");
  }
  return "ended with wait status " + std::to_string(wait_status);
}

WorkerSupervisor::WorkerSupervisor(SupervisorOptions options, ProcessControl& control, OnExit on_exit)
    : options_(std::move(options)), control_(control), on_exit_(std::move(on_exit)) {
  slots_.resize(static_cast<std::size_t>(std::max(options_.workers, 0)));
  for (std::size_t i = 0; i < slots_.size(); ++i) slots_[i].index = static_cast<int>(i) + 1;
}

WorkerSupervisor::~WorkerSupervisor() { Stop(); }

Duration WorkerSupervisor::BackoffFor(int quick_deaths) const {
  Duration d = options_.restart_base;
  for (int i = 1; i < quick_deaths && d < options_.restart_cap; ++i) d *= 2;
  return std::min(d, options_.restart_cap);
}

WorkerSupervisor::SteadyTime WorkerSupervisor::RunOnce(SteadyTime now) {
  // Reap. Only this thread changes pids, so the snapshot stays true.
  std::vector<std::pair<std::size_t, pid_t>> running;
  {
    MutexLock lock(mu_);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].pid > 0) running.emplace_back(i, slots_[i].pid);
    }
  }
  std::vector<SupervisedExit> exits;
  for (const auto& [i, pid] : running) {
    const std::optional<int> status = control_.TryReap(pid);
    if (!status) continue;
    MutexLock lock(mu_);
    Slot& s = slots_[i];
    exits.push_back({s.index, s.worker_id, pid, *status, stopping_});
    if (now - s.started >= options_.stable_after) s.quick_deaths = 0;
    ++s.quick_deaths;
    s.pid = 0;
    s.restart_at = now + BackoffFor(s.quick_deaths);
    if (stopping_) {
      spdlog::info("worker {} (pid {}) {}", s.worker_id, pid, DescribeWaitStatus(*status));
    } else {
      spdlog::warn("worker {} (pid {}) {}; its jobs are taken back; restarting it in {}", s.worker_id, pid,
                   DescribeWaitStatus(*status), FormatDurationShort(BackoffFor(s.quick_deaths)));
    }
  }
  for (const SupervisedExit& e : exits) {
    if (on_exit_) on_exit_(e);
  }
  if (!exits.empty()) changed_.NotifyAll();

  // (Re)start what is due.
  SteadyTime next = now + kPollInterval;
  std::vector<std::size_t> due;
  {
    MutexLock lock(mu_);
    if (stopping_) return next;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const Slot& s = slots_[i];
      if (s.pid != 0) continue;
      if (s.restart_at <= now) {
        due.push_back(i);
      } else {
        next = std::min(next, s.restart_at);
      }
    }
  }
  for (std::size_t i : due) {
    std::string id;
    {
      MutexLock lock(mu_);
      id = options_.id_prefix + "-" + std::to_string(slots_[i].index) + "-" + std::to_string(slots_[i].generation + 1);
    }
    std::vector<std::string> argv = options_.argv;
    argv.push_back("--worker-id");
    argv.push_back(id);
    Result<pid_t> pid = control_.Spawn(argv);
    MutexLock lock(mu_);
    Slot& s = slots_[i];
    ++s.generation;
    if (!pid.ok()) {
      ++s.quick_deaths;
      s.restart_at = now + BackoffFor(s.quick_deaths);
      next = std::min(next, s.restart_at);
      spdlog::error("worker {}: {}; retrying in {}", id, pid.status().ToString(),
                    FormatDurationShort(BackoffFor(s.quick_deaths)));
      continue;
    }
    s.pid = *pid;
    s.worker_id = id;
    s.started = now;
    spdlog::info("worker {} started (pid {})", id, *pid);
    // A stop that came while it was being spawned did not see it.
    if (stopping_) control_.Signal(*pid, SIGTERM);
  }
  return next;
}

void WorkerSupervisor::Start() {
  thread_.Start([this](const std::stop_token& stop) { Loop(stop); },
                [this] {
                  { MutexLock sync(mu_); }  // the loop checks its token under mu_: no lost wake-up
                  changed_.NotifyAll();
                });
}

void WorkerSupervisor::Loop(const std::stop_token& stop) {
  while (true) {
    const SteadyTime next = RunOnce(std::chrono::steady_clock::now());
    MutexLock lock(mu_);
    // Only the deadline or Stop() end the wait (an exit's notify does not: RunOnce polls).
    while (!stop.stop_requested() && changed_.WaitUntil(mu_, next) == std::cv_status::no_timeout) {
    }
    if (stop.stop_requested()) return;
  }
}

void WorkerSupervisor::BeginStop() {
  MutexLock lock(mu_);
  if (stopping_) return;
  stopping_ = true;
  for (const Slot& s : slots_) {
    if (s.pid > 0) control_.Signal(s.pid, SIGTERM);
  }
}

void WorkerSupervisor::SignalAll(int signo) {
  MutexLock lock(mu_);
  for (const Slot& s : slots_) {
    if (s.pid > 0) control_.Signal(s.pid, signo);
  }
}

bool WorkerSupervisor::WaitAllExited(Duration timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(mu_);
  while (!AllExitedLocked()) {
    if (changed_.WaitUntil(mu_, until) == std::cv_status::timeout) return AllExitedLocked();
  }
  return true;
}

bool WorkerSupervisor::AllExitedLocked() const {
  return std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.pid == 0; });
}

void WorkerSupervisor::Stop() {
  BeginStop();
  thread_.Stop();
  // What is left was not reaped by the loop: kill and reap it here.
  if (running() == 0) return;
  SignalAll(SIGKILL);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (running() > 0 && std::chrono::steady_clock::now() < give_up) {
    RunOnce(std::chrono::steady_clock::now());
    if (running() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<pid_t> WorkerSupervisor::pids() const {
  MutexLock lock(mu_);
  std::vector<pid_t> out;
  for (const Slot& s : slots_) {
    if (s.pid > 0) out.push_back(s.pid);
  }
  return out;
}

int WorkerSupervisor::running() const { return static_cast<int>(pids().size()); }

}  // namespace jobwarden
