// TracingConfig::FromEnvironment: defaults, every variable, precedence, and invalid values
// falling back to defaults (tracing never stops a service from starting).
#include "libs/tracing/tracing_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>

#include "tests/support/captured_log.h"
#include "tests/unit/libs/tracing/otlp_collector.h"

namespace hermes::tracing {
namespace {

constexpr const char* kVariables[] = {
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
};

// Every test starts from a clean OTEL_* environment and leaves one behind, and captures the
// warnings.
class TracingConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kVariables) unsetenv(name);
    log_.emplace(spdlog::level::debug);
  }
  void TearDown() override {
    for (const char* name : kVariables) unsetenv(name);
    log_.reset();
  }
  static void Set(const char* name, const char* value) { setenv(name, value, 1); }
  std::string Log() const { return log_->Text(); }

  std::optional<testing::CapturedLog> log_;
};

using KeyValues = std::vector<std::pair<std::string, std::string>>;

TEST_F(TracingConfigTest, Unset_GivesTheOpenTelemetryDefaults) {
  const TracingConfig config = TracingConfig::FromEnvironment("order");
  EXPECT_TRUE(config.enabled);
  EXPECT_EQ(config.service_name, "order");
  EXPECT_EQ(config.sampler.Description(), "ParentBased{root:AlwaysOnSampler}");
  EXPECT_EQ(config.batch.schedule_delay, absl::Milliseconds(5000));
  EXPECT_EQ(config.batch.export_timeout, absl::Milliseconds(30000));
  EXPECT_EQ(config.batch.max_queue_size, 2048u);
  EXPECT_EQ(config.batch.max_export_batch_size, 512u);
  EXPECT_EQ(config.exporter.endpoint, "http://localhost:4317");
  EXPECT_EQ(config.exporter.certificate_file, "");
  EXPECT_TRUE(config.exporter.headers.empty());
  EXPECT_EQ(config.exporter.timeout, absl::Seconds(10));
  EXPECT_EQ(config.exporter.resource, (KeyValues{{"service.name", "order"},
                                                 {"telemetry.sdk.name", "hermes"},
                                                 {"telemetry.sdk.language", "cpp"},
                                                 {"telemetry.sdk.version", "0.1.0"}}));
  EXPECT_EQ(Log(), "");  // nothing to warn about
}

TEST_F(TracingConfigTest, SdkDisabled_TrueInAnyCase_DisablesTracing) {
  Set("OTEL_SDK_DISABLED", "TRUE");
  EXPECT_FALSE(TracingConfig::FromEnvironment("order").enabled);
  Set("OTEL_SDK_DISABLED", "false");
  EXPECT_TRUE(TracingConfig::FromEnvironment("order").enabled);
  EXPECT_EQ(Log(), "");
}

// Only "true" disables (the specification), and anything else but "false" is worth a word: an
// operator who wrote 1 or yes meant to turn tracing off, and it stays on.
TEST_F(TracingConfigTest, SdkDisabled_NeitherTrueNorFalse_TracingStaysOnWithAWarning) {
  Set("OTEL_SDK_DISABLED", "1");
  EXPECT_TRUE(TracingConfig::FromEnvironment("order").enabled);
  EXPECT_NE(Log().find(R"("variable":"OTEL_SDK_DISABLED")"), std::string::npos) << Log();
  EXPECT_NE(Log().find("not true or false"), std::string::npos) << Log();
}

TEST_F(TracingConfigTest, ResourceAttributes_PercentDecoded_ServiceNameFromThem) {
  Set("OTEL_RESOURCE_ATTRIBUTES",
      "deployment.environment=prod, service.name=billing ,team=a%2Cb%3Dc,note=caf%C3%A9");
  const TracingConfig config = TracingConfig::FromEnvironment("order");
  EXPECT_EQ(config.service_name, "billing");
  EXPECT_EQ(config.exporter.resource, (KeyValues{{"service.name", "billing"},
                                                 {"deployment.environment", "prod"},
                                                 {"team", "a,b=c"},
                                                 {"note", "caf\xc3\xa9"},
                                                 {"telemetry.sdk.name", "hermes"},
                                                 {"telemetry.sdk.language", "cpp"},
                                                 {"telemetry.sdk.version", "0.1.0"}}));
}

