#include "tests/e2e/buf_curl.h"

#include <sys/wait.h>

#include <utility>

namespace hermes::testing {

BufCurl::BufCurl(std::string buf, std::string certs_dir, std::string identity)
    : buf_(std::move(buf)), certs_dir_(std::move(certs_dir)), identity_(std::move(identity)) {}

CommandResult BufCurl::Call(int port, const std::string& method, const std::string& json,
                            absl::Duration deadline) const {
  std::vector<std::string> argv = {
      buf_,         "curl",
      "--protocol", "grpc",
      "--cacert",   absl::StrCat(certs_dir_, "/ca.pem"),
      "--cert",     absl::StrCat(certs_dir_, "/", identity_, "/cert.pem"),
      "--key",      absl::StrCat(certs_dir_, "/", identity_, "/key.pem"),
      "-d",         json};
  if (deadline > absl::ZeroDuration()) {
    argv.insert(argv.end(), {"--timeout", absl::FormatDuration(deadline)});  // Go's syntax too
  }
  argv.push_back(absl::StrCat("https://127.0.0.1:", port, "/", method));
  return RunCommand(std::move(argv), absl::Seconds(60) + deadline);
}

std::optional<grpc::StatusCode> BufStatusCode(const CommandResult& result) {
  if (!result.status || !WIFEXITED(*result.status)) return std::nullopt;
  const int exit_code = WEXITSTATUS(*result.status);
  if (exit_code == 0) return grpc::StatusCode::OK;
  // buf curl: "the gRPC code, shifted three bits to the left"; lower values are its own errors.
  if (exit_code % 8 != 0 || exit_code / 8 > grpc::StatusCode::UNAUTHENTICATED) return std::nullopt;
  return static_cast<grpc::StatusCode>(exit_code / 8);
}

std::vector<std::string> SplitJsonDocuments(const std::string& output) {
  std::vector<std::string> documents;
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  size_t start = 0;
  for (size_t i = 0; i < output.size(); ++i) {
    const char c = output[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (depth++ == 0) start = i;
    } else if ((c == '}' || c == ']') && depth > 0 && --depth == 0) {
      documents.push_back(output.substr(start, i + 1 - start));
    }
  }
  return documents;
}

}  // namespace hermes::testing
