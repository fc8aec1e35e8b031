#include "worker/subprocess.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "protocol/job_json.h"
#include "worker/process_tree.h"

namespace jobwarden {

namespace {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

constexpr std::string_view kMarkName = "JOBWARDEN_ATTEMPT_MARK";
// After the leader exited and what it left was killed, how long its pipes and
// process group may linger (a process outside the attempt holding a pipe)
// before the attempt is declared over anyway.
constexpr auto kLeftoverBound = std::chrono::seconds(2);
constexpr auto kBusyTick = std::chrono::milliseconds(50);  // reaps orphans, checks leftovers
constexpr auto kIdleTick = std::chrono::seconds(1);
constexpr auto kNoPidfdTick = std::chrono::milliseconds(10);  // leader exits seen by polling
constexpr auto kShutdownBound = std::chrono::seconds(5);
// A leader whose pidfd said "exited" this long ago with no status routed to
// it was reaped by someone else (another supervisor routes within microseconds).
constexpr auto kStatusLostAfter = std::chrono::milliseconds(200);
constexpr int kMaxLoggedBadLines = 10;
constexpr std::size_t kReadChunk = 64 * 1024;

std::string ErrnoText(int err) { return std::error_code(err, std::system_category()).message(); }

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Wakes the supervisor thread. Shared, so an attempt that outlives its
// supervisor can still call it harmlessly.
struct Waker {
  UniqueFd fd;
  void Wake() const {
    const std::uint64_t one = 1;
    while (::write(fd.get(), &one, sizeof one) < 0 && errno == EINTR) {
    }
  }
  void Drain() const {
    std::uint64_t v;
    while (::read(fd.get(), &v, sizeof v) > 0 || errno == EINTR) {
    }
  }
};

// Exit statuses reaped by any supervisor, routed to the one that owns the pid.
class ReapRouter {
 public:
  static ReapRouter& Get() {
    static ReapRouter* router = new ReapRouter();  // never destroyed: reaping may go on at exit
    return *router;
  }
  // Runs `spawn` (which starts a child and returns its pid, or -1) with the
  // router locked, and owns the child before any waitpid(-1) of another
  // supervisor in this process can route its exit: a handler that exits at
  // once never has its status taken for an orphan's.
  template <typename Spawn>
  pid_t SpawnOwned(Spawn&& spawn, const std::shared_ptr<Waker>& owner) {
    std::lock_guard<std::mutex> lock(mu_);
    const pid_t pid = spawn();
    if (pid > 0) owners_[pid] = owner;
    return pid;
  }
  void Disown(pid_t pid) {
    std::lock_guard<std::mutex> lock(mu_);
    owners_.erase(pid);
    statuses_.erase(pid);
  }
  // Records a reaped status; wakes its owner. False for a pid nobody owns (an orphan).
  bool Route(pid_t pid, int status) {
    std::shared_ptr<Waker> owner;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = owners_.find(pid);
      if (it == owners_.end()) return false;
      owner = it->second;
      statuses_[pid] = status;
    }
    owner->Wake();
    return true;
  }
  // Whether `pid` is the live leader of some supervisor's attempt (not yet reaped).
  bool Owns(pid_t pid) {
    std::lock_guard<std::mutex> lock(mu_);
    return owners_.count(pid) != 0 && statuses_.count(pid) == 0;
  }
  std::optional<int> Take(pid_t pid) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = statuses_.find(pid);
    if (it == statuses_.end()) return std::nullopt;
    const int st = it->second;
    statuses_.erase(it);
    owners_.erase(pid);
    return st;
  }

 private:
  std::mutex mu_;
  std::unordered_map<pid_t, std::shared_ptr<Waker>> owners_;  // GUARDED_BY(mu_)
  std::unordered_map<pid_t, int> statuses_;                   // GUARDED_BY(mu_)
};

// Reaps every child that has exited, routing each status by pid.
void ReapAll() {
  while (true) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;  // none exited (0) or no children (ECHILD)
    if (!ReapRouter::Get().Route(pid, status)) spdlog::debug("subprocess supervisor: reaped orphan pid {}", pid);
  }
}

// Signals every descendant of this worker whose environment carries one of
// `marks` (attempt markers); returns how many were hit, per mark. Live attempt
// leaders are pruned with their subtrees: what runs under a leader belongs to
// that leader's attempt (a process of another attempt is re-parented to the
// worker, a child subreaper, never under someone else's leader), and pruning
// saves the /proc reads of every other running attempt.
std::vector<int> SignalMarked(int sig, const std::vector<std::string_view>& marks) {
  std::vector<int> hits(marks.size(), 0);
  if (marks.empty()) return hits;
  for (pid_t p : ProcessDescendants(::getpid(), [](pid_t k) { return ReapRouter::Get().Owns(k); })) {
    // The pidfd is taken before the check, so the check and the signal see the same process.
    const int pidfd = PidfdOpen(p);
    if (pidfd < 0 && errno == ESRCH) continue;
    const int which = ProcessEnvEntryIndex(p, marks);
    if (which >= 0 && (pidfd >= 0 ? PidfdSignal(pidfd, sig) : ::kill(p, sig) == 0)) ++hits[which];
    if (pidfd >= 0) ::close(pidfd);
  }
  return hits;
}

