#include "libs/tracing/otlp_exporter.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <type_traits>
#include <variant>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace hermes::tracing {
namespace {

namespace collector = ::opentelemetry::proto::collector::trace::v1;
namespace otlp = ::opentelemetry::proto::trace::v1;
namespace common = ::opentelemetry::proto::common::v1;

constexpr absl::Duration kMaxRetryBackoff = absl::Seconds(5);

// The codes the OTLP specification calls transient, worth sending the batch again for.
// RESOURCE_EXHAUSTED is one only with the collector's RetryInfo, which we do not read: not
// retried, so a collector shedding load is not asked again.
bool IsRetryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

// `backoff` ±20 %, so that exporters that failed together do not retry together.
absl::Duration Jittered(absl::Duration backoff) {
  thread_local absl::BitGen bitgen;
  return backoff * absl::Uniform(bitgen, 0.8, 1.2);
}

constexpr absl::string_view kDefaultPort = "4317";

void SetValue(const AttributeValue& value, common::AnyValue* out) {
  std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out->set_string_value(v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out->set_int_value(v);
        } else if constexpr (std::is_same_v<T, double>) {
          out->set_double_value(v);
        } else {
          out->set_bool_value(v);
        }
      },
      value);
}

void SetBytes(absl::string_view bytes, std::string* out) {
  out->assign(bytes.data(), bytes.size());
}

void Convert(const SpanData& span, otlp::Span* out) {
  SetBytes(span.context.trace_id.Binary(), out->mutable_trace_id());
  SetBytes(span.context.span_id.Binary(), out->mutable_span_id());
  out->set_trace_state(span.context.trace_state);
  if (span.parent_span_id.IsValid()) {
    SetBytes(span.parent_span_id.Binary(), out->mutable_parent_span_id());
  }
  out->set_name(span.name);
  out->set_kind(static_cast<otlp::Span::SpanKind>(span.kind));
  out->set_start_time_unix_nano(static_cast<uint64_t>(span.start_unix_nanos));
  out->set_end_time_unix_nano(static_cast<uint64_t>(span.end_unix_nanos));
  out->mutable_attributes()->Reserve(static_cast<int>(span.attributes.size()));
  for (const Attribute& attribute : span.attributes) {
    common::KeyValue* kv = out->add_attributes();
    kv->set_key(attribute.key);
    SetValue(attribute.value, kv->mutable_value());
  }
  out->set_dropped_attributes_count(span.dropped_attributes_count);
  if (span.status != SpanStatusCode::kUnset) {
    out->mutable_status()->set_code(static_cast<otlp::Status::StatusCode>(span.status));
    out->mutable_status()->set_message(span.status_description);
  }
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  return contents.str();
}

}  // namespace

absl::StatusOr<OtlpEndpoint> ParseOtlpEndpoint(absl::string_view endpoint, bool insecure) {
  OtlpEndpoint result;
  absl::string_view rest = absl::StripAsciiWhitespace(endpoint);
  // First, and without repeating the endpoint: it holds a secret (user:password@, whatever else
  // is wrong with it).
  if (absl::StrContains(rest, '@')) {
    return absl::InvalidArgumentError(
        "OTLP endpoint: credentials in the URL are not supported; send them as "
        "OTEL_EXPORTER_OTLP_HEADERS");
  }
  if (absl::StartsWithIgnoreCase(rest, "https://")) {
    result.use_tls = true;
    rest.remove_prefix(8);
  } else if (absl::StartsWithIgnoreCase(rest, "http://")) {
    rest.remove_prefix(7);
  } else if (absl::StrContains(rest, "://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("OTLP endpoint \"", endpoint, "\": the scheme must be http or https"));
  } else {
    result.use_tls = !insecure;
  }
  // gRPC has no path: anything after the authority (e.g. a trailing '/') is ignored.
  rest = rest.substr(0, rest.find_first_of("/?#"));
  absl::string_view host = rest;
  absl::string_view port;
  if (absl::StartsWith(rest, "[")) {
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("OTLP endpoint \"", endpoint, "\": no ']'"));
    }
    host = rest.substr(0, close + 1);
    absl::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("OTLP endpoint \"", endpoint, "\": junk after the address"));
      }
      port = after.substr(1);
    }
  } else if (const size_t colon = rest.rfind(':'); colon != absl::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  int port_number = 0;
  if (host.empty() || host == "[]") {
    return absl::InvalidArgumentError(absl::StrCat("OTLP endpoint \"", endpoint, "\": no host"));
  }
  if (!port.empty() &&
      (!absl::SimpleAtoi(port, &port_number) || port_number <= 0 || port_number > 65535)) {
    return absl::InvalidArgumentError(
        absl::StrCat("OTLP endpoint \"", endpoint, "\": bad port \"", port, "\""));
  }
  result.target = absl::StrCat(host, ":", port.empty() ? kDefaultPort : port);
  return result;
}

