#include "libs/telemetry/metrics.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/telemetry/process_collector.h"
#include "prometheus/exposer.h"

namespace hermes::telemetry {

absl::Status ValidateMetricsAddress(absl::string_view address) {
  auto invalid = [address](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", address, "\" is invalid: ", why,
                     " (expected <IPv4>:<port> or [<IPv6>]:<port>, e.g. 0.0.0.0:9091)"));
  };
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return invalid("no port");
  absl::string_view host = address.substr(0, colon);
  const absl::string_view port_text = address.substr(colon + 1);
  uint32_t port = 0;
  // Digits only: SimpleAtoi would also take "+80" and " 80".
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return invalid("the port must be a number from 0 to 65535");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    in6_addr ipv6{};
    const std::string literal(host.substr(1, host.size() - 2));
    if (inet_pton(AF_INET6, literal.c_str(), &ipv6) != 1) return invalid("bad IPv6 address");
    return absl::OkStatus();
  }
  in_addr ipv4{};
  if (inet_pton(AF_INET, std::string(host).c_str(), &ipv4) != 1) {
    return invalid("the host must be a numeric IPv4 address or a bracketed IPv6 address");
  }
  return absl::OkStatus();
}

namespace {

// The host MetricsEndpoint's destructor connects to: loopback for a wildcard address. `address`
// has passed ValidateMetricsAddress.
std::string WakeHost(absl::string_view address) {
  absl::string_view host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "0.0.0.0") return "127.0.0.1";
  in6_addr ipv6{};
  const std::string literal(host);
  if (inet_pton(AF_INET6, literal.c_str(), &ipv6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&ipv6)) {
    return "::1";
  }
  return literal;
}

// Opens a TCP connection to host:port and closes it, waiting at most 50 ms for it to be
// established: enough for civetweb's listener poll to return. Errors are ignored (the listener
// may be gone already).
void ConnectAndClose(const std::string& host, int port) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
      inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    length = sizeof(sockaddr_in);
  } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
             inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    length = sizeof(sockaddr_in6);
  } else {
    return;
  }
  const int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&storage), length) != 0 &&
      errno == EINPROGRESS) {
    pollfd connecting{fd, POLLOUT, 0};
    poll(&connecting, 1, /*timeout_ms=*/50);
  }
  close(fd);
}

absl::Status BindFailure(const std::string& address, absl::string_view detail) {
  return absl::UnavailableError(absl::StrCat("cannot serve /metrics on ", address,
                                             ": the port is taken or the address is not of this "
                                             "host (",
                                             detail, ")"));
}

}  // namespace

std::shared_ptr<prometheus::Registry> MetricsRegistry() {
  static const std::shared_ptr<prometheus::Registry> registry =
      std::make_shared<prometheus::Registry>();
  return registry;
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& address, std::shared_ptr<prometheus::Registry> registry) {
  if (registry == nullptr) return absl::InvalidArgumentError("MetricsEndpoint needs a registry");
  if (absl::Status valid = ValidateMetricsAddress(address); !valid.ok()) return valid;

  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const CivetException& e) {
    return BindFailure(address, e.what());
  } catch (const std::exception& e) {
    return BindFailure(address, e.what());
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) return BindFailure(address, "no listening port");

  auto process = std::make_shared<ProcessCollector>();
  exposer->RegisterCollectable(registry);
  exposer->RegisterCollectable(process);
  const int port = ports.front();
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(
      std::move(registry), std::move(process), std::move(exposer), WakeHost(address), port));
}

MetricsEndpoint::MetricsEndpoint(std::shared_ptr<prometheus::Registry> registry,
                                 std::shared_ptr<ProcessCollector> process,
                                 std::unique_ptr<prometheus::Exposer> exposer,
                                 std::string wake_host, int port)
    : registry_(std::move(registry)),
      process_(std::move(process)),
      exposer_(std::move(exposer)),
      wake_host_(std::move(wake_host)),
      port_(port) {}

MetricsEndpoint::~MetricsEndpoint() {
  absl::Notification stopped;
  std::thread waker;
  try {
    waker = std::thread([this, &stopped] {
      // At most 150 tries, each 20 ms after the last: well past the 2 s the stop would take
      // without them.
      for (int i = 0; i < 150 && !stopped.WaitForNotificationWithTimeout(absl::Milliseconds(20));
           ++i) {
        ConnectAndClose(wake_host_, port_);
      }
    });
  } catch (const std::system_error&) {
    // No thread to spare: the stop takes its 2 s.
  }
  exposer_.reset();
  stopped.Notify();
  if (waker.joinable()) waker.join();
}

}  // namespace hermes::telemetry