Status MakePipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::Unavailable("pipe: " + ErrnoText(errno));
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  // Every end at fd >= 4: the child dup2()s them onto 0-3, which must not be one of them.
  for (UniqueFd* f : {&read_end, &write_end}) {
    if (f->get() >= 4) continue;
    const int moved = ::fcntl(f->get(), F_DUPFD_CLOEXEC, 4);
    if (moved < 0) return Status::Unavailable("fcntl(F_DUPFD_CLOEXEC): " + ErrnoText(errno));
    f->reset(moved);
  }
  return Status::Ok();
}

// Our end of a fresh pipe has no other status flag, so one F_SETFL will do.
void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, O_NONBLOCK); }

// A SIGPIPE raised by a write to a closed stdin pipe stays pending on the
// supervisor thread (which blocks it); take it so it never piles up.
void ConsumePendingSigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  const timespec zero{0, 0};
  while (::sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
  }
}

// argv[0] as execve wants it: a name without '/' is looked up in the
// handler's PATH (else the worker's), here and not in the child, so "not
// found" is a clear error before anything is forked.
Result<std::string> ResolveExecutable(const std::string& name, const std::vector<std::string>& env) {
  if (name.empty()) return Status::InvalidArgument("command: the program name is empty");
  if (name.find('/') != std::string::npos) return name;
  std::string path;
  bool found_path = false;
  for (const std::string& e : env) {
    if (e.rfind("PATH=", 0) == 0) {
      path = e.substr(5);
      found_path = true;
    }
  }
  if (!found_path) {
    const char* p = std::getenv("PATH");
    path = p != nullptr ? p : "/usr/local/bin:/usr/bin:/bin";
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return Status::InvalidArgument("command not found: " + name);
}

// Where the child stopped when it could not exec.
enum ChildStage : int { kStageNone = 0, kStageSetup = 1, kStageChdir = 2, kStageExec = 3 };

// Everything the child needs, prepared before clone(): the child shares this
// process's memory and runs on a borrowed stack, so it may only make
// async-signal-safe calls on data built beforehand (no allocation, no locks).
struct ChildPlan {
  const char* exe = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* cwd = nullptr;
  int in_fd = -1;
  int out_fd = -1;
  int ctl_fd = -1;
  pid_t parent = 0;
  int max_fd = 1024;
  // Written by the child when it cannot exec, just before it _exit()s; read by
  // the parent once clone() returns (CLONE_VFORK: by then the child has either
  // exec'd or exited, and shares our memory). Replaces a CLOEXEC error pipe.
  volatile int fail_stage = kStageNone;
  volatile int fail_errno = 0;
};

[[noreturn]] void ChildFail(ChildPlan& p, int stage, int err) {
  p.fail_errno = err;
  p.fail_stage = stage;
  ::_exit(127);
}

// Runs in the child, between clone() and execve(). Never returns.
int RunChild(void* arg) {
  ChildPlan& p = *static_cast<ChildPlan*>(arg);
  // Default dispositions: an ignored SIGPIPE or SIGTERM must not leak into the
  // handler, and no handler of the worker may run here (signals stay blocked
  // until just before execve, which resets caught signals itself).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  // Dies with the supervisor thread, which lives as long as the worker.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ChildFail(p, kStageSetup, errno);
  if (::getppid() != p.parent) ::_exit(127);  // the worker died before prctl
  if (::setpgid(0, 0) != 0) ChildFail(p, kStageSetup, errno);
  if (::dup2(p.in_fd, 0) < 0 || ::dup2(p.out_fd, 1) < 0 || ::dup2(p.out_fd, 2) < 0 || ::dup2(p.ctl_fd, 3) < 0) {
    ChildFail(p, kStageSetup, errno);
  }
  // Nothing above fd 3 reaches the handler (marked close-on-exec: one call,
  // and the descriptor table is this child's own copy).
  if (::close_range(4, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 4; fd < p.max_fd; ++fd) ::close(fd);
  }
  if (p.cwd != nullptr && ::chdir(p.cwd) != 0) ChildFail(p, kStageChdir, errno);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(p.exe, p.argv, p.envp);
  ChildFail(p, kStageExec, errno);
}

// The child's stack: clone(CLONE_VM) must not run the child on the calling
// thread's stack, which it would overwrite while the thread is suspended.
// Reused by every spawn (one at a time, on the supervisor thread: CLONE_VFORK
// returns only when the child no longer uses it).
class ChildStack {
 public:
  static constexpr std::size_t kSize = 256 * 1024;  // the child needs a few KiB; sanitizers more
  ChildStack() {
    void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
                     -1, 0);
    base_ = p == MAP_FAILED ? nullptr : p;
  }
  ~ChildStack() {
    if (base_ != nullptr) ::munmap(base_, kSize);
  }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  bool ok() const { return base_ != nullptr; }
  void* top() const { return static_cast<char*>(base_) + kSize; }  // stacks grow down; mmap keeps 16-byte alignment

 private:
  void* base_ = nullptr;
};

