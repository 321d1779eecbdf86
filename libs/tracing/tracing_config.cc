#include "libs/tracing/tracing_config.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/types/optional.h"
#include "libs/telemetry/log.h"

namespace hermes::tracing {

const char kTracingEnvironmentHelp[] =
    "  OTEL_EXPORTER_OTLP_ENDPOINT       OTLP/gRPC collector for traces, e.g. http://jaeger:4317\n"
    "                                    (default http://localhost:4317; spans that cannot be\n"
    "                                    sent are dropped and counted, never block a call)\n"
    "  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT the same, for traces only (wins)\n"
    "  OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE, _HEADERS, _TIMEOUT  TLS roots, k=v headers, ms\n"
    "  OTEL_EXPORTER_OTLP_[TRACES_]INSECURE  true: plaintext to an endpoint given without a\n"
    "                                    scheme (host:port is TLS otherwise, as the spec says)\n"
    "  OTEL_SERVICE_NAME                 service.name of the spans (default: the service)\n"
    "  OTEL_RESOURCE_ATTRIBUTES          k=v,k2=v2 resource attributes\n"
    "  OTEL_TRACES_SAMPLER               parentbased_always_on (default), always_on, always_off,\n"
    "                                    traceidratio, parentbased_traceidratio,\n"
    "                                    parentbased_always_off\n"
    "  OTEL_TRACES_SAMPLER_ARG           the ratio for the ratio samplers, in [0, 1]\n"
    "  OTEL_SDK_DISABLED                 true turns tracing off\n"
    "  OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_EXPORT_TIMEOUT, OTEL_BSP_MAX_QUEUE_SIZE,\n"
    "  OTEL_BSP_MAX_EXPORT_BATCH_SIZE    the batch span processor (ms, ms, spans, spans)\n";
namespace {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

constexpr char kSdkVersion[] = "0.1.0";
constexpr int64_t kMaxQueueSize = 1 << 20;  // spans: 8 MiB of queue, far above any real need

// The variable's value; nullopt when unset or empty (the specification treats both alike).
absl::optional<std::string> Env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return absl::nullopt;
  return std::string(value);
}

// The signal-specific variable wins over the generic one: the name of the one in force (the
// generic one when neither is set).
const char* InForce(const char* traces_name, const char* generic_name) {
  return Env(traces_name) ? traces_name : generic_name;
}
absl::optional<std::string> EnvEither(const char* traces_name, const char* generic_name) {
  return Env(InForce(traces_name, generic_name));
}

void WarnInvalid(absl::string_view variable, absl::string_view value, absl::string_view reason,
                 absl::string_view using_instead) {
  HERMES_LOG(spdlog::level::warn, "invalid tracing configuration ignored")
      .Str("variable", variable)
      .Str("value", value)
      .Str("reason", reason)
      .Str("using", using_instead);
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::optional<std::string> PercentDecode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return absl::nullopt;
    const int hi = HexDigit(in[i + 1]);
    const int lo = HexDigit(in[i + 2]);
    if (hi < 0 || lo < 0) return absl::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
    i += 2;
  }
  return out;
}

// "k=v,k2=v2" (the W3C Baggage-like format of OTEL_RESOURCE_ATTRIBUTES and *_HEADERS): keys
// and values trimmed and percent-decoded (',' and '=' in either are written %2C and %3D).
// Malformed entries are skipped with a warning, and the others kept, as the Go SDK does (the
// specification would discard the whole variable).
// The warnings name an entry by its position and key, never its value: a header's value is
// often a credential.
KeyValues ParseKeyValueList(const char* variable, absl::string_view list) {
  KeyValues result;
  int position = 0;
  for (absl::string_view entry : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    ++position;
    const size_t eq = entry.find('=');
    absl::string_view raw_key =
        absl::StripAsciiWhitespace(entry.substr(0, std::min(eq, entry.size())));
    if (eq == absl::string_view::npos || raw_key.empty()) {
      WarnInvalid(variable, absl::StrCat("entry ", position), "entry is not key=value",
                  "entry skipped");
      continue;
    }
    absl::optional<std::string> key = PercentDecode(raw_key);
    if (!key || key->empty()) {
      WarnInvalid(variable, absl::StrCat("entry ", position), "bad percent-encoding in its key",
                  "entry skipped");
      continue;
    }
    absl::optional<std::string> value =
        PercentDecode(absl::StripAsciiWhitespace(entry.substr(eq + 1)));
    if (!value) {
      WarnInvalid(variable, absl::StrCat("entry ", position, " (", *key, ")"),
                  "bad percent-encoding in its value", "entry skipped");
      continue;
    }
    result.emplace_back(*std::move(key), *std::move(value));
  }
  return result;
}

