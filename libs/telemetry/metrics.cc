#include "libs/telemetry/metrics.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
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
  return std::unique_ptr<MetricsEndpoint>(
      new MetricsEndpoint(std::move(registry), std::move(process), std::move(exposer), port));
}

MetricsEndpoint::MetricsEndpoint(std::shared_ptr<prometheus::Registry> registry,
                                 std::shared_ptr<ProcessCollector> process,
                                 std::unique_ptr<prometheus::Exposer> exposer, int port)
    : registry_(std::move(registry)),
      process_(std::move(process)),
      exposer_(std::move(exposer)),
      port_(port) {}

MetricsEndpoint::~MetricsEndpoint() = default;

}  // namespace hermes::telemetry
