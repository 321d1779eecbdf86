// FileSizeLimit: while it lives, no file of this process can grow past `bytes` (RLIMIT_FSIZE):
// a write past the limit fails with EFBIG instead of raising SIGXFSZ, which is ignored
// meanwhile. A real way to make a store's disk "full" for a test: SQLite's COMMIT, which
// appends to the WAL, then fails as it would on a full or failing disk, and rolls back.
//
//   testing::FileSizeLimit limit(std::filesystem::file_size(path + "-wal"));
//   ... the next write that must grow a file fails ...
//
// Process-wide: one at a time. Files already larger stay readable, and writes within them go on.
#pragma once

#include <sys/resource.h>

#include <cstdint>

namespace hermes::testing {

class FileSizeLimit {
 public:
  explicit FileSizeLimit(uintmax_t bytes);
  ~FileSizeLimit();  // puts the limit and SIGXFSZ's action back
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_limit_{};
  void (*saved_handler_)(int) = nullptr;
};

}  // namespace hermes::testing
