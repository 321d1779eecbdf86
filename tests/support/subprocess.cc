#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/time/clock.h"

extern char** environ;

namespace hermes::testing {

Subprocess::Subprocess(std::vector<std::string> argv, std::vector<std::string> extra_env) {
  char log_template[] = "/tmp/hermes-subprocess-XXXXXX";
  const int log_fd = mkstemp(log_template);
  if (log_fd < 0) std::abort();
  log_path_ = log_template;

  // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  for (std::string& e : extra_env) env.push_back(e.data());
  env.push_back(nullptr);
  const pid_t parent = getpid();

  pid_ = fork();
  if (pid_ < 0) std::abort();
  if (pid_ == 0) {
    // A test that crashes must not leave servers behind: the child dies with its parent.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    // The test process may block SIGTERM/SIGINT; the child starts with a clean mask.
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    const int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  close(log_fd);
}

Subprocess::~Subprocess() {
  if (!exit_status_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(log_path_.c_str());
}

void Subprocess::Signal(int signal) const {
  if (!exit_status_) kill(pid_, signal);
}

bool Subprocess::Pause(absl::Duration timeout) {
  if (exit_status_) return false;
  kill(pid_, SIGSTOP);
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG | WUNTRACED) == pid_) {
      if (WIFSTOPPED(status)) return true;
      exit_status_ = status;  // exited or killed instead
      return false;
    }
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));  // the stop is reported to the parent, not signalled
  }
}

std::optional<int> Subprocess::WaitForExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!exit_status_) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      break;
    }
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(10));  // polling a child's exit: no event to wait on
  }
  return exit_status_;
}

std::string Subprocess::Output() const {
  std::ifstream in(log_path_);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool CommandResult::Succeeded() const {
  return status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

CommandResult RunCommand(std::vector<std::string> argv, absl::Duration timeout) {
  Subprocess process(std::move(argv));
  CommandResult result;
  result.status = process.WaitForExit(timeout);
  result.output = process.Output();
  return result;
}

}  // namespace hermes::testing