// Adds or replaces (keeping the first position): a later duplicate wins, as in a merge.
void Put(KeyValues& attributes, std::string key, std::string value) {
  for (auto& [k, v] : attributes) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  attributes.emplace_back(std::move(key), std::move(value));
}

// A positive integer variable (counts, milliseconds); the default when unset or invalid, and
// `max` when above it.
int64_t PositiveInt(const char* variable, int64_t default_value,
                    int64_t max = std::numeric_limits<int64_t>::max()) {
  absl::optional<std::string> raw = Env(variable);
  if (!raw) return default_value;
  int64_t value = 0;
  if (!absl::SimpleAtoi(*raw, &value) || value <= 0) {
    WarnInvalid(variable, *raw, "not a positive integer", std::to_string(default_value));
    return default_value;
  }
  if (value > max) {
    WarnInvalid(variable, *raw, "too large", std::to_string(max));
    return max;
  }
  return value;
}

// A boolean variable: true or false, in any case; `default_value` when unset or neither.
bool Boolean(const char* variable, bool default_value) {
  absl::optional<std::string> raw = Env(variable);
  if (!raw) return default_value;
  const absl::string_view value = absl::StripAsciiWhitespace(*raw);
  if (absl::EqualsIgnoreCase(value, "true")) return true;
  if (absl::EqualsIgnoreCase(value, "false")) return false;
  WarnInvalid(variable, *raw, "not true or false", default_value ? "true" : "false");
  return default_value;
}

double SamplerRatio() {
  absl::optional<std::string> raw = Env("OTEL_TRACES_SAMPLER_ARG");
  if (!raw) return 1.0;
  double ratio = 0;
  if (!absl::SimpleAtod(*raw, &ratio) || !(ratio >= 0.0 && ratio <= 1.0)) {
    WarnInvalid("OTEL_TRACES_SAMPLER_ARG", *raw, "not a ratio in [0, 1]", "1");
    return 1.0;
  }
  return ratio;
}

Sampler SamplerFromEnvironment() {
  absl::optional<std::string> raw = Env("OTEL_TRACES_SAMPLER");
  if (!raw) return Sampler();
  const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*raw));
  if (name == "always_on") return Sampler::AlwaysOn();
  if (name == "always_off") return Sampler::AlwaysOff();
  if (name == "traceidratio") return Sampler::TraceIdRatio(SamplerRatio());
  if (name == "parentbased_always_on") return Sampler::ParentBased(Sampler::AlwaysOn());
  if (name == "parentbased_always_off") return Sampler::ParentBased(Sampler::AlwaysOff());
  if (name == "parentbased_traceidratio") {
    return Sampler::ParentBased(Sampler::TraceIdRatio(SamplerRatio()));
  }
  WarnInvalid("OTEL_TRACES_SAMPLER", *raw, "unknown sampler", "parentbased_always_on");
  return Sampler();
}

