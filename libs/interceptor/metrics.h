// Metrics: the go-grpc-prometheus series, so existing Grafana dashboards work unchanged.
//
//   grpc_{server,client}_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_{server,client}_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_{server,client}_msg_received_total{...}, grpc_{server,client}_msg_sent_total{...}
//   grpc_{server,client}_handling_seconds{...} histogram, buckets .005 … 10 s, no grpc_code
//   grpc_{server,client}_in_flight{...} gauge: calls started and not yet finished
//
// grpc_code is spelled as grpc-go spells it (OK, NotFound, InvalidArgument, …). Server label
// values come only from the MethodTable, and every series of every registered method is
// created at start-up (at 0), so dashboards and alerts see them before the first call and the
// hot path does no map insertions: one immutable-table lookup per call, then atomic updates.
// A call to a method the server does not have is not counted (it is logged): grpc-go answers
// such a call UNIMPLEMENTED before any interceptor runs, and a series for it would put an
// "unknown" service on every dashboard.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "libs/interceptor/server_call.h"

namespace hermes::interceptor {

// The series of one method on one side.
struct MethodSeries {
  prometheus::Counter* started = nullptr;
  prometheus::Counter* received = nullptr;
  prometheus::Counter* sent = nullptr;
  prometheus::Histogram* handling = nullptr;
  prometheus::Gauge* in_flight = nullptr;
  std::array<prometheus::Counter*, 17> handled{};  // by grpc::StatusCode value

  void Finish(grpc::StatusCode code, double seconds) const;
};

// The families of one side ("server" or "client") in a registry.
class GrpcMetricFamilies {
 public:
  enum class Side { kServer, kClient };
  GrpcMetricFamilies(prometheus::Registry& registry, Side side);
  // Creates (or finds) every series of a method. Takes the registry's locks: not per call.
  MethodSeries SeriesFor(const MethodInfo& method);

 private:
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Counter>& received_;
  prometheus::Family<prometheus::Counter>& sent_;
  prometheus::Family<prometheus::Histogram>& handling_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
};

struct MetricsOptions {
  prometheus::Registry* registry = nullptr;
};

class MetricsStage final : public ServerStage {
 public:
  MetricsStage(const MetricsOptions& options, const MethodTable& methods);
  void OnStart(ServerCall& call) override;
  void OnMessageReceived(ServerCall& call) override;
  void OnMessageSent(ServerCall& call) override;
  void OnFinish(ServerCall& call, grpc::Status& status) override;

 private:
  // nullptr for a method the server does not have.
  const MethodSeries* Series(const ServerCall& call) const;

  GrpcMetricFamilies families_;
  absl::flat_hash_map<const MethodInfo*, MethodSeries> series_;  // immutable after construction
};

// Client side: series are made on first use of a method (a client calls few, known methods).
class ClientMetrics {
 public:
  explicit ClientMetrics(prometheus::Registry& registry);
  const MethodSeries& SeriesFor(absl::string_view path, RpcType type);

 private:
  GrpcMetricFamilies families_;
  absl::Mutex mutex_;
  absl::node_hash_map<std::string, MethodSeries> series_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace hermes::interceptor