absl::StatusOr<std::unique_ptr<OtlpExporter>> OtlpExporter::Create(
    const OtlpExporterOptions& options) {
  absl::StatusOr<OtlpEndpoint> endpoint = ParseOtlpEndpoint(options.endpoint, options.insecure);
  if (!endpoint.ok()) return endpoint.status();
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (endpoint->use_tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.certificate_file.empty()) {
      absl::StatusOr<std::string> roots = ReadFile(options.certificate_file);
      if (!roots.ok()) return roots.status();
      ssl.pem_root_certs = *std::move(roots);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  // gRPC's reconnect backoff grows towards 120 s: after a long outage, a collector that came back
  // waited up to that long for the channel's next attempt, every batch meanwhile dropped (Export
  // sends nothing while the channel is in TRANSIENT_FAILURE). Capped at the probe interval (at
  // least gRPC's first backoff, 1 s), the channel tries at least as often as we would probe.
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                   static_cast<int>(absl::ToInt64Milliseconds(
                       std::clamp(options.probe_interval, absl::Seconds(1), absl::Minutes(2)))));
  return std::make_unique<OtlpExporter>(
      options, grpc::CreateCustomChannel(endpoint->target, std::move(credentials), arguments));
}

OtlpExporter::OtlpExporter(const OtlpExporterOptions& options,
                           const std::shared_ptr<grpc::ChannelInterface>& channel)
    : options_(options), channel_(channel), stub_(collector::TraceService::NewStub(channel)) {
  for (const auto& [key, value] : options_.resource) {
    common::KeyValue* kv = resource_.add_attributes();
    kv->set_key(key);
    kv->mutable_value()->set_string_value(value);
  }
}

collector::ExportTraceServiceRequest OtlpExporter::BuildRequest(
    const std::vector<std::unique_ptr<SpanData>>& batch) const {
  collector::ExportTraceServiceRequest request;
  otlp::ResourceSpans* resource_spans = request.add_resource_spans();
  *resource_spans->mutable_resource() = resource_;
  // Batches hold few scopes (usually one): a linear search beats a map.
  std::vector<std::pair<const InstrumentationScope*, otlp::ScopeSpans*>> scopes;
  for (const std::unique_ptr<SpanData>& span : batch) {
    if (span == nullptr) continue;
    const InstrumentationScope* scope = span->scope.get();
    otlp::ScopeSpans* scope_spans = nullptr;
    for (const auto& [known, spans] : scopes) {
      if (known == scope) scope_spans = spans;
    }
    if (scope_spans == nullptr) {
      scope_spans = resource_spans->add_scope_spans();
      if (scope != nullptr) {
        scope_spans->mutable_scope()->set_name(scope->name);
        scope_spans->mutable_scope()->set_version(scope->version);
      }
      scopes.emplace_back(scope, scope_spans);
    }
    Convert(*span, scope_spans->add_spans());
  }
  return request;
}