TEST_F(TracingConfigTest, ServiceNameVariable_WinsOverTheAttribute) {
  Set("OTEL_RESOURCE_ATTRIBUTES", "service.name=billing");
  Set("OTEL_SERVICE_NAME", "order-eu");
  const TracingConfig config = TracingConfig::FromEnvironment("order");
  EXPECT_EQ(config.service_name, "order-eu");
  EXPECT_EQ(config.exporter.resource[0],
            (std::pair<std::string, std::string>{"service.name", "order-eu"}));
  for (size_t i = 1; i < config.exporter.resource.size(); ++i) {
    EXPECT_NE(config.exporter.resource[i].first, "service.name");
  }
}

TEST_F(TracingConfigTest, ResourceAttributes_KeysPercentDecodedToo) {
  Set("OTEL_RESOURCE_ATTRIBUTES", "my%2Ekey=x, a%3Db%2Cc =y,%zz=skipped,%41=z");
  const TracingConfig config = TracingConfig::FromEnvironment("order");
  KeyValues user(config.exporter.resource.begin() + 1, config.exporter.resource.end() - 3);
  EXPECT_EQ(user, (KeyValues{{"my.key", "x"}, {"a=b,c", "y"}, {"A", "z"}}));
  EXPECT_NE(Log().find("bad percent-encoding in its key"), std::string::npos) << Log();
}

TEST_F(TracingConfigTest, ResourceAttributes_BadEntriesSkippedWithAWarning) {
  Set("OTEL_RESOURCE_ATTRIBUTES", "good=1,novalue,=empty-key,bad=%zz,also=%4,fine=2");
  const TracingConfig config = TracingConfig::FromEnvironment("order");
  KeyValues user(config.exporter.resource.begin() + 1, config.exporter.resource.end() - 3);
  EXPECT_EQ(user, (KeyValues{{"good", "1"}, {"fine", "2"}}));
  EXPECT_NE(Log().find("OTEL_RESOURCE_ATTRIBUTES"), std::string::npos);
  EXPECT_NE(Log().find("\"level\":\"warning\""), std::string::npos);
}

TEST_F(TracingConfigTest, Samplers_AllNamesAndTheRatio) {
  struct Case {
    const char* name;
    const char* arg;
    std::string description;
  };
  for (const Case& c : std::vector<Case>{
           {"always_on", nullptr, "AlwaysOnSampler"},
           {"always_off", nullptr, "AlwaysOffSampler"},
           {"traceidratio", "0.25", "TraceIDRatioBased{0.25}"},
           {"traceidratio", nullptr, "AlwaysOnSampler"},  // ratio defaults to 1
           {"parentbased_always_on", nullptr, "ParentBased{root:AlwaysOnSampler}"},
           {"parentbased_always_off", nullptr, "ParentBased{root:AlwaysOffSampler}"},
           {"parentbased_traceidratio", "0.5", "ParentBased{root:TraceIDRatioBased{0.5}}"},
           {" Always_Off ", nullptr, "AlwaysOffSampler"},
       }) {
    Set("OTEL_TRACES_SAMPLER", c.name);
    if (c.arg != nullptr) {
      Set("OTEL_TRACES_SAMPLER_ARG", c.arg);
    } else {
      unsetenv("OTEL_TRACES_SAMPLER_ARG");
    }
    EXPECT_EQ(TracingConfig::FromEnvironment("x").sampler.Description(), c.description) << c.name;
  }
}

