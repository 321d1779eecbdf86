// Metrics: the process-wide Prometheus registry and the HTTP endpoint that serves it.
//
// Every library registers its metric families on MetricsRegistry(), so one scrape of
// GET /metrics returns everything the process knows (one registry per process, per
// CONVENTIONS). main() starts the endpoint once and keeps it for the life of the process:
//
//   auto& requests = prometheus::BuildCounter().Name("x_total").Help("...")
//                        .Register(*hermes::telemetry::MetricsRegistry());
//   absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
//       MetricsEndpoint::Start(config.metrics_addr, MetricsRegistry());
//   if (!endpoint.ok()) ...;  // e.g. the port is taken
//
// The endpoint also serves the standard process_* metrics (process_collector.h).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "prometheus/registry.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace hermes::telemetry {

class ProcessCollector;

// The one process-wide registry. Never destroyed before the process ends.
std::shared_ptr<prometheus::Registry> MetricsRegistry();

// Whether `address` is one MetricsEndpoint::Start can bind: "<IPv4>:<port>" or
// "[<IPv6>]:<port>", the port 0-65535 in digits. InvalidArgument naming it otherwise: for a
// service's configuration check, before anything starts (civetweb itself would report a typo
// as an unhelpful "null context" exception).
absl::Status ValidateMetricsAddress(absl::string_view address);

// Serves GET /metrics for one registry over HTTP (prometheus-cpp's Exposer, on civetweb).
class MetricsEndpoint {
 public:
  // `address` is "<IPv4>:<port>" or "[<IPv6>]:<port>", e.g. "0.0.0.0:9091" or "127.0.0.1:0"
  // (port 0 picks a free port; see port()). Host names are not accepted: the HTTP server
  // binds numeric addresses only. A malformed address -> InvalidArgument; an address that
  // cannot be bound (taken, not on this host) -> Unavailable. Both messages name the address.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& address, std::shared_ptr<prometheus::Registry> registry);

  // Stops serving, in tens of milliseconds. civetweb's listener notices a stop only when its
  // poll of the listening socket returns, which without a connection takes 2 s
  // (SOCKET_TIMEOUT_QUANTUM); so while the stop runs, a helper thread connects to the
  // endpoint's own port every 20 ms to end that poll.
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // The port actually bound (useful with port 0).
  int port() const { return port_; }

 private:
  MetricsEndpoint(std::shared_ptr<prometheus::Registry> registry,
                  std::shared_ptr<ProcessCollector> process,
                  std::unique_ptr<prometheus::Exposer> exposer, std::string wake_host, int port);

  // The exposer holds only weak pointers to what it serves: these keep them alive. Declared
  // before exposer_ so that the HTTP server stops before they go.
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ProcessCollector> process_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  // Where the destructor connects to wake the listener: the bound host, or loopback for a
  // wildcard address ("127.0.0.1", "::1", or the numeric host itself).
  std::string wake_host_;
  int port_;
};

}  // namespace hermes::telemetry
