#include "libs/interceptor/tracing.h"

#include <grpcpp/server_context.h>

#include <iterator>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/errors/utf8.h"
#include "libs/tracing/span_context.h"

namespace hermes::interceptor {
namespace {

using tracing::kTraceparentHeader;
using tracing::kTracestateHeader;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// gRPC percent-encodes some peer strings ("ipv6:%5B::1%5D:1234"); a stray '%' stays as is.
std::string PercentDecode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && HexDigit(in[i + 1]) >= 0 && HexDigit(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigit(in[i + 1]) << 4 | HexDigit(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// "host", "host:port", "[v6]", "[v6]:port"; a bare IPv6 address (several ':') has no port.
absl::optional<HostPort> SplitHostPort(absl::string_view s) {
  HostPort result;
  absl::string_view host = s;
  absl::string_view port;
  if (absl::StartsWith(s, "[")) {
    const size_t close = s.find(']');
    if (close == absl::string_view::npos) return absl::nullopt;
    host = s.substr(1, close - 1);
    const absl::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return absl::nullopt;
      port = rest.substr(1);
    }
  } else if (const size_t colon = s.rfind(':');
             colon != absl::string_view::npos && s.find(':') == colon) {
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (host.empty()) return absl::nullopt;
  if (!port.empty() &&
      (!absl::SimpleAtoi(port, &result.port) || result.port <= 0 || result.port > 65535)) {
    return absl::nullopt;
  }
  result.host = std::string(host);
  return result;
}

// "package.Service" and "Method" of a :path, from the method table when the method is known;
// for an unknown one, split at the last '/' of what the caller sent.
std::pair<absl::string_view, absl::string_view> ServiceAndMethod(absl::string_view path) {
  if (absl::StartsWith(path, "/")) path.remove_prefix(1);
  const size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return {path, absl::string_view()};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// Replaces every `key` entry of a request's metadata with one pointing at `value` (or with
// none when `value` is empty). `value` must outlive the handler: it lives in the ServerCall.
void ReplaceEntry(std::multimap<grpc::string_ref, grpc::string_ref>& metadata, const char* key,
                  const std::string& value) {
  metadata.erase(grpc::string_ref(key));
  if (!value.empty()) metadata.emplace(grpc::string_ref(key), grpc::string_ref(value));
}

// A path no method of ours has is the caller's bytes: of any length (up to gRPC's 8 KiB of
// headers) and not necessarily UTF-8. Put whole into a span (its name, rpc.service, rpc.method),
// a few hundred such calls would make a batch too large for the collector, or not valid proto3,
// and every span of that batch would be lost with it. Cut, and made valid UTF-8.
constexpr size_t kMaxUnknownPathBytes = 128;

std::string Bounded(absl::string_view caller_bytes) {
  return errors::ToValidUtf8(caller_bytes.substr(0, kMaxUnknownPathBytes));
}

void SetRpcAttributes(tracing::Span& span, absl::string_view service, absl::string_view method) {
  span.SetAttribute("rpc.system", "grpc");
  span.SetAttribute("rpc.service", service);
  span.SetAttribute("rpc.method", method);
}

}  // namespace

bool IsServerSpanError(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

TracingStage::TracingStage(const TracingOptions& options)
    : options_(options), server_port_(options.server_port) {
  if (options_.provider != nullptr) tracer_ = &options_.provider->GetTracer(kRpcTracingScope);
}

void TracingStage::OnStart(ServerCall& call) {
  if (tracer_ == nullptr) return;
  if (call.method->is_health && !options_.trace_health_checks) return;
  const tracing::SpanContext parent =
      call.recv_metadata != nullptr ? tracing::ExtractSpanContextFrom(*call.recv_metadata)
      : call.context != nullptr ? tracing::ExtractSpanContextFrom(call.context->client_metadata())
                                : tracing::SpanContext();
  const bool known = call.IsKnownMethod();
  absl::string_view path = call.path;
  if (absl::StartsWith(path, "/")) path.remove_prefix(1);
  absl::string_view name = path.empty() ? "unknown" : path;
  std::string bounded_name;  // only for a path that is not a method of ours
  if (!known && !path.empty()) {
    bounded_name = Bounded(path);
    name = bounded_name;
  }
  tracing::Span span = tracer_->StartSpan(name, tracing::SpanKind::kServer, parent);
  if (span.IsRecording()) {  // attribute work only for spans that will be exported
    if (known) {
      SetRpcAttributes(span, call.method->service, call.method->method);
    } else {
      const auto [service, method] = ServiceAndMethod(call.path);
      SetRpcAttributes(span, Bounded(service), Bounded(method));
    }
    if (!options_.server_address.empty()) {
      span.SetAttribute("server.address", options_.server_address);
    }
    if (const int port = server_port_.load(std::memory_order_relaxed); port > 0) {
      span.SetAttribute("server.port", port);
    }
    if (call.context != nullptr) {
      if (absl::optional<HostPort> peer = ParseGrpcPeer(call.PeerAddress())) {
        span.SetAttribute("network.peer.address", peer->host);
        if (peer->port > 0) span.SetAttribute("network.peer.port", peer->port);
      }
    }
  }

  const tracing::SpanContext& context = span.context();
  call.traceparent = context.Traceparent();
  call.tracestate = context.trace_state;
  if (call.recv_metadata != nullptr) {
    ReplaceEntry(*call.recv_metadata, kTraceparentHeader, call.traceparent);
    ReplaceEntry(*call.recv_metadata, kTracestateHeader, call.tracestate);
  }
  call.span = std::move(span);
}

void TracingStage::OnFinish(ServerCall& call, grpc::Status& status) {
  if (!call.span.IsRecording()) return;
  call.span.SetAttribute("rpc.grpc.status_code", static_cast<int64_t>(status.error_code()));
  if (IsServerSpanError(status.error_code())) {
    // gRPC's own messages may quote the caller's path (an unknown method's UNIMPLEMENTED).
    call.span.SetStatus(tracing::SpanStatusCode::kError, call.IsKnownMethod()
                                                             ? status.error_message()
                                                             : Bounded(status.error_message()));
  }
  call.span.End();
}

tracing::Span StartClientSpan(tracing::TracerProvider* provider, absl::string_view method_path,
                              absl::string_view target,
                              std::multimap<std::string, std::string>* send_metadata) {
  if (provider == nullptr || send_metadata == nullptr) return tracing::Span();
  tracing::SpanContext parent = tracing::ExtractSpanContextFrom(*send_metadata);
  parent.is_remote = false;  // our own server span, handed over in the metadata
  absl::string_view name = method_path;
  if (absl::StartsWith(name, "/")) name.remove_prefix(1);
  tracing::Span span =
      provider->GetTracer(kRpcTracingScope)
          .StartSpan(name.empty() ? "unknown" : name, tracing::SpanKind::kClient, parent);
  if (span.IsRecording()) {
    const auto [service, method] = ServiceAndMethod(method_path);
    SetRpcAttributes(span, service, method);
    if (absl::optional<HostPort> server = ParseChannelTarget(target)) {
      span.SetAttribute("server.address", server->host);
      if (server->port > 0) span.SetAttribute("server.port", server->port);
    }
  }
  send_metadata->erase(kTraceparentHeader);
  send_metadata->erase(kTracestateHeader);
  send_metadata->emplace(kTraceparentHeader, span.context().Traceparent());
  if (!span.context().trace_state.empty()) {
    send_metadata->emplace(kTracestateHeader, span.context().trace_state);
  }
  return span;
}

void EndClientSpan(tracing::Span& span, const grpc::Status& status) {
  if (!span.IsRecording()) return;
  span.SetAttribute("rpc.grpc.status_code", static_cast<int64_t>(status.error_code()));
  if (!status.ok()) span.SetStatus(tracing::SpanStatusCode::kError, status.error_message());
  span.End();
}

absl::optional<HostPort> ParseGrpcPeer(absl::string_view peer) {
  if (absl::StartsWith(peer, "ipv4:") || absl::StartsWith(peer, "ipv6:")) {
    const absl::string_view address = peer.substr(5);
    if (!absl::StrContains(address, '%')) return SplitHostPort(address);  // nothing to decode
    return SplitHostPort(PercentDecode(address));
  }
  if (absl::StartsWith(peer, "unix:") && peer.size() > 5) {
    return HostPort{PercentDecode(peer.substr(5)), 0};
  }
  return absl::nullopt;
}

absl::optional<HostPort> ParseChannelTarget(absl::string_view target) {
  if (absl::StartsWith(target, "unix:") || absl::StartsWith(target, "unix-abstract:") ||
      absl::StartsWith(target, "vsock:")) {
    return absl::nullopt;
  }
  absl::string_view rest = target;
  if (const size_t scheme_end = rest.find("://"); scheme_end != absl::string_view::npos) {
    rest.remove_prefix(scheme_end + 3);   // "dns:///h:p" -> "/h:p"
    const size_t slash = rest.find('/');  // after the (often empty) authority
    if (slash != absl::string_view::npos) rest.remove_prefix(slash + 1);
  } else if (absl::StartsWith(rest, "dns:")) {
    rest.remove_prefix(4);
  } else if (absl::StartsWith(rest, "ipv4:") || absl::StartsWith(rest, "ipv6:")) {
    rest.remove_prefix(5);
    rest = rest.substr(0, rest.find(','));  // the first of a list of addresses
  }
  return SplitHostPort(rest);
}

}  // namespace hermes::interceptor
