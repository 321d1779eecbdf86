#include "libs/runtime/termination_signals.h"

#include <pthread.h>

namespace hermes::runtime {
namespace {

constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGHUP};

}  // namespace

TerminationSignals::TerminationSignals() {
  sigemptyset(&set_);
  for (const int stop_signal : kStopSignals) sigaddset(&set_, stop_signal);
  pthread_sigmask(SIG_BLOCK, &set_, &previous_);
}

TerminationSignals::~TerminationSignals() {
  // A second SIGTERM, SIGINT or SIGHUP during the drain (Ctrl-C, then a supervisor's TERM) is still
  // pending, blocked: unblocking it would kill the process by that signal at the very end of a
  // clean stop, instead of letting it exit 0. Ignoring them discards what is pending (POSIX)
  // and what comes while the process exits (static destructors, library teardown).
  for (const int stop_signal : kStopSignals) std::signal(stop_signal, SIG_IGN);
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

int TerminationSignals::Wait() const {
  int signal = 0;
  while (sigwait(&set_, &signal) != 0) {
  }
  return signal;
}

}  // namespace hermes::runtime