absl::Status OtlpExporter::Export(const std::vector<std::unique_ptr<SpanData>>& batch,
                                  absl::Time deadline) {
  if (batch.empty()) return absl::OkStatus();
  // A fail-fast call on a channel in TRANSIENT_FAILURE fails at once: say so without building
  // and serializing a request nobody receives (without a collector, that was most of the
  // exporter thread's CPU, taken from the core that serves calls). Between two failed
  // connection attempts the channel is CONNECTING or IDLE, not TRANSIENT_FAILURE, and a batch
  // sent then paid for the request and waited for the attempt to fail (~4,000 instructions
  // per span served, tests/bench/instructions.sh): after an export that found no collector,
  // only a READY channel gets a request, and one probe batch every probe_interval. gRPC's
  // reconnect backoff (and try_to_connect) keeps the channel trying, so a collector that comes
  // back gets the batches once it is connected, or at the latest with the next probe.
  const grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
  if (state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
      (state != GRPC_CHANNEL_READY &&
       absl::ToUnixNanos(absl::Now()) < next_probe_unix_nanos_.load(std::memory_order_relaxed))) {
    return absl::UnavailableError(
        absl::StrCat("OTLP export to ", options_.endpoint, ": the collector is unreachable"));
  }
  const collector::ExportTraceServiceRequest request = BuildRequest(batch);
  // A collector gone, rather than one that answered "try again", is the fail-fast path's case:
  // no waiting on the export thread for it.
  const auto collector_gone = [this] {
    return channel_->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_TRANSIENT_FAILURE;
  };
  absl::Duration backoff = options_.retry_backoff;
  for (int attempt = 1;; ++attempt) {
    const grpc::Status status = Send(request, deadline);
    next_probe_unix_nanos_.store(status.error_code() == grpc::StatusCode::UNAVAILABLE
                                     ? absl::ToUnixNanos(absl::Now() + options_.probe_interval)
                                     : 0,
                                 std::memory_order_relaxed);
    if (status.ok()) return absl::OkStatus();
    const absl::Status failed(
        static_cast<absl::StatusCode>(status.error_code()),
        absl::StrCat("OTLP export to ", options_.endpoint, ": ", status.error_message(),
                     attempt > 1 ? absl::StrCat(" (after ", attempt, " attempts)") : ""));
    if (!IsRetryable(status.error_code()) || attempt >= options_.max_attempts || collector_gone()) {
      return failed;
    }
    const absl::Time retry_at = absl::Now() + Jittered(backoff);
    if (retry_at >= deadline || !SleepUnlessAborted(retry_at) || collector_gone()) {
      return failed;
    }
    backoff = std::min(backoff * 2, kMaxRetryBackoff);
  }
}

grpc::Status OtlpExporter::Send(const collector::ExportTraceServiceRequest& request,
                                absl::Time deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + options_.timeout)));
  for (const auto& [key, value] : options_.headers) context.AddMetadata(key, value);
  collector::ExportTraceServiceResponse response;
  {
    absl::MutexLock lock(&abort_mutex_);
    if (aborted_) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the exporter is shutting down");
    }
    in_flight_ = &context;
  }
  const grpc::Status status = stub_->Export(&context, request, &response);
  absl::MutexLock lock(&abort_mutex_);
  in_flight_ = nullptr;
  // Cancelled by Abort: whatever gRPC said, it is not worth another attempt.
  if (aborted_ && !status.ok()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "the exporter is shutting down");
  }
  return status;
}

bool OtlpExporter::SleepUnlessAborted(absl::Time until) {
  absl::MutexLock lock(&abort_mutex_);
  abort_mutex_.AwaitWithDeadline(absl::Condition(&aborted_), until);
  return !aborted_;
}

void OtlpExporter::Abort() {
  absl::MutexLock lock(&abort_mutex_);
  aborted_ = true;
  if (in_flight_ != nullptr) in_flight_->TryCancel();
}

}  // namespace hermes::tracing