Status ExecError(int stage, int err, const CommandSpec& spec, const std::string& exe) {
  const std::string what = ErrnoText(err);
  switch (stage) {
    case kStageChdir:
      return Status::InvalidArgument("cannot change to the handler's directory '" + spec.cwd.value_or("") +
                                     "': " + what);
    case kStageExec:
      if (err == ENOENT) return Status::InvalidArgument("command not found: " + exe);
      if (err == EACCES) return Status::InvalidArgument("permission denied: " + exe + " (is it executable?)");
      if (err == ENOEXEC) return Status::InvalidArgument(exe + ": not an executable (a script without #!?)");
      return Status::Unavailable("cannot run " + exe + ": " + what);
    default:
      return Status::Unavailable("cannot set up the handler process for " + exe + ": " + what);
  }
}

// The last `limit` bytes of `raw`, cut at a character boundary, with invalid
// UTF-8 replaced so the tail can be stored and shown as JSON text.
std::string OutputTail(const std::string& raw, std::size_t limit) {
  std::size_t start = raw.size() > limit ? raw.size() - limit : 0;
  while (start < raw.size() && start > 0 && (static_cast<unsigned char>(raw[start]) & 0xC0) == 0x80) ++start;
  std::string out;
  out.reserve(raw.size() - start);
  std::size_t i = start;
  while (i < raw.size()) {
    const auto c = static_cast<unsigned char>(raw[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = len > 0 && i + len <= raw.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(raw[i + k]) & 0xC0) == 0x80;
    }
    if (valid && (c == 0xC0 || c == 0xC1 || c > 0xF4)) valid = false;
    if (valid) {
      out.append(raw, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

class Attempt final : public Subprocess {
 public:
  Attempt(pid_t pid, std::string mark_entry, std::string name, std::shared_ptr<Waker> waker, ControlCallback cb,
          std::size_t tail_limit, std::size_t max_line, std::uint64_t serial)
      : pid_(pid),
        mark_entry_(std::move(mark_entry)),
        name_(std::move(name)),
        waker_(std::move(waker)),
        on_control_(std::move(cb)),
        tail_limit_(tail_limit),
        max_line_(max_line),
        serial_(serial) {}

  pid_t pid() const override { return pid_; }

  void Terminate(Duration grace) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_ || leader_exited_) return;
      killed_by_us_ = true;
      const TimePoint at = SteadyClock::now() + std::max(grace, Duration(0));
      if (!kill_at_ || at < *kill_at_) kill_at_ = at;
      if (!term_sent_) {
        term_sent_ = true;
        SignalAllLocked(SIGTERM);
        ::killpg(pid_, SIGCONT);  // a stopped handler must see its SIGTERM
      }
    }
    waker_->Wake();
  }

  void Kill() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return;
      if (!leader_exited_) killed_by_us_ = true;
      SignalAllLocked(SIGKILL);
    }
    waker_->Wake();
  }

  ExitInfo Wait() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    return info_;
  }

  std::optional<ExitInfo> WaitFor(Duration timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return done_; })) return std::nullopt;
    return info_;
  }

  // Signals every process of the attempt: its group, the leader and its
  // descendants while it lives, and every descendant of this worker that
  // carries the attempt's marker. Returns how many marked processes were hit.
  // REQUIRES: mu_ held.
  int SignalAllLocked(int sig) {
    ::killpg(pid_, sig);
    if (!leader_exited_) {
      if (pidfd_) {
        PidfdSignal(pidfd_.get(), sig);
      } else {
        ::kill(pid_, sig);
      }
      for (pid_t p : ProcessDescendants(pid_)) SignalProcessIf(p, sig, nullptr, {});
    }
    return SignalMarked(sig, {mark_entry_})[0];
  }

  const pid_t pid_;
  const std::string mark_entry_;  // "JOBWARDEN_ATTEMPT_MARK=<unique>"
  const std::string name_;
  const std::shared_ptr<Waker> waker_;
  const ControlCallback on_control_;
  const std::size_t tail_limit_;
  const std::size_t max_line_;
  const std::uint64_t serial_;

  std::mutex mu_;
  std::condition_variable cv_;
  UniqueFd pidfd_;              // GUARDED_BY(mu_): open until the leader is reaped
  bool leader_exited_ = false;  // GUARDED_BY(mu_)
  bool killed_by_us_ = false;   // GUARDED_BY(mu_)
  bool term_sent_ = false;      // GUARDED_BY(mu_)
  std::optional<TimePoint> kill_at_;  // GUARDED_BY(mu_): SIGKILL then, unless the leader exited
  bool done_ = false;           // GUARDED_BY(mu_)
  ExitInfo info_;               // GUARDED_BY(mu_)

  // Supervisor thread only.
  UniqueFd in_, out_, ctl_;
  std::string in_data_;
  std::size_t in_off_ = 0;
  std::string tail_;
  std::string line_;
  bool skipping_long_line_ = false;
  int bad_lines_ = 0;
  int wait_status_ = -1;  // -1: unknown (lost to other code's waitpid(), or never reaped)
  std::optional<TimePoint> pidfd_ready_at_;  // when the pidfd said the leader exited
  std::optional<TimePoint> leftover_deadline_;  // set when the leader exited
  bool recheck_marked_ = false;
};

