#include "tests/support/file_size_limit.h"

#include <signal.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace hermes::testing {
namespace {

[[noreturn]] void Fail(const char* what) {
  throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

}  // namespace

FileSizeLimit::FileSizeLimit(uintmax_t bytes) {
  saved_handler_ = ::signal(SIGXFSZ, SIG_IGN);
  if (saved_handler_ == SIG_ERR) Fail("signal(SIGXFSZ)");
  if (::getrlimit(RLIMIT_FSIZE, &saved_limit_) != 0) Fail("getrlimit(RLIMIT_FSIZE)");
  rlimit limit = saved_limit_;
  limit.rlim_cur = static_cast<rlim_t>(bytes);
  if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) Fail("setrlimit(RLIMIT_FSIZE)");
}

FileSizeLimit::~FileSizeLimit() {
  ::setrlimit(RLIMIT_FSIZE, &saved_limit_);
  ::signal(SIGXFSZ, saved_handler_);
}

}  // namespace hermes::testing
