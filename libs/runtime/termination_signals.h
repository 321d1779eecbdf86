// TerminationSignals: the one place a Hermes process learns that it must stop.
//
// SIGTERM, SIGINT and SIGHUP are blocked in the constructor, so construct it first thing in
// main(), before any thread exists: every thread started afterwards (gRPC's, spdlog's, ours)
// inherits the blocked mask, and the signal can only be taken synchronously by Wait(). This avoids
// async-signal-safety problems entirely: the shutdown sequence runs as ordinary code. A second
// signal during the shutdown changes nothing: the destructor (at the end of main) sets the three
// signals to be ignored, which discards one still pending, so the process exits 0 once drained.
#pragma once

#include <csignal>

namespace hermes::runtime {

class TerminationSignals {
 public:
  TerminationSignals();
  ~TerminationSignals();
  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

  // Blocks until SIGTERM, SIGINT or SIGHUP arrives; returns the signal number. SIGHUP (the
  // terminal of a `make up` or a shell closed) stops the process like the other two: a drain,
  // not the default death that skips it. Certificates and the policy need no SIGHUP to be
  // reloaded: they are watched on disk. A signal ignored when the process started stays
  // ignored (sigwait never sees it): `nohup`, as `make up DETACH=1` starts the services, keeps
  // them running when the terminal closes.
  int Wait() const;

 private:
  sigset_t set_;
  sigset_t previous_;
};

}  // namespace hermes::runtime
