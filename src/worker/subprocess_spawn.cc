// Spawning an attempt: the program looked up in PATH, the pipes for stdin,
// output and fd 3, and the child itself, started with vfork semantics
// (clone(CLONE_VM | CLONE_VFORK)) on a stack of its own, which sets up its
// process group, parent-death signal and descriptors 0-3, then execs.
// Runs on the supervisor thread (see subprocess.h for why).
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "worker/process_tree.h"
#include "worker/reap_router.h"
#include "worker/subprocess_internal.h"

namespace jobwarden::subprocess_internal {

namespace {

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

// Where the child stopped when it could not exec.
enum ChildStage : int { kStageNone = 0, kStageSetup = 1, kStageChdir = 2, kStageExec = 3 };

}  // namespace

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

// The pipes of an attempt being spawned. The child's ends (*_child) are
// closed once it runs; ours are non-blocking.
struct AttemptPipes {
  UniqueFd in_child, in_ours, out_ours, out_child, ctl_ours, ctl_child;
};

// What clone() handed back: the child's pid (or -1 and the errno), and its
// pidfd when CLONE_PIDFD was honoured.
struct ClonedChild {
  pid_t pid = -1;
  int pidfd = -1;
  int clone_errno = 0;
};

namespace {

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
    default: return Status::Unavailable("cannot set up the handler process for " + exe + ": " + what);
  }
}

// What execve() takes, built before clone() (the child may not allocate).
// argv points into the spec's strings, envp into `env`; both stay valid while
// the ExecVectors lives (moving the vectors moves no string).
struct ExecVectors {
  std::vector<std::string> env;  // the spec's environment, with this attempt's marker
  std::vector<char*> argv;
  std::vector<char*> envp;
};

// The handler's environment is the spec's, minus any marker it carried (a
// handler started by a handler must not pass as its parent's attempt), plus
// this attempt's own `mark_entry`.
ExecVectors BuildExecVectors(const CommandSpec& spec, const std::string& mark_entry) {
  ExecVectors v;
  v.env.reserve(spec.env.size() + 1);
  for (const std::string& e : spec.env) {
    if (e.rfind(std::string(kMarkName) + "=", 0) != 0) v.env.push_back(e);
  }
  v.env.push_back(mark_entry);
  for (const std::string& s : spec.argv) v.argv.push_back(const_cast<char*>(s.c_str()));
  v.argv.push_back(nullptr);
  for (const std::string& s : v.env) v.envp.push_back(const_cast<char*>(s.c_str()));
  v.envp.push_back(nullptr);
  return v;
}

Result<AttemptPipes> MakeAttemptPipes() {
  AttemptPipes p;
  JW_RETURN_IF_ERROR(MakePipe(p.in_child, p.in_ours));
  JW_RETURN_IF_ERROR(MakePipe(p.out_ours, p.out_child));
  JW_RETURN_IF_ERROR(MakePipe(p.ctl_ours, p.ctl_child));
  SetNonBlocking(p.in_ours.get());
  SetNonBlocking(p.out_ours.get());
  SetNonBlocking(p.ctl_ours.get());
  return p;
}

// Writes what fits of `data` into the (non-blocking) stdin pipe before the
// child exists, when nobody can close its read end yet; returns how much went
// in. The rest is written by the supervisor thread as the handler reads.
std::size_t PrefillStdin(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  return off;
}

void PlanChild(ChildPlan& plan, const std::string& exe, const ExecVectors& vec, const CommandSpec& spec,
               const AttemptPipes& pipes, pid_t parent) {
  plan.exe = exe.c_str();
  plan.argv = vec.argv.data();
  plan.envp = vec.envp.data();
  plan.cwd = spec.cwd ? spec.cwd->c_str() : nullptr;
  plan.in_fd = pipes.in_child.get();
  plan.out_fd = pipes.out_child.get();
  plan.ctl_fd = pipes.ctl_child.get();
  plan.parent = parent;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    plan.max_fd = static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536));
  }
}

// The child could not exec and has _exit()ed (or is about to): reap it here,
// so that no zombie is left and no status reaches the orphan path, and say
// why. Another supervisor's waitpid(-1) may have taken it first (ECHILD): fine.
Status ReapFailedChild(pid_t pid, const ChildPlan& plan, const CommandSpec& spec, const std::string& exe) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ReapRouter::Get().Disown(pid);
  return ExecError(plan.fail_stage, plan.fail_errno, spec, exe);
}

}  // namespace

ChildStack::ChildStack() {
  void* p =
      ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  base_ = p == MAP_FAILED ? nullptr : p;
}

ChildStack::~ChildStack() {
  if (base_ != nullptr) ::munmap(base_, kSize);
}

// "JOBWARDEN_ATTEMPT_MARK=<worker pid>-<serial>-<salt>": unique to the
// attempt, and salted so no handler can guess another attempt's marker.
std::string SupervisorImpl::MarkEntry(std::uint64_t serial) const {
  char salt[17];
  std::snprintf(salt, sizeof salt, "%016llx",
                static_cast<unsigned long long>(mark_salt_ ^ (serial * 0x9E3779B97F4A7C15ULL)));
  return std::string(kMarkName) + "=" + std::to_string(self_) + "-" + std::to_string(serial) + "-" + salt;
}

