// TerminationSignals: the one place a Hermes process learns that it must stop.
//
// SIGTERM and SIGINT are blocked in the constructor, so construct it first thing in main(),
// before any thread exists: every thread started afterwards (gRPC's, spdlog's, ours) inherits
// the blocked mask, and the signal can only be taken synchronously by Wait(). This avoids
// async-signal-safety problems entirely: the shutdown sequence runs as ordinary code. A second
// signal during the shutdown changes nothing: the destructor (at the end of main) sets both
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

  // Blocks until SIGTERM or SIGINT arrives; returns the signal number.
  int Wait() const;

 private:
  sigset_t set_;
  sigset_t previous_;
};

}  // namespace hermes::runtime