class SupervisorImpl final : public SubprocessSupervisor {
 public:
  SupervisorImpl(UniqueFd epoll, std::shared_ptr<Waker> waker, bool have_pidfd)
      : epoll_(std::move(epoll)), waker_(std::move(waker)), have_pidfd_(have_pidfd), self_(::getpid()) {
    std::random_device rd;
    mark_salt_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    thread_ = std::thread([this] { Loop(); });
  }

  ~SupervisorImpl() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    waker_->Wake();
    thread_.join();
  }

  Result<std::shared_ptr<Subprocess>> Start(const CommandSpec& spec, ControlCallback on_control) override {
    auto req = std::make_shared<StartRequest>();
    req->spec = &spec;
    req->on_control = std::move(on_control);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return Status::Unavailable("the subprocess supervisor is shutting down");
      pending_.push_back(req);
    }
    waker_->Wake();
    std::unique_lock<std::mutex> lock(req->mu);
    req->cv.wait(lock, [&] { return req->result.has_value(); });
    return std::move(*req->result);
  }

 private:
  struct StartRequest {
    const CommandSpec* spec = nullptr;  // the caller blocks until answered
    ControlCallback on_control;
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<std::shared_ptr<Subprocess>>> result;  // GUARDED_BY(mu)
  };
  enum Source : std::uint64_t { kPidfd = 0, kStdin = 1, kOutput = 2, kControl = 3 };

  void Answer(StartRequest& req, Result<std::shared_ptr<Subprocess>> r) {
    {
      std::lock_guard<std::mutex> lock(req.mu);
      req.result.emplace(std::move(r));
    }
    req.cv.notify_all();
  }

  void Watch(int fd, std::uint64_t serial, Source source, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = (serial << 2) | source;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      spdlog::error("subprocess supervisor: epoll_ctl(ADD): {}", ErrnoText(errno));
    }
  }
  void Unwatch(UniqueFd& fd) {
    if (!fd) return;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd.get(), nullptr);
    fd.reset();
  }

  // --- the supervisor thread

  void Loop() {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    std::optional<TimePoint> shutdown_deadline;
    epoll_event events[64];
    while (true) {
      bool stopping;
      std::deque<std::shared_ptr<StartRequest>> starts;
      {
        std::lock_guard<std::mutex> lock(mu_);
        stopping = stopping_;
        starts.swap(pending_);
      }
      for (auto& req : starts) {
        if (stopping) {
          Answer(*req, Status::Unavailable("the subprocess supervisor is shutting down"));
          continue;
        }
        auto spawned = Spawn(*req->spec, std::move(req->on_control));
        if (spawned.ok()) {
          Answer(*req, std::shared_ptr<Subprocess>(std::move(spawned).value()));
        } else {
          Answer(*req, spawned.status());
        }
      }
      if (stopping && !shutdown_deadline) {
        shutdown_deadline = SteadyClock::now() + kShutdownBound;
        for (auto& [serial, a] : attempts_) a->Kill();
      }
      ReapAll();
      const TimePoint now = SteadyClock::now();
      Advance(now);
      if (stopping && (attempts_.empty() || now >= *shutdown_deadline)) break;

      const int n = ::epoll_wait(epoll_.get(), events, 64, TimeoutMs(now));
      if (n < 0) {
        if (errno != EINTR) {
          spdlog::error("subprocess supervisor: epoll_wait: {}", ErrnoText(errno));
          std::this_thread::sleep_for(kBusyTick);
        }
        continue;
      }
      for (int i = 0; i < n; ++i) Dispatch(events[i]);
    }
    // Past the shutdown bound: whatever is left is declared over, so no Wait() hangs.
    for (auto& [serial, a] : std::unordered_map<std::uint64_t, std::shared_ptr<Attempt>>(attempts_)) {
      spdlog::warn("{}: still not gone {} after SIGKILL at shutdown", a->name_,
                   FormatDurationShort(std::chrono::duration_cast<Duration>(kShutdownBound)));
      Finish(*a);
    }
  }

  int TimeoutMs(TimePoint now) {
    Duration tick = std::chrono::duration_cast<Duration>(kIdleTick);
    if (!attempts_.empty()) tick = std::chrono::duration_cast<Duration>(have_pidfd_ ? kBusyTick : kNoPidfdTick);
    TimePoint next = now + tick;
    for (auto& [serial, a] : attempts_) {
      {
        std::lock_guard<std::mutex> lock(a->mu_);
        if (a->kill_at_ && !a->leader_exited_) next = std::min(next, *a->kill_at_);
      }
      if (a->leftover_deadline_) next = std::min(next, *a->leftover_deadline_);
    }
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000));
  }

  void Dispatch(const epoll_event& ev) {
    if (ev.data.u64 == 0) {
      waker_->Drain();
      return;
    }
    const std::uint64_t serial = ev.data.u64 >> 2;
    auto it = attempts_.find(serial);
    if (it == attempts_.end()) return;
    Attempt& a = *it->second;
    switch (static_cast<Source>(ev.data.u64 & 3)) {
      case kPidfd: {
        // The leader exited: ReapAll() picks it up. Stop watching (it stays
        // readable) so a status that never comes cannot spin this loop.
        a.pidfd_ready_at_ = SteadyClock::now();
        std::lock_guard<std::mutex> lock(a.mu_);
        if (a.pidfd_) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, a.pidfd_.get(), nullptr);
        break;
      }
      case kStdin: WriteInput(a); break;
      case kOutput: ReadOutput(a); break;
      case kControl: ReadControl(a); break;
    }
  }

  // Timers and endings, for every attempt.
  void Advance(TimePoint now) {
    std::vector<Attempt*> exited;
    for (auto& [serial, ap] : attempts_) {
      Attempt& a = *ap;
      if (a.leftover_deadline_) continue;
      if (auto st = ReapRouter::Get().Take(a.pid_)) {
        OnLeaderExit(a, *st, now);
        exited.push_back(&a);
      } else if (a.pidfd_ready_at_ && now - *a.pidfd_ready_at_ >= kStatusLostAfter) {
        // Exited a while ago, yet no supervisor reaped it: other code in this
        // process waited for it (see the header). Its status is lost; say so.
        int status = 0;
        const pid_t r = ::waitpid(a.pid_, &status, WNOHANG);
        if (r == a.pid_) {
          ReapRouter::Get().Take(a.pid_);
          OnLeaderExit(a, status, now);
          exited.push_back(&a);
        } else if (r < 0 && errno == ECHILD) {
          spdlog::error("{}: its exit status was taken by other code in this process (waitpid); "
                        "reporting exit code -1", a.name_);
          ReapRouter::Get().Disown(a.pid_);
          OnLeaderExit(a, -1, now);
          exited.push_back(&a);
        }
      } else {
        std::lock_guard<std::mutex> lock(a.mu_);
        if (a.kill_at_ && now >= *a.kill_at_) {
          a.kill_at_.reset();
          spdlog::warn("{}: still running after the grace; SIGKILL to all of its processes", a.name_);
          a.SignalAllLocked(SIGKILL);
        }
      }
    }
    KillMarkedLeftovers(exited);
    std::vector<std::shared_ptr<Attempt>> finished;
    for (auto& [serial, ap] : attempts_) {
      if (ap->leftover_deadline_ && LeftoversGone(*ap, now)) finished.push_back(ap);
    }
    for (auto& a : finished) Finish(*a);
  }

  void OnLeaderExit(Attempt& a, int status, TimePoint now) {
    a.wait_status_ = status;
    a.leftover_deadline_ = now + kLeftoverBound;
    Unwatch(a.in_);
    std::lock_guard<std::mutex> lock(a.mu_);
    a.leader_exited_ = true;
    a.kill_at_.reset();
    Unwatch(a.pidfd_);
    // Nothing outlives its attempt: whatever the leader left in its group is
    // killed now, and what left the group in KillMarkedLeftovers.
    ::killpg(a.pid_, SIGKILL);
  }

  // Kills every process that carries the marker of an attempt whose leader
  // just exited (a setsid() grandchild, say). One walk of /proc serves every
  // leader that exited in this pass: under load several end together, and the
  // walk is most of what a leader's exit costs this thread.
  void KillMarkedLeftovers(const std::vector<Attempt*>& exited) {
    if (exited.empty()) return;
    std::vector<std::string_view> marks;
    marks.reserve(exited.size());
    for (Attempt* a : exited) marks.push_back(a->mark_entry_);
    const std::vector<int> hits = SignalMarked(SIGKILL, marks);
    for (std::size_t i = 0; i < exited.size(); ++i) {
      Attempt& a = *exited[i];
      a.recheck_marked_ = hits[i] > 0;
      if (hits[i] > 0) spdlog::info("{}: killed {} process(es) it left running outside its group", a.name_, hits[i]);
    }
  }

  // True when the attempt is over: pipes drained and its processes gone (or
  // the bound passed: a process outside the attempt may hold a pipe).
  bool LeftoversGone(Attempt& a, TimePoint now) {
    const bool group_gone = ::killpg(a.pid_, 0) != 0 && errno == ESRCH;
    if (!group_gone) ::killpg(a.pid_, SIGKILL);  // a straggler that forked as the group was killed
    if (group_gone && !a.out_ && !a.ctl_ && a.recheck_marked_) {
      std::lock_guard<std::mutex> lock(a.mu_);
      a.recheck_marked_ = a.SignalAllLocked(SIGKILL) > 0;
    }
    if (group_gone && !a.out_ && !a.ctl_ && !a.recheck_marked_) return true;
    if (now < *a.leftover_deadline_) return false;
    spdlog::warn("{}: {} after the handler exited; not waiting any longer",
                 a.name_, !group_gone || a.recheck_marked_ ? "some of its processes are still alive"
                                                           : "a process outside the attempt still holds its output pipe");
    return true;
  }

  void Finish(Attempt& a) {
    Unwatch(a.in_);
    if (a.ctl_) {
      ReadControl(a);  // what is still buffered in the pipe
      Unwatch(a.ctl_);
    }
    if (a.out_) {
      ReadOutput(a);
      Unwatch(a.out_);
    }
    if (a.bad_lines_ > kMaxLoggedBadLines) {
      spdlog::warn("{}: ignored {} malformed fd-3 lines in all", a.name_, a.bad_lines_);
    }
    ExitInfo info;
    const int st = a.wait_status_;
    info.signaled = st != -1 && WIFSIGNALED(st);
    info.signal = info.signaled ? WTERMSIG(st) : 0;
    info.exit_code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : (info.signaled ? 128 + info.signal : -1);
    info.output_tail = OutputTail(a.tail_, a.tail_limit_);
    std::shared_ptr<Attempt> keep = attempts_[a.serial_];  // `a` lives until it is answered
    attempts_.erase(a.serial_);
    if (!a.leftover_deadline_) ReapRouter::Get().Disown(a.pid_);
    {
      std::lock_guard<std::mutex> lock(a.mu_);
      a.pidfd_.reset();
      info.killed_by_us = a.killed_by_us_;
      a.info_ = std::move(info);
      a.done_ = true;
    }
    a.cv_.notify_all();
  }

  void WriteInput(Attempt& a) {
    while (a.in_ && a.in_off_ < a.in_data_.size()) {
      const ssize_t n = ::write(a.in_.get(), a.in_data_.data() + a.in_off_, a.in_data_.size() - a.in_off_);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        if (errno == EPIPE) {
          ConsumePendingSigpipe();
          spdlog::debug("{}: closed its stdin before reading all of the job", a.name_);
        } else {
          spdlog::warn("{}: writing the job to its stdin: {}", a.name_, ErrnoText(errno));
        }
        break;
      }
      a.in_off_ += static_cast<std::size_t>(n);
    }
    Unwatch(a.in_);
    std::string().swap(a.in_data_);
  }

  void ReadOutput(Attempt& a) {
    char buf[kReadChunk];
    for (int i = 0; i < 8 && a.out_; ++i) {
      const ssize_t n = ::read(a.out_.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        if (n < 0) spdlog::warn("{}: reading its output: {}", a.name_, ErrnoText(errno));
        Unwatch(a.out_);
        return;
      }
      if (a.tail_limit_ == 0) continue;
      a.tail_.append(buf, static_cast<std::size_t>(n));
      // Bounded: trim once it is twice the tail, so trimming costs O(1) per byte.
      if (a.tail_.size() > 2 * a.tail_limit_) a.tail_.erase(0, a.tail_.size() - a.tail_limit_);
    }
  }

  void ReadControl(Attempt& a) {
    char buf[kReadChunk];
    for (int i = 0; i < 8 && a.ctl_; ++i) {
      const ssize_t n = ::read(a.ctl_.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        if (n < 0) spdlog::warn("{}: reading fd 3: {}", a.name_, ErrnoText(errno));
        // A last line without its newline still counts.
        if (!a.skipping_long_line_ && !a.line_.empty()) HandleLine(a, a.line_);
        std::string().swap(a.line_);
        Unwatch(a.ctl_);
        return;
      }
      ConsumeControl(a, std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }

  void ConsumeControl(Attempt& a, std::string_view data) {
    while (!data.empty()) {
      const std::size_t nl = data.find('\n');
      const std::string_view part = data.substr(0, nl);
      if (!a.skipping_long_line_) {
        if (a.line_.size() + part.size() > a.max_line_) {
          a.skipping_long_line_ = true;
          std::string().swap(a.line_);
          spdlog::warn("{}: ignored an fd-3 line longer than {} bytes", a.name_, a.max_line_);
        } else {
          a.line_.append(part);
        }
      }
      if (nl == std::string_view::npos) return;
      if (!a.skipping_long_line_) HandleLine(a, a.line_);
      a.line_.clear();
      a.skipping_long_line_ = false;
      data.remove_prefix(nl + 1);
    }
  }

  void HandleLine(Attempt& a, std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank lines are fine
    auto m = ParseControlLine(line);
    if (!m.ok()) {
      if (++a.bad_lines_ <= kMaxLoggedBadLines) {
        spdlog::warn("{}: ignored a malformed fd-3 line ({}): {}", a.name_, m.status().message(),
                     line.substr(0, 200));
      }
      return;
    }
    if (!a.on_control_) return;
    try {
      a.on_control_(*m);
    } catch (const std::exception& e) {
      spdlog::error("{}: the fd-3 callback threw: {}", a.name_, e.what());
    }
  }

  Result<std::shared_ptr<Attempt>> Spawn(const CommandSpec& spec, ControlCallback on_control) {
    if (spec.argv.empty()) return Status::InvalidArgument("command: no program given");
    if (!child_stack_.ok()) return Status::Unavailable("cannot map a stack for handler processes");
    JW_ASSIGN_OR_RETURN(std::string exe, ResolveExecutable(spec.argv[0], spec.env));
    const std::uint64_t serial = ++next_serial_;
    char salt[17];
    std::snprintf(salt, sizeof salt, "%016llx", static_cast<unsigned long long>(mark_salt_ ^ (serial * 0x9E3779B97F4A7C15ULL)));
    const std::string mark_entry =
        std::string(kMarkName) + "=" + std::to_string(self_) + "-" + std::to_string(serial) + "-" + salt;

    std::vector<std::string> env;
    env.reserve(spec.env.size() + 1);
    for (const std::string& e : spec.env) {
      if (e.rfind(std::string(kMarkName) + "=", 0) != 0) env.push_back(e);
    }
    env.push_back(mark_entry);
    std::vector<char*> argv;
    for (const std::string& s : spec.argv) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const std::string& s : env) envp.push_back(const_cast<char*>(s.c_str()));
    envp.push_back(nullptr);

    UniqueFd in_r, in_w, out_r, out_w, ctl_r, ctl_w;
    JW_RETURN_IF_ERROR(MakePipe(in_r, in_w));
    JW_RETURN_IF_ERROR(MakePipe(out_r, out_w));
    JW_RETURN_IF_ERROR(MakePipe(ctl_r, ctl_w));
    SetNonBlocking(in_w.get());
    SetNonBlocking(out_r.get());
    SetNonBlocking(ctl_r.get());
    // What fits in the pipe goes in now (nobody can close its read end yet).
    std::size_t in_off = 0;
    while (in_off < spec.stdin_data.size()) {
      const ssize_t n = ::write(in_w.get(), spec.stdin_data.data() + in_off, spec.stdin_data.size() - in_off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      in_off += static_cast<std::size_t>(n);
    }

    ChildPlan plan;
    plan.exe = exe.c_str();
    plan.argv = argv.data();
    plan.envp = envp.data();
    plan.cwd = spec.cwd ? spec.cwd->c_str() : nullptr;
    plan.in_fd = in_r.get();
    plan.out_fd = out_w.get();
    plan.ctl_fd = ctl_w.get();
    plan.parent = self_;
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
      plan.max_fd = static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536));
    }

    // vfork semantics: the child shares our memory until it execs, so no page
    // table is copied (fork() of a large multithreaded worker cost ~1 ms per
    // job, plus copy-on-write faults after it), and this thread sleeps until
    // the child has exec'd or exited. It runs from this thread, so the
    // parent-death signal is tied to the supervisor thread, as before.
    // No signal handler of this process may run in the child before exec.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    int clone_errno = 0;
    const pid_t pid = ReapRouter::Get().SpawnOwned(
        [&] {
          while (true) {
            const int flags = CLONE_VM | CLONE_VFORK | SIGCHLD | (clone_pidfd_ ? CLONE_PIDFD : 0);
            const pid_t child = ::clone(&RunChild, child_stack_.top(), flags, &plan, &pidfd);
            clone_errno = errno;
            if (child < 0 && clone_errno == EINVAL && clone_pidfd_) {
              clone_pidfd_ = false;  // a kernel before 5.2: take the pidfd after the fact
              continue;
            }
            return child;
          }
        },
        waker_);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) return Status::Unavailable("clone: " + ErrnoText(clone_errno));
    UniqueFd leader_fd(clone_pidfd_ ? pidfd : -1);
    in_r.reset();
    out_w.reset();
    ctl_w.reset();

    if (plan.fail_stage != kStageNone) {
      // The child has _exit()ed (or is about to): reap it here, so that no
      // zombie is left and no status reaches the orphan path. Another
      // supervisor's waitpid(-1) may have taken it first (ECHILD): fine.
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      ReapRouter::Get().Disown(pid);
      return ExecError(plan.fail_stage, plan.fail_errno, spec, exe);
    }
    ::setpgid(pid, pid);  // the child did it already; harmless (EACCES after exec)

    auto a = std::make_shared<Attempt>(pid, mark_entry, spec.name.empty() ? "handler pid " + std::to_string(pid) : spec.name,
                                       waker_, std::move(on_control), spec.output_tail_bytes,
                                       std::max<std::size_t>(spec.max_control_line, 1), serial);
    a->pidfd_ = leader_fd ? std::move(leader_fd) : UniqueFd(PidfdOpen(pid));
    if (a->pidfd_) Watch(a->pidfd_.get(), serial, kPidfd, EPOLLIN);
    a->out_ = std::move(out_r);
    a->ctl_ = std::move(ctl_r);
    Watch(a->out_.get(), serial, kOutput, EPOLLIN);
    Watch(a->ctl_.get(), serial, kControl, EPOLLIN);
    if (in_off < spec.stdin_data.size()) {
      a->in_ = std::move(in_w);
      a->in_data_ = spec.stdin_data;
      a->in_off_ = in_off;
      Watch(a->in_.get(), serial, kStdin, EPOLLOUT);
    }
    attempts_[serial] = a;
    spdlog::debug("{}: started {} (pid {})", a->name_, exe, pid);
    return a;
  }

  const UniqueFd epoll_;
  const std::shared_ptr<Waker> waker_;
  const bool have_pidfd_;
  const pid_t self_;
  std::uint64_t mark_salt_ = 0;
  ChildStack child_stack_;     // supervisor thread only: the stack every spawned child starts on
  bool clone_pidfd_ = true;    // supervisor thread only: clone() hands back a pidfd (CLONE_PIDFD)

  std::mutex mu_;
  bool stopping_ = false;                               // GUARDED_BY(mu_)
  std::deque<std::shared_ptr<StartRequest>> pending_;   // GUARDED_BY(mu_)

  // Supervisor thread only.
  std::unordered_map<std::uint64_t, std::shared_ptr<Attempt>> attempts_;
  std::uint64_t next_serial_ = 0;
  std::thread thread_;  // owned: joined by the destructor
};

}  // namespace