TEST_F(TracingConfigTest, InvalidSamplerOrRatio_FallsBackWithAWarning) {
  Set("OTEL_TRACES_SAMPLER", "jaeger_remote");
  EXPECT_EQ(TracingConfig::FromEnvironment("x").sampler.Description(),
            "ParentBased{root:AlwaysOnSampler}");
  Set("OTEL_TRACES_SAMPLER", "traceidratio");
  for (const char* arg : {"1.5", "-0.1", "half", "nan"}) {
    Set("OTEL_TRACES_SAMPLER_ARG", arg);
    EXPECT_EQ(TracingConfig::FromEnvironment("x").sampler.Description(), "AlwaysOnSampler") << arg;
  }
  EXPECT_NE(Log().find("OTEL_TRACES_SAMPLER_ARG"), std::string::npos);
  EXPECT_NE(Log().find("jaeger_remote"), std::string::npos);
}

TEST_F(TracingConfigTest, BatchVariables_ReadAndValidated) {
  Set("OTEL_BSP_SCHEDULE_DELAY", "250");
  Set("OTEL_BSP_EXPORT_TIMEOUT", "1000");
  Set("OTEL_BSP_MAX_QUEUE_SIZE", "100");
  Set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10");
  TracingConfig config = TracingConfig::FromEnvironment("x");
  EXPECT_EQ(config.batch.schedule_delay, absl::Milliseconds(250));
  EXPECT_EQ(config.batch.export_timeout, absl::Milliseconds(1000));
  EXPECT_EQ(config.batch.max_queue_size, 100u);
  EXPECT_EQ(config.batch.max_export_batch_size, 10u);

  Set("OTEL_BSP_SCHEDULE_DELAY", "soon");
  Set("OTEL_BSP_EXPORT_TIMEOUT", "-5");
  Set("OTEL_BSP_MAX_QUEUE_SIZE", "0");
  Set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096");  // larger than the queue: clamped
  config = TracingConfig::FromEnvironment("x");
  EXPECT_EQ(config.batch.schedule_delay, absl::Milliseconds(5000));
  EXPECT_EQ(config.batch.export_timeout, absl::Milliseconds(30000));
  EXPECT_EQ(config.batch.max_queue_size, 2048u);
  EXPECT_EQ(config.batch.max_export_batch_size, 2048u);
  EXPECT_NE(Log().find("OTEL_BSP_SCHEDULE_DELAY"), std::string::npos);
}

TEST_F(TracingConfigTest, Endpoint_TracesVariableWins_InvalidFallsBack) {
  Set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317");
  EXPECT_EQ(TracingConfig::FromEnvironment("x").exporter.endpoint, "http://collector:4317");
  Set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces:4317");
  EXPECT_EQ(TracingConfig::FromEnvironment("x").exporter.endpoint, "https://traces:4317");
  Set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://nope");
  EXPECT_EQ(TracingConfig::FromEnvironment("x").exporter.endpoint, "http://localhost:4317");
  EXPECT_NE(Log().find("ftp://nope"), std::string::npos);
}

TEST_F(TracingConfigTest, CertificateHeadersTimeout_TracesVariablesWin) {
  Set("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem");
  Set("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20x,grpc-timeout=1,bad key=1");
  Set("OTEL_EXPORTER_OTLP_TIMEOUT", "2500");
  TracingConfig config = TracingConfig::FromEnvironment("x");
  EXPECT_EQ(config.exporter.certificate_file, "/etc/ca.pem");
  EXPECT_EQ(config.exporter.headers, (KeyValues{{"authorization", "Bearer x"}}));
  EXPECT_EQ(config.exporter.timeout, absl::Milliseconds(2500));

  Set("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/etc/traces-ca.pem");
  Set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=t1");
  Set("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700");
  config = TracingConfig::FromEnvironment("x");
  EXPECT_EQ(config.exporter.certificate_file, "/etc/traces-ca.pem");
  EXPECT_EQ(config.exporter.headers, (KeyValues{{"x-tenant", "t1"}}));
  EXPECT_EQ(config.exporter.timeout, absl::Milliseconds(700));
}

