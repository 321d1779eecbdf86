#include "libs/tracing/sampler.h"

#include "absl/strings/str_cat.h"

namespace hermes::tracing {

Sampler Sampler::AlwaysOn() { return Sampler(false, Kind::kAlwaysOn, 1.0, 0); }

Sampler Sampler::AlwaysOff() { return Sampler(false, Kind::kAlwaysOff, 0.0, 0); }

Sampler Sampler::TraceIdRatio(double ratio) {
  // Go's TraceIDRatioBased: a fraction of 1 or more is AlwaysSample; below 0 counts as 0.
  if (ratio >= 1.0) return AlwaysOn();
  if (!(ratio > 0.0)) ratio = 0.0;  // NaN too
  // uint64(fraction * (1 << 63)): exact for the fractions Go computes with the same doubles.
  const auto bound = static_cast<uint64_t>(ratio * 9223372036854775808.0);
  return Sampler(false, Kind::kTraceIdRatio, ratio, bound);
}

Sampler Sampler::ParentBased(const Sampler& root) {
  return Sampler(true, root.root_, root.ratio_, root.upper_bound_);
}

bool Sampler::SampleRoot(const TraceId& trace_id) const {
  switch (root_) {
    case Kind::kAlwaysOn:
      return true;
    case Kind::kAlwaysOff:
      return false;
    case Kind::kTraceIdRatio: {
      // binary.BigEndian.Uint64(traceID[8:16]) >> 1
      uint64_t x = 0;
      for (size_t i = 8; i < 16; ++i) x = x << 8 | trace_id.bytes()[i];
      return (x >> 1) < upper_bound_;
    }
  }
  return false;
}

bool Sampler::ShouldSample(const SpanContext& parent, const TraceId& trace_id) const {
  if (parent_based_ && parent.IsValid()) return parent.sampled();
  return SampleRoot(trace_id);
}

std::string Sampler::Description() const {
  std::string root;
  switch (root_) {
    case Kind::kAlwaysOn:
      root = "AlwaysOnSampler";
      break;
    case Kind::kAlwaysOff:
      root = "AlwaysOffSampler";
      break;
    case Kind::kTraceIdRatio:
      root = absl::StrCat("TraceIDRatioBased{", ratio_, "}");
      break;
  }
  return parent_based_ ? absl::StrCat("ParentBased{root:", root, "}") : root;
}

}  // namespace hermes::tracing
