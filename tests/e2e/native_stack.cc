#include "tests/e2e/native_stack.h"

#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/network.h"

namespace hermes::testing {
namespace {

constexpr char kBanner[] = "Hermes is up";

// Five distinct ports, each held by a reservation added to `held`.
StackPorts ReservePorts(std::vector<std::unique_ptr<PortReservation>>& held) {
  auto pick = [&held] {
    held.push_back(std::make_unique<PortReservation>());  // a port no one else holds
    return held.back()->port();
  };
  StackPorts ports;
  ports.user_grpc = pick();
  ports.user_metrics = pick();
  ports.order_grpc = pick();
  ports.order_metrics = pick();
  ports.prometheus = pick();
  return ports;
}

std::string MakeStateDir() {
  char dir_template[] = "/tmp/hermes-e2e-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) std::abort();
  return dir_template;
}

std::string DescribeExit(const std::optional<int>& status) {
  if (!status) return "still running";
  if (WIFEXITED(*status)) return absl::StrCat("exit status ", WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return absl::StrCat("killed by signal ", WTERMSIG(*status));
  return absl::StrCat("wait status ", *status);
}

}  // namespace

NativeStack::NativeStack(Options options)
    : options_(std::move(options)),
      ports_(ReservePorts(reservations_)),
      state_dir_(MakeStateDir()) {
  std::vector<std::string> env = {
      absl::StrCat("BIN_DIR=", options_.bin_dir),
      absl::StrCat("PROBE=", options_.probe),
      absl::StrCat("CERTS=", options_.certs),
      absl::StrCat("STATE_DIR=", state_dir_),
      absl::StrCat("USER_GRPC_PORT=", ports_.user_grpc),
      absl::StrCat("USER_METRICS_PORT=", ports_.user_metrics),
      absl::StrCat("ORDER_GRPC_PORT=", ports_.order_grpc),
      absl::StrCat("ORDER_METRICS_PORT=", ports_.order_metrics),
      absl::StrCat("PROMETHEUS_PORT=", ports_.prometheus),
      "BIND_HOST=127.0.0.1",  // loopback only, as every test's traffic
      "SCRAPE_INTERVAL=1s",   // rate() over the dashboards' 1m windows gets data within seconds
      "READY_TIMEOUT_S=90",   // sanitizer builds on a busy machine start slowly
      "DETACH=0",
  };
  // Should the test die (a sanitizer's abort runs no destructor), up.sh gets SIGTERM and stops
  // the stack, as it does for an operator's Ctrl-C.
  up_ = std::make_unique<Subprocess>(
      std::vector<std::string>{"/bin/bash", absl::StrCat(options_.repo, "/deploy/up.sh")},
      std::move(env), SIGTERM);
}

NativeStack::~NativeStack() {
  if (!stopped_) {
    if (pids_.empty()) pids_ = ProcessPids();
    up_->Signal(SIGTERM);
    up_->WaitForExit(absl::Seconds(60));
    KillSurvivors(pids_);
  }
  up_.reset();  // kills up.sh if it is somehow still running
  std::error_code ignored;
  std::filesystem::remove_all(state_dir_, ignored);
}

::testing::AssertionResult NativeStack::WaitUntilUp(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!absl::StrContains(up_->Output(), kBanner)) {
    if (std::optional<int> status = up_->WaitForExit(absl::ZeroDuration())) {
      return ::testing::AssertionFailure() << "deploy/up.sh ended before the stack was up ("
                                           << DescribeExit(status) << "); its output:\n"
                                           << up_->Output();
    }
    if (absl::Now() >= deadline) {
      return ::testing::AssertionFailure()
             << "no \"" << kBanner << "\" from deploy/up.sh within " << timeout << "; its output:\n"
             << up_->Output();
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  pids_ = ProcessPids();
  if (pids_.size() != 3) {
    return ::testing::AssertionFailure()
           << "expected 3 pid files in " << state_dir_ << "/run (user, order, prometheus), found "
           << pids_.size();
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult NativeStack::Stop(absl::Duration timeout) {
  if (pids_.empty()) pids_ = ProcessPids();
  stopped_ = true;
  up_->Signal(SIGTERM);
  const std::optional<int> status = up_->WaitForExit(timeout);
  const std::vector<pid_t> survivors = KillSurvivors(pids_);
  if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return ::testing::AssertionFailure()
           << "deploy/up.sh after SIGTERM: " << DescribeExit(status) << " within " << timeout
           << " (expected exit status 0); its output:\n"
           << up_->Output();
  }
  if (!survivors.empty()) {
    return ::testing::AssertionFailure()
           << survivors.size() << " of the stack's processes outlived deploy/up.sh (killed now)";
  }
  return ::testing::AssertionSuccess();
}

std::vector<pid_t> NativeStack::ProcessPids() const {
  std::vector<pid_t> pids;
  for (const char* name : {"user", "order", "prometheus"}) {
    std::ifstream in(absl::StrCat(state_dir_, "/run/", name, ".pid"));
    std::string text;
    int pid = 0;
    if (std::getline(in, text) && absl::SimpleAtoi(text, &pid) && pid > 1) pids.push_back(pid);
  }
  return pids;
}

std::vector<pid_t> NativeStack::KillSurvivors(const std::vector<pid_t>& pids) const {
  // They were up.sh's children; once it has exited, one still alive was never stopped.
  std::vector<pid_t> survivors;
  for (pid_t pid : pids) {
    if (kill(pid, 0) == 0) {
      kill(pid, SIGKILL);
      survivors.push_back(pid);
    }
  }
  return survivors;
}

}  // namespace hermes::testing