TEST_F(TracingConfigTest, Insecure_TracesVariableWins_InvalidIsFalseWithAWarning) {
  EXPECT_FALSE(TracingConfig::FromEnvironment("x").exporter.insecure);
  Set("OTEL_EXPORTER_OTLP_INSECURE", "TRUE");
  EXPECT_TRUE(TracingConfig::FromEnvironment("x").exporter.insecure);
  Set("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "false");
  EXPECT_FALSE(TracingConfig::FromEnvironment("x").exporter.insecure);
  Set("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "yes");
  EXPECT_FALSE(TracingConfig::FromEnvironment("x").exporter.insecure);
  EXPECT_NE(Log().find("OTEL_EXPORTER_OTLP_TRACES_INSECURE"), std::string::npos);
}

// A header's value, or a URL's password, is a credential: the warnings say which entry, not it.
TEST_F(TracingConfigTest, BadHeadersAndEndpointWithCredentials_WarningsNeverRepeatTheSecret) {
  Set("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=t1,Bearer s3cret-token,authorization=s3cret%zz");
  Set("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:s3cret-password@collector:4317");
  const TracingConfig config = TracingConfig::FromEnvironment("x");
  EXPECT_EQ(config.exporter.headers, (KeyValues{{"x-tenant", "t1"}}));
  EXPECT_EQ(config.exporter.endpoint, "http://localhost:4317");
  const std::string log = Log();
  EXPECT_NE(log.find("entry 2"), std::string::npos) << log;
  EXPECT_NE(log.find("entry 3 (authorization)"), std::string::npos) << log;
  EXPECT_NE(log.find("credentials in the URL"), std::string::npos) << log;
  EXPECT_EQ(log.find("s3cret"), std::string::npos) << log;
}

TEST_F(TracingConfigTest, HugeQueueSize_IsCappedWithAWarning) {
  Set("OTEL_BSP_MAX_QUEUE_SIZE", "1000000000000");
  EXPECT_EQ(TracingConfig::FromEnvironment("x").batch.max_queue_size, size_t{1} << 20);
  EXPECT_NE(Log().find("too large"), std::string::npos);
}

TEST_F(TracingConfigTest, EmptyVariables_CountAsUnset) {
  Set("OTEL_SERVICE_NAME", "");
  Set("OTEL_TRACES_SAMPLER", "");
  Set("OTEL_EXPORTER_OTLP_ENDPOINT", "");
  const TracingConfig config = TracingConfig::FromEnvironment("order");
  EXPECT_EQ(config.service_name, "order");
  EXPECT_EQ(config.exporter.endpoint, "http://localhost:4317");
  EXPECT_EQ(Log(), "");
}

TEST_F(TracingConfigTest, CreateTracerProvider_DisabledGivesNull) {
  Set("OTEL_SDK_DISABLED", "true");
  prometheus::Registry registry;
  EXPECT_EQ(CreateTracerProvider(TracingConfig::FromEnvironment("x"), registry), nullptr);
}

TEST_F(TracingConfigTest, CreateTracerProvider_UnreadableCertificate_RunsUntracedWithAnError) {
  Set("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317");
  Set("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem");
  prometheus::Registry registry;
  EXPECT_EQ(CreateTracerProvider(TracingConfig::FromEnvironment("x"), registry), nullptr);
  EXPECT_NE(Log().find("tracing disabled"), std::string::npos);
}

TEST_F(TracingConfigTest, CreateTracerProvider_ExportsToTheConfiguredCollector) {
  auto collector = hermes::testing::OtlpCollector::Start();
  ASSERT_NE(collector, nullptr);
  Set("OTEL_EXPORTER_OTLP_ENDPOINT", collector->endpoint().c_str());
  Set("OTEL_SERVICE_NAME", "order");
  prometheus::Registry registry;
  std::unique_ptr<TracerProvider> provider =
      CreateTracerProvider(TracingConfig::FromEnvironment("x"), registry);
  ASSERT_NE(provider, nullptr);
  provider->GetTracer("t").StartSpan("op", SpanKind::kInternal).End();
  ASSERT_TRUE(provider->Shutdown(absl::Seconds(10)).ok());
  const auto spans = collector->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].service_name, "order");
  EXPECT_EQ(spans[0].span.name(), "op");
}

}  // namespace
}  // namespace hermes::tracing
