// Sampler: decides, when a span starts, whether it is recorded and exported.
//
// The OpenTelemetry built-in samplers, with the decisions of the Go SDK, so that a trace that
// crosses Go and C++ services is kept or dropped the same way in both:
//
//   always_on                  every span
//   always_off                 no span
//   traceidratio               a fraction of traces, decided by the trace id alone, so every
//                              service sampling at the same ratio keeps the same traces
//   parentbased_always_on      the parent's decision; roots always (the default)
//   parentbased_always_off     the parent's decision; roots never
//   parentbased_traceidratio   the parent's decision; roots by trace id ratio
//
// A Sampler is a small immutable value; ShouldSample is lock-free and allocation-free.
//
//   Sampler sampler = Sampler::ParentBased(Sampler::TraceIdRatio(0.25));
//   bool sampled = sampler.ShouldSample(parent_context, new_trace_id);
#pragma once

#include <cstdint>
#include <string>

#include "libs/tracing/span_context.h"

namespace hermes::tracing {

class Sampler {
 public:
  // The default, as OTEL_TRACES_SAMPLER's: parentbased_always_on.
  Sampler() : Sampler(ParentBased(AlwaysOn())) {}

  static Sampler AlwaysOn();
  static Sampler AlwaysOff();
  // `ratio` clamped to [0, 1]: 1 (or more) samples everything, 0 (or less) nothing.
  static Sampler TraceIdRatio(double ratio);
  // Follows a valid parent's sampled flag (remote or local); `root` decides for root spans.
  // `root` must not itself be parent-based (it would be the same as its own root).
  static Sampler ParentBased(const Sampler& root);

  // Whether a new span in trace `trace_id`, child of `parent` (invalid for a root span), is
  // sampled. A child keeps its parent's trace id, so `trace_id` is the parent's when it is valid.
  bool ShouldSample(const SpanContext& parent, const TraceId& trace_id) const;

  // As the Go SDK describes its samplers: "AlwaysOnSampler", "AlwaysOffSampler",
  // "TraceIDRatioBased{0.25}", "ParentBased{root:AlwaysOnSampler,...}" (shortened here to the
  // root). For start-up logs.
  std::string Description() const;

 private:
  enum class Kind { kAlwaysOn, kAlwaysOff, kTraceIdRatio };

  Sampler(bool parent_based, Kind root, double ratio, uint64_t upper_bound)
      : parent_based_(parent_based), root_(root), ratio_(ratio), upper_bound_(upper_bound) {}

  bool SampleRoot(const TraceId& trace_id) const;

  bool parent_based_;
  Kind root_;
  double ratio_;          // for Description()
  uint64_t upper_bound_;  // traceidratio: sample when (last 8 bytes of trace id) >> 1 < this
};

}  // namespace hermes::tracing
