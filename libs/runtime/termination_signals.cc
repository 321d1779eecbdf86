#include "libs/runtime/termination_signals.h"

#include <pthread.h>

namespace hermes::runtime {

TerminationSignals::TerminationSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set_, &previous_);
}

TerminationSignals::~TerminationSignals() {
  // A second SIGTERM, SIGINT or SIGHUP during the drain (Ctrl-C, then a supervisor's TERM) is still
  // pending, blocked: unblocking it would kill the process by that signal at the very end of a
  // clean stop, instead of letting it exit 0. Ignoring them discards what is pending (POSIX)
  // and what comes while the process exits (static destructors, library teardown).
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

int TerminationSignals::Wait() const {
  int signal = 0;
  while (sigwait(&set_, &signal) != 0) {
  }
  return signal;
}

}  // namespace hermes::runtime
