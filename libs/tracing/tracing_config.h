// TracingConfig: how a service traces, from the standard OpenTelemetry environment variables,
// and the TracerProvider made from it.
//
//   OTEL_SDK_DISABLED                      "true" turns tracing off
//   OTEL_SERVICE_NAME                      resource service.name (wins over the attributes)
//   OTEL_RESOURCE_ATTRIBUTES               k=v,k2=v2 (percent-encoded values)
//   OTEL_TRACES_SAMPLER                    parentbased_always_on (default), always_on,
//                                          always_off, traceidratio, parentbased_traceidratio,
//                                          parentbased_always_off
//   OTEL_TRACES_SAMPLER_ARG                the ratio, in [0, 1] (default 1)
//   OTEL_BSP_SCHEDULE_DELAY                ms, default 5000
//   OTEL_BSP_EXPORT_TIMEOUT                ms, default 30000
//   OTEL_BSP_MAX_QUEUE_SIZE                default 2048
//   OTEL_BSP_MAX_EXPORT_BATCH_SIZE         default 512 (at most the queue size)
//   OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT    default http://localhost:4317 (TRACES_ wins)
//   OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE PEM roots for an https endpoint
//   OTEL_EXPORTER_OTLP_[TRACES_]HEADERS     k=v,... sent with every export
//   OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT     ms per export, default 10000
//
// An empty variable counts as unset. Tracing never stops a service from starting: a value
// that cannot be used is logged as a warning and its default used instead, and a malformed
// OTEL_RESOURCE_ATTRIBUTES or headers entry is skipped with a warning.
//
// In the service's start-up path:
//
//   TracingConfig tracing = TracingConfig::FromEnvironment("order");
//   std::unique_ptr<TracerProvider> provider = CreateTracerProvider(tracing, *registry);
//   SetDefaultTracerProvider(provider.get());  // null when tracing is off
#pragma once

#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "libs/tracing/batch_span_processor.h"
#include "libs/tracing/otlp_exporter.h"
#include "libs/tracing/sampler.h"
#include "libs/tracing/tracer.h"

namespace hermes::tracing {

// The variables above, one per line, for a service's --help.
extern const char kTracingEnvironmentHelp[];

struct TracingConfig {
  bool enabled = true;
  std::string service_name;
  Sampler sampler;
  BatchSpanProcessorOptions batch;
  // endpoint, certificate, headers, timeout, and the resource (service.name first, then
  // OTEL_RESOURCE_ATTRIBUTES in order, then telemetry.sdk.* unless given).
  OtlpExporterOptions exporter;

  // Reads the variables above. `default_service_name` is service.name when neither
  // OTEL_SERVICE_NAME nor a service.name attribute is set.
  static TracingConfig FromEnvironment(absl::string_view default_service_name);
};

// The provider `config` describes: OTLP exporter behind a batch processor whose drop counters
// go to `registry` (which must outlive the provider). null when tracing is disabled, or when
// the exporter cannot be made (an unreadable certificate): logged, and the service runs
// untraced rather than not at all.
std::unique_ptr<TracerProvider> CreateTracerProvider(const TracingConfig& config,
                                                     prometheus::Registry& registry);

}  // namespace hermes::tracing
