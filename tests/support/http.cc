#include "tests/support/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace hermes::testing {

absl::StatusOr<std::string> HttpGet(int port, const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to 127.0.0.1:", port));
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("short write");
  }
  std::string response;
  char buffer[16384];
  while (true) {
    const int remaining_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    pollfd poll_fd{fd, POLLIN, 0};
    if (remaining_ms <= 0 || poll(&poll_fd, 1, remaining_ms) <= 0) {
      close(fd);
      return absl::DeadlineExceededError("no complete HTTP response in time");
    }
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      close(fd);
      return absl::UnavailableError("read failed");
    }
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos || !absl::StrContains(response.substr(0, body), " 200 ")) {
    return absl::UnavailableError(absl::StrCat("bad HTTP response: ", response.substr(0, 200)));
  }
  return response.substr(body + 4);
}

std::optional<double> MetricValue(const std::string& body, const std::string& name,
                                  const std::vector<std::pair<std::string, std::string>>& labels) {
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t end_of_name = line.find_first_of("{ ");
    if (line.substr(0, end_of_name) != name) continue;
    bool all = true;
    for (const auto& [key, value] : labels) {
      if (!absl::StrContains(line, absl::StrCat(key, "=\"", value, "\""))) all = false;
    }
    if (!all) continue;
    double number = 0;
    const size_t space = line.rfind(' ');
    if (absl::SimpleAtod(line.substr(space + 1), &number)) return number;
  }
  return std::nullopt;
}

MetricLabels MethodLabels(const std::string& service, const std::string& method,
                          const std::string& type) {
  return {{"grpc_service", service}, {"grpc_method", method}, {"grpc_type", type}};
}

MetricLabels WithCode(MetricLabels labels, const std::string& code) {
  labels.emplace_back("grpc_code", code);
  return labels;
}

double CallsStarted(int metrics_port, const std::string& service, const std::string& method) {
  absl::StatusOr<std::string> body = HttpGet(metrics_port, "/metrics");
  if (!body.ok()) return -1;
  return MetricValue(*body, "grpc_server_started_total",
                     {{"grpc_service", service}, {"grpc_method", method}})
      .value_or(-1);
}

}  // namespace hermes::testing
