// Subprocess: a real child process for integration tests (the service binaries, buf curl).
//
// Its stdout and stderr go to a log file that tests can read (and that a failing test prints).
// The destructor kills a child that is still running, so a failed assertion never leaks one.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace hermes::testing {

class Subprocess {
 public:
  // Starts argv[0] (a path) with argv and the current environment, less its HERMES_* and OTEL_*
  // variables, plus `extra_env` ("NAME=value" entries, which win over inherited ones). Aborts
  // the test binary if the process cannot be spawned. The child gets `death_signal` when the
  // test process dies: SIGKILL, or SIGTERM for a child that must stop children of its own
  // (deploy/up.sh stops its stack on SIGTERM; killed, it would leave the stack running).
  Subprocess(std::vector<std::string> argv, std::vector<std::string> extra_env = {},
             int death_signal = SIGKILL);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal) const;

  // SIGSTOP, then waits up to `timeout` until the kernel reports the whole process stopped:
  // kill() returns before every thread has stopped, and a busy one may still answer a request
  // meanwhile. False on timeout or if the process is gone.
  bool Pause(absl::Duration timeout);

  // Waits up to `timeout` for the process to exit; returns its exit status as waitpid reports
  // it (use WIFEXITED/WEXITSTATUS), or nullopt on timeout.
  std::optional<int> WaitForExit(absl::Duration timeout);

  // Everything the process wrote so far (stdout and stderr interleaved).
  std::string Output() const;

 private:
  // waitpid(WNOHANG | options) every `interval` until it reports a change of state (returned as
  // waitpid's status) or `timeout` passes (nullopt).
  std::optional<int> PollWaitpid(int options, absl::Duration timeout,
                                 absl::Duration interval) const;

  pid_t pid_ = -1;
  std::optional<int> exit_status_;  // set once reaped
  std::string log_path_;
};

// Runs a command to completion (bounded by `timeout`, killed after it) and returns its exit
// status and output. For short-lived tools such as `buf curl`.
struct CommandResult {
  std::optional<int> status;  // nullopt: timed out
  std::string output;
  bool Succeeded() const;
};
CommandResult RunCommand(std::vector<std::string> argv, absl::Duration timeout);

}  // namespace hermes::testing
