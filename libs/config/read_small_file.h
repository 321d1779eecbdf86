// ReadSmallFile: the whole of a configuration file (a policy, a PEM file), with errors a
// WatchedFiles reload can return as they are.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hermes::config {

// NotFound when the file (or a directory on its path) does not exist, FailedPrecondition when it
// cannot be opened or read otherwise: both are "not read", tried again at every poll. A file of
// more than `max_bytes` is InvalidArgument, "larger than N bytes; not <what>": a content problem,
// so a watcher waits for the file to change rather than reading it again at every poll. So is
// a FIFO, socket or device (symbolic links followed), refused without waiting for a writer; a
// directory is FailedPrecondition.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes,
                                          absl::string_view what);

}  // namespace hermes::config