// vfork semantics: the child shares our memory until it execs, so no page
// table is copied (fork() of a large multithreaded worker cost ~1 ms per
// job, plus copy-on-write faults after it), and this thread sleeps until
// the child has exec'd or exited. It runs from this thread, so the
// parent-death signal is tied to the supervisor thread, as before.
// No signal handler of this process may run in the child before exec.
ClonedChild SupervisorImpl::CloneChild(ChildPlan& plan) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  ClonedChild c;
  c.pid = ReapRouter::Get().SpawnOwned(
      [&] {
        while (true) {
          const int flags = CLONE_VM | CLONE_VFORK | SIGCHLD | (clone_pidfd_ ? CLONE_PIDFD : 0);
          const pid_t child = ::clone(&RunChild, child_stack_.top(), flags, &plan, &c.pidfd);
          c.clone_errno = errno;
          if (child < 0 && c.clone_errno == EINVAL && clone_pidfd_) {
            clone_pidfd_ = false;  // a kernel before 5.2: take the pidfd after the fact
            continue;
          }
          return child;
        }
      },
      waker_);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return c;
}

// Wraps a running child in its Attempt, watches its pidfd and our pipe ends,
// and enters it in the process table. The stdin pipe is kept only while
// some of the job is still to be written.
std::shared_ptr<Attempt> SupervisorImpl::Adopt(const CommandSpec& spec, ControlCallback on_control, pid_t pid,
                                               UniqueFd leader_fd, std::string mark_entry, std::uint64_t serial,
                                               AttemptPipes& pipes, std::size_t in_off) {
  auto a = std::make_shared<Attempt>(pid, std::move(mark_entry),
                                     spec.name.empty() ? "handler pid " + std::to_string(pid) : spec.name, waker_,
                                     std::move(on_control), spec.output_tail_bytes,
                                     std::max<std::size_t>(spec.max_control_line, 1), serial, spec.log_fields);
  UniqueFd pidfd = leader_fd ? std::move(leader_fd) : UniqueFd(PidfdOpen(pid));
  if (pidfd) Watch(pidfd.get(), serial, kPidfd, EPOLLIN);
  {
    MutexLock lock(a->mu_);  // `a` is not shared yet: uncontended, taken for the field's rule
    a->pidfd_ = std::move(pidfd);
  }
  a->out_ = std::move(pipes.out_ours);
  a->ctl_ = std::move(pipes.ctl_ours);
  Watch(a->out_.get(), serial, kOutput, EPOLLIN);
  Watch(a->ctl_.get(), serial, kControl, EPOLLIN);
  if (in_off < spec.stdin_data.size()) {
    a->in_ = std::move(pipes.in_ours);
    a->in_data_ = spec.stdin_data;
    a->in_off_ = in_off;
    Watch(a->in_.get(), serial, kStdin, EPOLLOUT);
  }
  attempts_[serial] = a;
  return a;
}

Result<std::shared_ptr<Attempt>> SupervisorImpl::Spawn(const CommandSpec& spec, ControlCallback on_control) {
  if (spec.argv.empty()) return Status::InvalidArgument("command: no program given");
  if (!child_stack_.ok()) return Status::Unavailable("cannot map a stack for handler processes");
  JW_ASSIGN_OR_RETURN(std::string exe, ResolveExecutable(spec.argv[0], spec.env));
  const std::uint64_t serial = ++next_serial_;
  std::string mark_entry = MarkEntry(serial);
  ExecVectors vec = BuildExecVectors(spec, mark_entry);
  JW_ASSIGN_OR_RETURN(AttemptPipes pipes, MakeAttemptPipes());
  const std::size_t in_off = PrefillStdin(pipes.in_ours.get(), spec.stdin_data);

  ChildPlan plan;
  PlanChild(plan, exe, vec, spec, pipes, self_);
  const ClonedChild child = CloneChild(plan);
  if (child.pid < 0) return Status::Unavailable("clone: " + ErrnoText(child.clone_errno));
  UniqueFd leader_fd(clone_pidfd_ ? child.pidfd : -1);
  pipes.in_child.reset();
  pipes.out_child.reset();
  pipes.ctl_child.reset();
  if (plan.fail_stage != kStageNone) return ReapFailedChild(child.pid, plan, spec, exe);
  ::setpgid(child.pid, child.pid);  // the child did it already; harmless (EACCES after exec)

  auto a =
      Adopt(spec, std::move(on_control), child.pid, std::move(leader_fd), std::move(mark_entry), serial, pipes, in_off);
  const ScopedLogFields log_fields(a->log_fields_.view());
  spdlog::debug("{}: started {} (pid {})", a->name_, exe, child.pid);
  return a;
}

}  // namespace jobwarden::subprocess_internal
