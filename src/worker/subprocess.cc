// The supervisor's entry points: Create() (subreaper, epoll, wake-up eventfd),
// the caller's side of Start() (a request handed to the supervisor thread,
// which does all forking: see subprocess.h), shutdown, and SignalName.
// The rest of the supervisor is in the files subprocess_internal.h lists.
#include "worker/subprocess.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <system_error>

#include "worker/process_tree.h"
#include "worker/subprocess_internal.h"

namespace jobwarden {

namespace subprocess_internal {

std::string ErrnoText(int err) { return std::error_code(err, std::system_category()).message(); }

SupervisorImpl::SupervisorImpl(UniqueFd epoll, std::shared_ptr<Waker> waker, bool have_pidfd)
    : epoll_(std::move(epoll)), waker_(std::move(waker)), have_pidfd_(have_pidfd), self_(::getpid()) {
  std::random_device rd;
  mark_salt_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  thread_.Start([this](std::stop_token) { Loop(); });
}

SupervisorImpl::~SupervisorImpl() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  waker_->Wake();
  thread_.Stop();
}

Result<std::shared_ptr<Subprocess>> SupervisorImpl::Start(const CommandSpec& spec, ControlCallback on_control) {
  auto req = std::make_shared<StartRequest>();
  req->spec = &spec;
  req->on_control = std::move(on_control);
  {
    MutexLock lock(mu_);
    if (stopping_) return Status::Unavailable("the subprocess supervisor is shutting down");
    pending_.push_back(req);
  }
  waker_->Wake();
  MutexLock lock(req->mu);
  while (!req->result.has_value()) req->cv.Wait(req->mu);
  return std::move(*req->result);
}

void SupervisorImpl::Answer(StartRequest& req, Result<std::shared_ptr<Subprocess>> r) {
  {
    MutexLock lock(req.mu);
    req.result.emplace(std::move(r));
  }
  req.cv.NotifyAll();
}

}  // namespace subprocess_internal

std::string SignalName(int sig) {
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  return "signal " + std::to_string(sig);
}

Result<std::unique_ptr<SubprocessSupervisor>> SubprocessSupervisor::Create() {
  using subprocess_internal::ErrnoText;
  using subprocess_internal::SupervisorImpl;
  using subprocess_internal::UniqueFd;
  using subprocess_internal::Waker;
  // Orphaned grandchildren come to us, so an attempt's processes stay findable.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return Status::Internal("prctl(PR_SET_CHILD_SUBREAPER): " + ErrnoText(errno));
  }
  // An ignored SIGCHLD makes the kernel discard exit statuses: the handler's outcome would be lost.
  struct sigaction sa {};
  if (::sigaction(SIGCHLD, nullptr, &sa) == 0 && (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT) != 0)) {
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
