// Real child processes for integration tests: run a command and capture its
// output, or start one in the background and kill it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace jobwarden::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

// Runs argv to completion (stdin from /dev/null unless `input` is given) with
// `env` added to this process's environment.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                         const std::string& input = "");

// The jobwarden binary under test, with `args` appended.
CommandResult RunCli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {});

// A background process with stdout/stderr sent to files in `log_dir`.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_prefix,
               const std::map<std::string, std::string>& env = {});
  ~ChildProcess();  // SIGKILL and reap if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig) const;
  // Waits up to `timeout` for the process to exit; returns its wait status, or -1 on timeout.
  int WaitFor(std::chrono::milliseconds timeout);
  bool running() const { return !reaped_; }
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string out_path_;
  std::string err_path_;
};

// Polls `pred` every 20 ms until it is true or `timeout` passes; returns its last value.
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// True when a process with this pid exists (and is not a zombie).
bool ProcessAlive(pid_t pid);

}  // namespace jobwarden::testing
