#include "libs/tracing/span_context.h"

#include <cstddef>
#include <cstring>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"

namespace hermes::tracing {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// W3C accepts lower-case hex only: an upper-case id is malformed, not normalised.
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (HexValue(c) < 0) return false;
  }
  return true;
}

absl::string_view TrimOws(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

template <size_t N>
absl::optional<Id<N>> Id<N>::FromBinary(absl::string_view binary) {
  if (binary.size() != N) return absl::nullopt;
  std::array<uint8_t, N> bytes;
  std::memcpy(bytes.data(), binary.data(), N);
  return Id(bytes);
}

template <size_t N>
absl::optional<Id<N>> Id<N>::FromHex(absl::string_view hex) {
  if (hex.size() != 2 * N || !IsLowerHex(hex)) return absl::nullopt;
  std::array<uint8_t, N> bytes;
  for (size_t i = 0; i < N; ++i) {
    bytes[i] = static_cast<uint8_t>(HexValue(hex[2 * i]) << 4 | HexValue(hex[2 * i + 1]));
  }
  return Id(bytes);
}

template <size_t N>
void Id<N>::WriteHex(char* out) const {
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kHexDigits[bytes_[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes_[i] & 0x0f];
  }
}

template <size_t N>
std::string Id<N>::ToHex() const {
  std::string hex(2 * N, '0');
  WriteHex(hex.data());
  return hex;
}

template class Id<16>;
template class Id<8>;

std::string SpanContext::Traceparent() const {
  // 00-<32 hex>-<16 hex>-<2 hex>
  std::string out(kTraceparentLength, '-');
  out[0] = '0';
  out[1] = '0';
  trace_id.WriteHex(out.data() + kTraceparentTraceIdOffset);
  span_id.WriteHex(out.data() + kTraceparentSpanIdOffset);
  const uint8_t flags = trace_flags & kSampledFlag;
  out[53] = kHexDigits[flags >> 4];
  out[54] = kHexDigits[flags & 0x0f];
  return out;
}

absl::optional<SpanContext> ParseTraceparent(absl::string_view value) {
  value = TrimOws(value);
  if (value.size() < kTraceparentLength) return absl::nullopt;
  const absl::string_view version = value.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return absl::nullopt;
  if (version == "00") {
    if (value.size() != kTraceparentLength) return absl::nullopt;
  } else if (value.size() > kTraceparentLength && value[kTraceparentLength] != '-') {
    // A later version may append fields, each after a '-'; anything else is garbage.
    return absl::nullopt;
  }
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return absl::nullopt;
  absl::optional<TraceId> trace_id = TraceId::FromHex(value.substr(kTraceparentTraceIdOffset, 32));
  absl::optional<SpanId> span_id = SpanId::FromHex(value.substr(kTraceparentSpanIdOffset, 16));
  const absl::string_view flags = value.substr(53, 2);
  if (!trace_id || !span_id || !IsLowerHex(flags)) return absl::nullopt;
  if (!trace_id->IsValid() || !span_id->IsValid()) return absl::nullopt;

  SpanContext context;
  context.trace_id = *trace_id;
  context.span_id = *span_id;
  context.trace_flags = static_cast<uint8_t>(HexValue(flags[0]) << 4 | HexValue(flags[1]));
  context.is_remote = true;
  return context;
}

namespace {

bool IsLcAlpha(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsKeyChar(char c) {
  return IsLcAlpha(c) || IsDigit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

// W3C key: simple-key = lcalpha 0*255(keychar); multi-tenant-key = tenant-id "@" system-id,
// tenant-id = (lcalpha / DIGIT) 0*240(keychar), system-id = lcalpha 0*13(keychar).
bool IsTracestateKey(absl::string_view key) {
  const size_t at = key.find('@');
  const auto all_key_chars = [](absl::string_view part) {
    for (char c : part) {
      if (!IsKeyChar(c)) return false;
    }
    return true;
  };
  if (at == absl::string_view::npos) {
    return !key.empty() && key.size() <= 256 && IsLcAlpha(key[0]) && all_key_chars(key);
  }
  const absl::string_view tenant = key.substr(0, at);
  const absl::string_view system = key.substr(at + 1);
  return !tenant.empty() && tenant.size() <= 241 && (IsLcAlpha(tenant[0]) || IsDigit(tenant[0])) &&
         all_key_chars(tenant) && !system.empty() && system.size() <= 14 && IsLcAlpha(system[0]) &&
         all_key_chars(system);
}

// W3C value = 0*255(chr) nblk-chr: printable ASCII but ',' and '=', spaces only inside.
bool IsTracestateValue(absl::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  for (char c : value) {
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  }
  return true;
}

}  // namespace

std::string AcceptTracestate(absl::string_view value) {
  absl::InlinedVector<absl::string_view, kMaxTracestateMembers> members;
  size_t length = 0;  // of the members joined by commas
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == absl::string_view::npos) comma = value.size();
    // Empty list members (",,", only OWS) are allowed, and dropped with the OWS around members.
    const absl::string_view member = TrimOws(value.substr(start, comma - start));
    start = comma + 1;
    if (member.empty()) continue;
    const size_t equals = member.find('=');
    if (equals == absl::string_view::npos || !IsTracestateKey(member.substr(0, equals)) ||
        !IsTracestateValue(member.substr(equals + 1)) || members.size() == kMaxTracestateMembers) {
      return std::string();
    }
    // A key may appear once (W3C 3.3.1.3): a list that repeats one is invalid as a whole.
    const absl::string_view key = member.substr(0, equals + 1);  // with its '='
    for (absl::string_view earlier : members) {
      if (absl::StartsWith(earlier, key)) return std::string();
    }
    length += (members.empty() ? 0 : 1) + member.size();
    members.push_back(member);
  }
  // Too long: W3C's truncation (Trace Context, 3.3.1.5). Members over 128 characters go first,
  // from the end, then the others from the end, until the rest fits.
  const auto drop = [&members, &length](size_t index) {
    length -= members[index].size() + (members.size() > 1 ? 1 : 0);
    members.erase(members.begin() + static_cast<ptrdiff_t>(index));
  };
  for (size_t i = members.size(); i > 0 && length > kMaxTracestateLength; --i) {
    if (members[i - 1].size() > kTracestateLongMember) drop(i - 1);
  }
  while (length > kMaxTracestateLength) drop(members.size() - 1);
  return absl::StrJoin(members, ",");
}

SpanContext ExtractSpanContext(absl::string_view traceparent, absl::string_view tracestate) {
  absl::optional<SpanContext> context = ParseTraceparent(traceparent);
  if (!context) return SpanContext();
  if (!tracestate.empty()) context->trace_state = AcceptTracestate(tracestate);
  return *std::move(context);
}

}  // namespace hermes::tracing
