// W3C Trace Context (https://www.w3.org/TR/trace-context/): the ids that tie the spans of one
// request together across processes, and their `traceparent` / `tracestate` header forms.
//
// Reading what a caller sent (a malformed header is never an error: the call starts a new
// trace, as the specification demands):
//
//   SpanContext parent = ExtractSpanContext(traceparent_value, tracestate_value);
//   SpanContext parent = ExtractSpanContextFrom(context.client_metadata());  // or from metadata
//   if (!parent.IsValid()) ...;  // no usable parent: the span will be a root
//
// Writing our span for the next hop:
//
//   metadata.emplace(kTraceparentHeader, span.context().Traceparent());
//   if (!span.context().trace_state.empty())
//     metadata.emplace(kTracestateHeader, span.context().trace_state);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace hermes::tracing {

// gRPC metadata keys are lower case; these are the W3C header names as they travel.
inline constexpr char kTraceparentHeader[] = "traceparent";
inline constexpr char kTracestateHeader[] = "tracestate";

// The tracestate limits (W3C Trace Context): a list of more members is dropped as a whole; a
// longer one is cut to this length by dropping members, those over kTracestateLongMember
// characters first (see AcceptTracestate).
inline constexpr size_t kMaxTracestateLength = 512;
inline constexpr size_t kMaxTracestateMembers = 32;
inline constexpr size_t kTracestateLongMember = 128;

// A fixed-size binary id: TraceId (16 bytes) or SpanId (8 bytes). All zero means invalid.
template <size_t N>
class Id {
 public:
  static constexpr size_t kSize = N;

  constexpr Id() = default;
  constexpr explicit Id(const std::array<uint8_t, N>& bytes) : bytes_(bytes) {}

  // The id from N raw bytes (OTLP's bytes fields); nullopt if `binary` is not N bytes long.
  static absl::optional<Id> FromBinary(absl::string_view binary);
  // The id from 2N lower-case hex digits; nullopt otherwise (upper case included, per W3C).
  static absl::optional<Id> FromHex(absl::string_view hex);

  constexpr bool IsValid() const {
    for (uint8_t b : bytes_) {
      if (b != 0) return true;
    }
    return false;
  }
  const std::array<uint8_t, N>& bytes() const { return bytes_; }
  // The raw bytes, viewed (no copy): what OTLP sends.
  absl::string_view Binary() const {
    return absl::string_view(reinterpret_cast<const char*>(bytes_.data()), N);
  }
  // 2N lower-case hex digits, as in traceparent and log lines.
  std::string ToHex() const;
  // Writes the 2N hex digits to `out` (which must have room): no allocation.
  void WriteHex(char* out) const;

  friend bool operator==(const Id&, const Id&) = default;

 private:
  std::array<uint8_t, N> bytes_{};
};

using TraceId = Id<16>;
using SpanId = Id<8>;

extern template class Id<16>;
extern template class Id<8>;

inline constexpr uint8_t kSampledFlag = 0x01;

// What a span passes to its children, locally or over the wire.
struct SpanContext {
  TraceId trace_id;
  SpanId span_id;
  uint8_t trace_flags = 0;  // bit 0: sampled; other bits are not propagated
  bool is_remote = false;   // parsed from a caller's headers
  std::string trace_state;  // the caller's tracestate, as received ("" = none)

  bool IsValid() const { return trace_id.IsValid() && span_id.IsValid(); }
  bool sampled() const { return (trace_flags & kSampledFlag) != 0; }

  // "00-<trace id>-<span id>-<flags>": always version 00, the version we implement, whatever
  // version the parent arrived with (as W3C asks of a version-00 implementation).
  std::string Traceparent() const;
};

// Length of a version-00 traceparent value, and where its ids start: "00-", the trace id's 32
// hex digits, '-', the span id's 16, '-', the flags' 2.
inline constexpr size_t kTraceparentLength = 55;
inline constexpr size_t kTraceparentTraceIdOffset = 3;
inline constexpr size_t kTraceparentSpanIdOffset = 36;

// Parses a traceparent value. nullopt when it is malformed: not lower-case hex, version ff,
// an all-zero trace or span id, version 00 with anything after the flags. A future version
// (01..fe) is read with the 00 layout when its 55 characters are followed by '-' or the end.
// Surrounding spaces and tabs are ignored. The result has is_remote set and no trace_state.
absl::optional<SpanContext> ParseTraceparent(absl::string_view value);

// `value` if it is an acceptable tracestate, else "": at most kMaxTracestateMembers list
// members, each key=value by W3C's grammar (lower-case keys, printable ASCII values). Returned
// without the optional whitespace around members and without empty members, so that it is
// always a legal gRPC metadata value (W3C allows tabs there; gRPC refuses to send one, and a
// client call with one aborts the process). Its members are kept as they are and in order (we
// add none), but for W3C's truncation of a list longer than kMaxTracestateLength characters:
// members over kTracestateLongMember characters are dropped first, last first, then the others
// from the end, until the rest fits.
std::string AcceptTracestate(absl::string_view value);

// Both headers at once: the caller's span context, or an invalid one (a new trace starts) when
// traceparent is absent or malformed. tracestate is only read with a valid traceparent.
SpanContext ExtractSpanContext(absl::string_view traceparent, absl::string_view tracestate);

// The same from gRPC metadata (a multimap whose values have data() and size(), such as a
// ServerContext's client_metadata() or an interceptor's metadata map). Exactly one traceparent
// is required (several is malformed in W3C terms); several tracestate entries are one list.
template <typename Map>
SpanContext ExtractSpanContextFrom(const Map& metadata) {
  auto [first, last] = metadata.equal_range(kTraceparentHeader);
  if (first == last || std::next(first) != last) return SpanContext();
  const absl::string_view traceparent(first->second.data(), first->second.size());
  std::string joined;
  absl::string_view tracestate;
  auto [state_first, state_last] = metadata.equal_range(kTracestateHeader);
  for (auto it = state_first; it != state_last; ++it) {
    const absl::string_view part(it->second.data(), it->second.size());
    if (it == state_first && std::next(it) == state_last) {
      tracestate = part;  // the usual case: one entry, no copy
    } else {
      absl::StrAppend(&joined, joined.empty() ? "" : ",", part);
      tracestate = joined;
    }
  }
  return ExtractSpanContext(traceparent, tracestate);
}

}  // namespace hermes::tracing