std::string SignalName(int sig) {
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  return "signal " + std::to_string(sig);
}

Result<ControlMessage> ParseControlLine(std::string_view line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return Status::InvalidArgument("expected a JSON object such as {\"progress\": {...}}");
  if (j.size() != 1) {
    return Status::InvalidArgument("expected exactly one of progress, checkpoint, result or error; got " +
                                   std::to_string(j.size()) + " keys");
  }
  const auto item = j.begin();
  const std::string& key = item.key();
  const nlohmann::json& value = item.value();
  ControlMessage m;
  try {
    if (key == "progress") {
      JW_ASSIGN_OR_RETURN(m.progress, ProgressFromJson(value));
      m.type = ControlMessage::Type::kProgress;
    } else if (key == "checkpoint" || key == "result") {
      m.type = key == "checkpoint" ? ControlMessage::Type::kCheckpoint : ControlMessage::Type::kResult;
      m.json = value.dump();
    } else if (key == "error") {
      if (!value.is_object()) return Status::InvalidArgument("error: must be an object with class and message");
      auto cls = value.find("class");
      if (cls == value.end() || !cls->is_string()) return Status::InvalidArgument("error.class: must be a string");
      auto parsed = ParseErrorClass(cls->get<std::string>());
      if (!parsed || (*parsed != ErrorClass::kTransient && *parsed != ErrorClass::kPermanent &&
                      *parsed != ErrorClass::kRateLimited)) {
        return Status::InvalidArgument("error.class: '" + cls->get<std::string>() +
                                       "' is not one a handler may declare (transient, permanent, rate_limited)");
      }
      m.type = ControlMessage::Type::kError;
      m.error_class = *parsed;
      if (auto msg = value.find("message"); msg != value.end() && !msg->is_null()) {
        if (!msg->is_string()) return Status::InvalidArgument("error.message: must be a string");
        m.error_message = msg->get<std::string>();
      }
      if (m.error_message.empty()) m.error_message = "the handler reported a " + std::string(ToString(*parsed)) + " error";
      if (auto ra = value.find("retry_after_s"); ra != value.end() && !ra->is_null()) {
        if (!ra->is_number()) return Status::InvalidArgument("error.retry_after_s: must be a number of seconds");
        auto d = FromSeconds(ra->get<double>());
        if (!d.ok()) return d.status().WithContext("error.retry_after_s");
        m.retry_after = *d;
      }
    } else {
      return Status::InvalidArgument("unknown key '" + key + "' (expected progress, checkpoint, result or error)");
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("cannot read the line: ") + e.what());
  }
  return m;
}

