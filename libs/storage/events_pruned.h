// What one prune of an event log did (a store's PruneEvents, storage::PruneEventLog).
#pragma once

#include <cstdint>

namespace hermes::storage {

struct EventsPruned {
  int64_t deleted = 0;
  // False when the run stopped at its time limit with events still due: the caller runs the
  // next one at once rather than after its usual interval (runtime::EventLogPruner).
  bool complete = true;
};

}  // namespace hermes::storage
