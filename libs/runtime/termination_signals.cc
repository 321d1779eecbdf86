#include "libs/runtime/termination_signals.h"

#include <pthread.h>

#include <cerrno>
#include <ctime>

namespace hermes::runtime {

TerminationSignals::TerminationSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, &previous_);
}

TerminationSignals::~TerminationSignals() {
  // A second SIGTERM or SIGINT during the drain (Ctrl-C, then a supervisor's TERM) is still
  // pending, blocked: taken here, or unblocking it would kill the process by that signal at
  // the very end of a clean stop, instead of letting it exit 0.
  const timespec now{};
  int taken = 0;
  do {
    taken = sigtimedwait(&set_, nullptr, &now);
  } while (taken > 0 || (taken < 0 && errno == EINTR));
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

int TerminationSignals::Wait() const {
  int signal = 0;
  while (sigwait(&set_, &signal) != 0) {
  }
  return signal;
}

}  // namespace hermes::runtime