Result<std::unique_ptr<SubprocessSupervisor>> SubprocessSupervisor::Create() {
  // Orphaned grandchildren come to us, so an attempt's processes stay findable.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return Status::Internal("prctl(PR_SET_CHILD_SUBREAPER): " + ErrnoText(errno));
  }
  // An ignored SIGCHLD makes the kernel discard exit statuses: the handler's outcome would be lost.
  struct sigaction sa {};
  if (::sigaction(SIGCHLD, nullptr, &sa) == 0 &&
      (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT) != 0)) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(SIGCHLD, &dfl, nullptr);
    spdlog::warn("subprocess supervisor: SIGCHLD was ignored; restored its default so exit statuses are kept");
  }
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return Status::Internal("epoll_create1: " + ErrnoText(errno));
  auto waker = std::make_shared<Waker>();
  waker->fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!waker->fd) return Status::Internal("eventfd: " + ErrnoText(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, waker->fd.get(), &ev) != 0) {
    return Status::Internal("epoll_ctl: " + ErrnoText(errno));
  }
  bool have_pidfd = false;
  if (const int probe = PidfdOpen(::getpid()); probe >= 0) {
    have_pidfd = true;
    ::close(probe);
  }
  return std::unique_ptr<SubprocessSupervisor>(new SupervisorImpl(std::move(epoll), std::move(waker), have_pidfd));
}

}  // namespace jobwarden
