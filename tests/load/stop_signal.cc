#include "tests/load/stop_signal.h"

#include <atomic>
#include <csignal>

namespace hermes::load {
namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

void OnSignal(int) { g_stop.store(true, std::memory_order_relaxed); }

}  // namespace

void StopOnSignals() {
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  // Also when the shell started us with SIGINT ignored (a background job of a script).
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool StopRequested() { return g_stop.load(std::memory_order_relaxed); }

}  // namespace hermes::load
