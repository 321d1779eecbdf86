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

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"

extern char** environ;

namespace hermes::testing {
namespace {

// Whether the child inherits the test's "NAME=value" `entry`. Not what configures a Hermes
// binary behind the test's back: HERMES_* and OTEL_* (a developer's shell may hold a database
// URL, a policy or a collector's address), nor what `extra_env` sets (getenv would find the
// inherited entry first).
bool Inherited(absl::string_view entry, const std::vector<std::string>& extra_env) {
  const absl::string_view name = entry.substr(0, entry.find('='));
  if (absl::StartsWith(name, "HERMES_") || absl::StartsWith(name, "OTEL_")) return false;
  for (const std::string& set : extra_env) {
    if (absl::string_view(set).substr(0, set.find('=')) == name) return false;
  }
  return true;
}

}  // namespace

Subprocess::Subprocess(std::vector<std::string> argv, std::vector<std::string> extra_env,
                       int death_signal) {
  char log_template[] = "/tmp/hermes-subprocess-XXXXXX";
  const int log_fd = mkstemp(log_template);
  if (log_fd < 0) std::abort();
  log_path_ = log_template;

  // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (Inherited(*e, extra_env)) env.push_back(*e);
  }
  for (std::string& e : extra_env) env.push_back(e.data());
  env.push_back(nullptr);
  const pid_t parent = getpid();

  pid_ = fork();
  if (pid_ < 0) std::abort();
  if (pid_ == 0) {
    // A test that crashes must not leave servers behind: the child dies with its parent.
    prctl(PR_SET_PDEATHSIG, death_signal);
    if (getppid() != parent) _exit(127);
    // The test process may block SIGTERM/SIGINT; the child starts with a clean mask. And with
    // the stop signals' default action: a test run under nohup, or as a background job of a
    // script (SIGINT ignored), would otherwise hand its servers signals they never see.
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    for (const int stop_signal : {SIGTERM, SIGINT, SIGHUP}) signal(stop_signal, SIG_DFL);
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

// A child's change of state is reported to its parent, not signalled to a thread: polled.
std::optional<int> Subprocess::PollWaitpid(int options, absl::Duration timeout,
                                           absl::Duration interval) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG | options) == pid_) return status;
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(interval);
  }
}

bool Subprocess::Pause(absl::Duration timeout) {
  if (exit_status_) return false;
  kill(pid_, SIGSTOP);
  const std::optional<int> status = PollWaitpid(WUNTRACED, timeout, absl::Milliseconds(1));
  if (!status) return false;
  if (WIFSTOPPED(*status)) return true;
  exit_status_ = status;  // exited or killed instead
  return false;
}

std::optional<int> Subprocess::WaitForExit(absl::Duration timeout) {
  if (!exit_status_) {
    exit_status_ = PollWaitpid(0, timeout, absl::Milliseconds(10));
    if (!exit_status_) return std::nullopt;
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
