// SIGINT and SIGTERM end a hermes-load run early, as its duration would: the calls in flight
// are drained, and the report (text or JSON) covers what ran until then. A script that starts
// a run in the background and stops it once it has seen enough gets its figures.
#pragma once

namespace hermes::load {

// Installs the handlers (once per process; before the run starts).
void StopOnSignals();
// Whether SIGINT or SIGTERM arrived. Async-signal-safe to set; cheap to ask.
bool StopRequested();

}  // namespace hermes::load