// gRPC metadata keys: lower-case letters, digits, '-', '_', '.'; not reserved (grpc-*).
bool IsValidHeaderKey(absl::string_view key) {
  if (key.empty() || absl::StartsWith(key, "grpc-")) return false;
  for (char c : key) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

bool IsPrintable(absl::string_view value) {
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

KeyValues HeadersFromEnvironment() {
  const char* variable = InForce("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS");
  absl::optional<std::string> raw = Env(variable);
  if (!raw) return {};
  KeyValues headers;
  for (auto& [key, value] : ParseKeyValueList(variable, *raw)) {
    std::string lower = absl::AsciiStrToLower(key);
    if (!IsValidHeaderKey(lower) || !IsPrintable(value)) {
      WarnInvalid(variable, key, "not a valid gRPC metadata entry", "entry skipped");
      continue;
    }
    headers.emplace_back(std::move(lower), std::move(value));
  }
  return headers;
}

}  // namespace

TracingConfig TracingConfig::FromEnvironment(absl::string_view default_service_name) {
  TracingConfig config;
  config.enabled = !Boolean("OTEL_SDK_DISABLED", false);

  // Resource: OTEL_SERVICE_NAME, else service.name from the attributes, else the default.
  KeyValues attributes;
  if (absl::optional<std::string> raw = Env("OTEL_RESOURCE_ATTRIBUTES")) {
    for (auto& [key, value] : ParseKeyValueList("OTEL_RESOURCE_ATTRIBUTES", *raw)) {
      Put(attributes, std::move(key), std::move(value));
    }
  }
  config.service_name = std::string(default_service_name);
  for (auto it = attributes.begin(); it != attributes.end(); ++it) {
    if (it->first == "service.name") {
      config.service_name = std::move(it->second);
      attributes.erase(it);
      break;
    }
  }
  if (absl::optional<std::string> name = Env("OTEL_SERVICE_NAME")) config.service_name = *name;
  KeyValues& resource = config.exporter.resource;
  resource.emplace_back("service.name", config.service_name);
  for (auto& [key, value] : attributes) resource.emplace_back(std::move(key), std::move(value));
  for (auto [key, value] :
       {std::pair{"telemetry.sdk.name", "hermes"}, std::pair{"telemetry.sdk.language", "cpp"},
        std::pair{"telemetry.sdk.version", kSdkVersion}}) {
    bool given = false;
    for (const auto& entry : resource) given = given || entry.first == key;
    if (!given) resource.emplace_back(key, value);
  }

  config.sampler = SamplerFromEnvironment();

  BatchSpanProcessorOptions& batch = config.batch;
  batch.schedule_delay = absl::Milliseconds(
      PositiveInt("OTEL_BSP_SCHEDULE_DELAY", absl::ToInt64Milliseconds(batch.schedule_delay)));
  batch.export_timeout = absl::Milliseconds(
      PositiveInt("OTEL_BSP_EXPORT_TIMEOUT", absl::ToInt64Milliseconds(batch.export_timeout)));
  // The queue is allocated whole at start-up (so that ending a span never allocates): a typo
  // of a few zeros must not take gigabytes, or stop the service.
  batch.max_queue_size = static_cast<size_t>(PositiveInt(
      "OTEL_BSP_MAX_QUEUE_SIZE", static_cast<int64_t>(batch.max_queue_size), kMaxQueueSize));
  batch.max_export_batch_size = static_cast<size_t>(PositiveInt(
      "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", static_cast<int64_t>(batch.max_export_batch_size)));
  if (batch.max_export_batch_size > batch.max_queue_size) {
    WarnInvalid("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", std::to_string(batch.max_export_batch_size),
                "larger than OTEL_BSP_MAX_QUEUE_SIZE", std::to_string(batch.max_queue_size));
    batch.max_export_batch_size = batch.max_queue_size;
  }

  OtlpExporterOptions& exporter = config.exporter;
  const char* endpoint_variable =
      InForce("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT");
  exporter.insecure =
      Boolean(InForce("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"), false);
  if (absl::optional<std::string> endpoint = Env(endpoint_variable)) {
    absl::StatusOr<OtlpEndpoint> parsed = ParseOtlpEndpoint(*endpoint, exporter.insecure);
    if (parsed.ok()) {
      exporter.endpoint = *endpoint;
    } else {
      // The message quotes the endpoint unless it held credentials, which it never repeats.
      WarnInvalid(endpoint_variable, "(see reason)", parsed.status().message(), exporter.endpoint);
    }
  }
  if (absl::optional<std::string> certificate =
          EnvEither("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE")) {
    exporter.certificate_file = *certificate;
  }
  exporter.headers = HeadersFromEnvironment();
  exporter.timeout = absl::Milliseconds(
      PositiveInt(InForce("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
                  absl::ToInt64Milliseconds(exporter.timeout)));
  if (absl::optional<std::string> protocol =
          EnvEither("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")) {
    if (*protocol != "grpc") {
      WarnInvalid("OTEL_EXPORTER_OTLP_PROTOCOL", *protocol, "only grpc is supported", "grpc");
    }
  }
  return config;
}

std::unique_ptr<TracerProvider> CreateTracerProvider(const TracingConfig& config,
                                                     prometheus::Registry& registry) {
  if (!config.enabled) {
    HERMES_LOG(spdlog::level::info, "tracing disabled").Str("reason", "OTEL_SDK_DISABLED");
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<OtlpExporter>> exporter = OtlpExporter::Create(config.exporter);
  if (!exporter.ok()) {
    HERMES_LOG(spdlog::level::err, "tracing disabled: cannot make the OTLP exporter")
        .Str("endpoint", config.exporter.endpoint)
        .Str("error", exporter.status().ToString());
    return nullptr;
  }
  auto processor =
      std::make_shared<BatchSpanProcessor>(*std::move(exporter), config.batch, registry);
  HERMES_LOG(spdlog::level::info, "tracing enabled")
      .Str("service_name", config.service_name)
      .Str("endpoint", config.exporter.endpoint)
      .Str("sampler", config.sampler.Description());
  return std::make_unique<TracerProvider>(config.sampler, std::move(processor));
}

}  // namespace hermes::tracing
