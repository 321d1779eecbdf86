#include "libs/interceptor/metrics.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"

namespace hermes::interceptor {
namespace {

const prometheus::Histogram::BucketBoundaries& HandlingBuckets() {
  // prometheus.DefBuckets, as go-grpc-prometheus uses them.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {.005, .01, .025, .05, .1, .25,
                                                                   .5,   1,   2.5,  5,   10};
  return kBuckets;
}

std::string Name(GrpcMetricFamilies::Side side, absl::string_view suffix) {
  return absl::StrCat("grpc_", side == GrpcMetricFamilies::Side::kServer ? "server" : "client", "_",
                      suffix);
}

absl::string_view Noun(GrpcMetricFamilies::Side side) {
  return side == GrpcMetricFamilies::Side::kServer ? "server" : "client";
}

}  // namespace

void MethodSeries::Finish(grpc::StatusCode code, double seconds) const {
  const auto index = static_cast<size_t>(code);
  handled[index < handled.size() ? index : static_cast<size_t>(grpc::StatusCode::UNKNOWN)]
      ->Increment();
  handling->Observe(seconds);
  in_flight->Decrement();
}

GrpcMetricFamilies::GrpcMetricFamilies(prometheus::Registry& registry, Side side)
    : started_(prometheus::BuildCounter()
                   .Name(Name(side, "started_total"))
                   .Help(absl::StrCat("Total number of RPCs started on the ", Noun(side), "."))
                   .Register(registry)),
      handled_(prometheus::BuildCounter()
                   .Name(Name(side, "handled_total"))
                   .Help(absl::StrCat("Total number of RPCs completed on the ", Noun(side),
                                      ", regardless of success or failure."))
                   .Register(registry)),
      received_(prometheus::BuildCounter()
                    .Name(Name(side, "msg_received_total"))
                    .Help(absl::StrCat("Total number of RPC stream messages received on the ",
                                       Noun(side), "."))
                    .Register(registry)),
      sent_(prometheus::BuildCounter()
                .Name(Name(side, "msg_sent_total"))
                .Help(absl::StrCat("Total number of gRPC stream messages sent by the ", Noun(side),
                                   "."))
                .Register(registry)),
      handling_(prometheus::BuildHistogram()
                    .Name(Name(side, "handling_seconds"))
                    .Help(absl::StrCat("Histogram of response latency (seconds) of gRPC that had "
                                       "been application-level handled by the ",
                                       Noun(side), "."))
                    .Register(registry)),
      in_flight_(
          prometheus::BuildGauge()
              .Name(Name(side, "in_flight"))
              .Help(absl::StrCat("RPCs started on the ", Noun(side), " and not yet finished."))
              .Register(registry)) {}

MethodSeries GrpcMetricFamilies::SeriesFor(const MethodInfo& method) {
  const prometheus::Labels labels = {{"grpc_type", std::string(RpcTypeLabel(method.type))},
                                     {"grpc_service", method.service},
                                     {"grpc_method", method.method}};
  MethodSeries series;
  series.started = &started_.Add(labels);
  series.received = &received_.Add(labels);
  series.sent = &sent_.Add(labels);
  series.handling = &handling_.Add(labels, HandlingBuckets());
  series.in_flight = &in_flight_.Add(labels);
  for (size_t code = 0; code < series.handled.size(); ++code) {
    prometheus::Labels with_code = labels;
    with_code.emplace("grpc_code",
                      std::string(errors::GoCodeName(static_cast<grpc::StatusCode>(code))));
    series.handled[code] = &handled_.Add(with_code);
  }
  return series;
}

MetricsStage::MetricsStage(const MetricsOptions& options, const MethodTable& methods)
    : families_(*options.registry, GrpcMetricFamilies::Side::kServer) {
  for (const MethodInfo* method : methods.All()) series_[method] = families_.SeriesFor(*method);
}

const MethodSeries* MetricsStage::Series(const ServerCall& call) const {
  auto it = series_.find(call.method);
  return it == series_.end() ? nullptr : &it->second;
}

void MetricsStage::OnStart(ServerCall& call) {
  if (const MethodSeries* series = Series(call)) {
    series->started->Increment();
    series->in_flight->Increment();
  }
}

void MetricsStage::OnMessageReceived(ServerCall& call) {
  if (const MethodSeries* series = Series(call)) series->received->Increment();
}

void MetricsStage::OnMessageSent(ServerCall& call) {
  if (const MethodSeries* series = Series(call)) series->sent->Increment();
}

void MetricsStage::OnFinish(ServerCall& call, grpc::Status& status) {
  if (const MethodSeries* series = Series(call)) {
    series->Finish(status.error_code(), call.ElapsedSeconds());
  }
}

ClientMetrics::ClientMetrics(prometheus::Registry& registry)
    : families_(registry, GrpcMetricFamilies::Side::kClient) {}

const MethodSeries& ClientMetrics::SeriesFor(absl::string_view path, RpcType type) {
  absl::MutexLock lock(&mutex_);
  auto it = series_.find(path);
  if (it != series_.end()) return it->second;
  MethodInfo info;
  info.path = std::string(path);
  const size_t slash = path.rfind('/');
  info.service = std::string(path.substr(1, slash == 0 ? 0 : slash - 1));
  info.method = std::string(path.substr(slash + 1));
  info.type = type;
  return series_.emplace(info.path, families_.SeriesFor(info)).first->second;
}

}  // namespace hermes::interceptor
