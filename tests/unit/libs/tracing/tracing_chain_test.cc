// Tracing end to end over real sockets: a caller → order server (A) → user server (B), both
// with the full server chain, A calling B through the client chain, both exporting to an
// in-test OTLP collector. What the collector receives is what Jaeger would show.
#include <google/protobuf/struct.pb.h>
#include <grpcpp/server_context.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <functional>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "libs/interceptor/chain.h"
#include "libs/interceptor/client_chain.h"
#include "libs/interceptor/tracing.h"
#include "libs/runtime/grpc_server.h"
#include "libs/telemetry/log.h"
#include "libs/tracing/batch_span_processor.h"
#include "libs/tracing/otlp_exporter.h"
#include "libs/tracing/scoped_span.h"
#include "libs/tracing/tracer.h"
#include "order/v1/order.grpc.pb.h"
#include "tests/support/captured_log.h"
#include "tests/support/http.h"
#include "tests/support/json_lines.h"
#include "tests/support/loopback_server.h"
#include "tests/support/network.h"
#include "tests/unit/libs/interceptor/scripted_user_service.h"
#include "tests/unit/libs/tracing/otlp_collector.h"

namespace hermes::interceptor {
namespace {

using ::hermes::testing::AttributeOf;
using ::hermes::testing::HasAttribute;
using ::hermes::testing::LoopbackAddress;
using ::hermes::testing::MetricValue;
using ::hermes::testing::OtlpCollector;
using ::hermes::testing::ScriptedUserService;
using ::hermes::testing::StartLoopbackServer;
using ::hermes::testing::StubTo;
using ::order::v1::CreateOrderRequest;
using ::order::v1::CreateOrderResponse;
using ::user::v1::GetUserRequest;
using ::user::v1::GetUserResponse;
namespace otlp = ::opentelemetry::proto::trace::v1;

constexpr absl::Duration kWait = absl::Seconds(10);
constexpr char kCallerTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kCallerSpan[] = "00f067aa0ba902b7";

class OrderFrontend final : public ::order::v1::OrderService::Service {
 public:
  std::function<grpc::Status(grpc::ServerContext*)> create_order;
  grpc::Status CreateOrder(grpc::ServerContext* context, const CreateOrderRequest*,
                           CreateOrderResponse*) override {
    return create_order(context);
  }
};

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

// One traced "service": its registry and its provider, exporting to `endpoint`.
struct Traced {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<tracing::TracerProvider> provider;

  Traced(const std::string& endpoint, const std::string& service_name, tracing::Sampler sampler) {
    auto exporter = tracing::OtlpExporter::Create({.endpoint = endpoint,
                                                   .timeout = absl::Seconds(2),
                                                   .resource = {{"service.name", service_name}}});
    EXPECT_TRUE(exporter.ok()) << exporter.status();
    auto processor = std::make_shared<tracing::BatchSpanProcessor>(
        *std::move(exporter),
        tracing::BatchSpanProcessorOptions{.schedule_delay = absl::Hours(1),
                                           .export_timeout = absl::Seconds(2)},
        *registry);
    provider = std::make_unique<tracing::TracerProvider>(sampler, std::move(processor));
  }
  double Dropped(const std::string& reason) const {
    return MetricValue(prometheus::TextSerializer().Serialize(registry->Collect()),
                       "hermes_spans_dropped_total", {{"reason", reason}})
        .value_or(-1);
  }
};

class TracingChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_.emplace(spdlog::level::info);
    collector_ = OtlpCollector::Start();
    ASSERT_NE(collector_, nullptr);
  }
  void TearDown() override {
    // Servers first (their last spans end), then the clients, then the providers.
    order_server_.reset();
    user_server_.reset();
    user_stub_.reset();
    order_stub_.reset();
    client_chain_.reset();
    order_.reset();
    user_.reset();
    collector_.reset();
    log_.reset();
  }

  void StartServices(const std::string& endpoint, tracing::Sampler sampler = tracing::Sampler()) {
    user_ = std::make_unique<Traced>(endpoint, "user", sampler);
    order_ = std::make_unique<Traced>(endpoint, "order", sampler);

    auto user_chain = ServerChain::Create({.services = {"user.v1.UserService"},
                                           .registry = user_->registry.get(),
                                           .tracer = user_->provider.get(),
                                           .server_address = "127.0.0.1"});
    ASSERT_TRUE(user_chain.ok()) << user_chain.status();
    user_server_ = StartLoopbackServer(&user_service_, "user.v1.UserService",
                                       (*user_chain)->InterceptorFactories());
    ASSERT_NE(user_server_, nullptr);
    user_port_ = user_server_->port();

    client_chain_ = std::make_shared<ClientChain>(*order_->registry, order_->provider.get());
    user_stub_ = ::user::v1::UserService::NewStub(
        CreateServiceChannel({.target = LoopbackAddress(user_port_),
                              .credentials = grpc::InsecureChannelCredentials(),
                              .service = "user.v1.UserService"},
                             client_chain_));
    // A's CreateOrder: a database span of its own, then B's GetUser on the caller's behalf.
    order_service_.create_order = [this](grpc::ServerContext* context) {
      {
        tracing::ScopedSpan insert(order_->provider.get(), *context, "orders.insert");
        insert.SetAttribute("db.system", "sqlite");
      }
      auto outgoing = OutgoingContext(*context, absl::Seconds(5));
      GetUserRequest request;
      request.set_id("u1");
      GetUserResponse response;
      return user_stub_->GetUser(outgoing.get(), request, &response);
    };

    auto order_chain = ServerChain::Create({.services = {"order.v1.OrderService"},
                                            .registry = order_->registry.get(),
                                            .tracer = order_->provider.get()});
    ASSERT_TRUE(order_chain.ok()) << order_chain.status();
    order_server_ = StartLoopbackServer(&order_service_, "order.v1.OrderService",
                                        (*order_chain)->InterceptorFactories());
    ASSERT_NE(order_server_, nullptr);
    order_stub_ = StubTo<::order::v1::OrderService>(*order_server_);
  }

  grpc::Status CreateOrder(const std::string& traceparent = "") {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    if (!traceparent.empty()) context.AddMetadata("traceparent", traceparent);
    CreateOrderRequest request;
    CreateOrderResponse response;
    return order_stub_->CreateOrder(&context, request, &response);
  }
  void Flush() {
    ASSERT_TRUE(order_->provider->ForceFlush(kWait).ok());
    ASSERT_TRUE(user_->provider->ForceFlush(kWait).ok());
  }
  // The one received span named `name` of kind `kind`; fails the test if not exactly one.
  OtlpCollector::ReceivedSpan Find(const std::vector<OtlpCollector::ReceivedSpan>& spans,
                                   const std::string& name, otlp::Span::SpanKind kind) {
    std::vector<OtlpCollector::ReceivedSpan> found;
    for (const auto& span : spans) {
      if (span.span.name() == name && span.span.kind() == kind) found.push_back(span);
    }
    EXPECT_EQ(found.size(), 1u) << name << " kind " << kind;
    return found.empty() ? OtlpCollector::ReceivedSpan{} : found[0];
  }
  // The "rpc finished" log line of `method`.
  google::protobuf::Struct RpcLine(const std::string& method) {
    const std::vector<google::protobuf::Struct> lines =
        testing::ParseJsonLines(log_->Text()).Where({{"msg", "rpc finished"}, {"method", method}});
    if (!lines.empty()) return lines[0];
    ADD_FAILURE() << "no rpc finished line for " << method << " in\n" << log_->Text();
    return {};
  }

  std::optional<testing::CapturedLog> log_;
  std::unique_ptr<OtlpCollector> collector_;
  std::unique_ptr<Traced> user_;
  std::unique_ptr<Traced> order_;
  ScriptedUserService user_service_;
  OrderFrontend order_service_;
  std::unique_ptr<runtime::GrpcServer> user_server_;
  int user_port_ = 0;
  std::shared_ptr<ClientChain> client_chain_;
  std::unique_ptr<::user::v1::UserService::Stub> user_stub_;
  std::unique_ptr<runtime::GrpcServer> order_server_;
  std::unique_ptr<::order::v1::OrderService::Stub> order_stub_;
};

TEST_F(TracingChainTest, CallChain_OneTrace_ParentLinksKindsNamesAttributesAndStatus) {
  StartServices(collector_->endpoint());
  user_service_.get_user = [](const grpc::ServerContextBase*, const GetUserRequest&,
                              GetUserResponse*) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such user");
  };
  const std::string caller = std::string("00-") + kCallerTrace + "-" + kCallerSpan + "-01";
  EXPECT_EQ(CreateOrder(caller).error_code(), grpc::StatusCode::NOT_FOUND);
  Flush();
  const auto spans = collector_->AwaitSpans(4, kWait);
  ASSERT_EQ(spans.size(), 4u);

  const auto order_server =
      Find(spans, "order.v1.OrderService/CreateOrder", otlp::Span::SPAN_KIND_SERVER);
  const auto insert = Find(spans, "orders.insert", otlp::Span::SPAN_KIND_INTERNAL);
  const auto order_client =
      Find(spans, "user.v1.UserService/GetUser", otlp::Span::SPAN_KIND_CLIENT);
  const auto user_server = Find(spans, "user.v1.UserService/GetUser", otlp::Span::SPAN_KIND_SERVER);

  // One trace: the caller's. Parent links: caller → A server → {insert, A client} → B server.
  for (const auto& span : spans) EXPECT_EQ(Hex(span.span.trace_id()), kCallerTrace);
  EXPECT_EQ(Hex(order_server.span.parent_span_id()), kCallerSpan);
  EXPECT_EQ(insert.span.parent_span_id(), order_server.span.span_id());
  EXPECT_EQ(order_client.span.parent_span_id(), order_server.span.span_id());
  EXPECT_EQ(user_server.span.parent_span_id(), order_client.span.span_id());

  // Resources and scopes.
  EXPECT_EQ(order_server.service_name, "order");
  EXPECT_EQ(insert.service_name, "order");
  EXPECT_EQ(order_client.service_name, "order");
  EXPECT_EQ(user_server.service_name, "user");
  EXPECT_EQ(order_server.scope_name, kRpcTracingScope);
  EXPECT_EQ(insert.scope_name, tracing::kHandlerScope);

  // Attributes: the OpenTelemetry RPC conventions.
  for (const auto* span : {&order_server, &order_client, &user_server}) {
    EXPECT_EQ(AttributeOf(span->span.attributes(), "rpc.system"), "grpc");
  }
  EXPECT_EQ(AttributeOf(order_server.span.attributes(), "rpc.service"), "order.v1.OrderService");
  EXPECT_EQ(AttributeOf(order_server.span.attributes(), "rpc.method"), "CreateOrder");
  EXPECT_EQ(AttributeOf(order_server.span.attributes(), "network.peer.address"), "127.0.0.1");
  EXPECT_TRUE(HasAttribute(order_server.span.attributes(), "network.peer.port"));
  EXPECT_EQ(AttributeOf(user_server.span.attributes(), "rpc.service"), "user.v1.UserService");
  EXPECT_EQ(AttributeOf(user_server.span.attributes(), "rpc.method"), "GetUser");
  EXPECT_EQ(AttributeOf(user_server.span.attributes(), "server.address"), "127.0.0.1");
  EXPECT_EQ(AttributeOf(user_server.span.attributes(), "network.peer.address"), "127.0.0.1");
  EXPECT_EQ(AttributeOf(order_client.span.attributes(), "rpc.service"), "user.v1.UserService");
  EXPECT_EQ(AttributeOf(order_client.span.attributes(), "server.address"), "127.0.0.1");
  EXPECT_EQ(AttributeOf(order_client.span.attributes(), "server.port"), std::to_string(user_port_));
  EXPECT_EQ(AttributeOf(insert.span.attributes(), "db.system"), "sqlite");
  for (const auto* span : {&order_server, &order_client, &user_server}) {
    EXPECT_EQ(AttributeOf(span->span.attributes(), "rpc.grpc.status_code"), "5");
  }

  // Status: NOT_FOUND is no server error (unset on both server spans) but fails the client.
  EXPECT_EQ(order_server.span.status().code(), otlp::Status::STATUS_CODE_UNSET);
  EXPECT_EQ(user_server.span.status().code(), otlp::Status::STATUS_CODE_UNSET);
  EXPECT_EQ(order_client.span.status().code(), otlp::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(order_client.span.status().message(), "no such user");

  // Times are sane and nested: B's server span lies within A's client span.
  EXPECT_LE(order_client.span.start_time_unix_nano(), user_server.span.start_time_unix_nano());
  EXPECT_GE(order_client.span.end_time_unix_nano(), user_server.span.end_time_unix_nano());
  EXPECT_LE(order_server.span.start_time_unix_nano(), order_client.span.start_time_unix_nano());
}

TEST_F(TracingChainTest, ServerError_IsAnErrorOnBothSidesOfTheCall) {
  StartServices(collector_->endpoint());
  user_service_.get_user = [](const grpc::ServerContextBase*, const GetUserRequest&,
                              GetUserResponse*) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "database on fire");
  };
  EXPECT_EQ(CreateOrder().error_code(), grpc::StatusCode::INTERNAL);
  Flush();
  const auto spans = collector_->AwaitSpans(4, kWait);
  const auto user_server = Find(spans, "user.v1.UserService/GetUser", otlp::Span::SPAN_KIND_SERVER);
  const auto order_client =
      Find(spans, "user.v1.UserService/GetUser", otlp::Span::SPAN_KIND_CLIENT);
  const auto order_server =
      Find(spans, "order.v1.OrderService/CreateOrder", otlp::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(user_server.span.status().code(), otlp::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(order_client.span.status().code(), otlp::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(order_server.span.status().code(), otlp::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(AttributeOf(user_server.span.attributes(), "rpc.grpc.status_code"), "13");
}

TEST_F(TracingChainTest, NoOrMalformedTraceparent_NewTraceSpansBothServices) {
  StartServices(collector_->endpoint());
  ASSERT_TRUE(CreateOrder().ok());
  ASSERT_TRUE(CreateOrder("00-this-is-not-a-traceparent").ok());
  Flush();
  const auto spans = collector_->AwaitSpans(8, kWait);
  ASSERT_EQ(spans.size(), 8u);
  std::map<std::string, int> per_trace;
  for (const auto& span : spans) {
    ++per_trace[Hex(span.span.trace_id())];
    if (span.span.name() == "order.v1.OrderService/CreateOrder") {
      EXPECT_TRUE(span.span.parent_span_id().empty());  // a root: the caller sent no parent
    }
  }
  ASSERT_EQ(per_trace.size(), 2u);  // two traces, four spans each
  for (const auto& [trace, count] : per_trace) {
    EXPECT_EQ(count, 4) << trace;
    EXPECT_NE(trace, kCallerTrace);
  }
}

TEST_F(TracingChainTest, LogLine_CarriesTheServerSpansTraceAndSpanIds) {
  StartServices(collector_->endpoint());
  ASSERT_TRUE(CreateOrder(std::string("00-") + kCallerTrace + "-" + kCallerSpan + "-01").ok());
  Flush();
  const auto spans = collector_->AwaitSpans(4, kWait);
  const auto order_server =
      Find(spans, "order.v1.OrderService/CreateOrder", otlp::Span::SPAN_KIND_SERVER);
  const auto user_server = Find(spans, "user.v1.UserService/GetUser", otlp::Span::SPAN_KIND_SERVER);

  const auto order_line = RpcLine("/order.v1.OrderService/CreateOrder");
  EXPECT_EQ(order_line.fields().at("trace_id").string_value(), kCallerTrace);
  EXPECT_EQ(order_line.fields().at("span_id").string_value(), Hex(order_server.span.span_id()));
  const auto user_line = RpcLine("/user.v1.UserService/GetUser");
  EXPECT_EQ(user_line.fields().at("trace_id").string_value(), kCallerTrace);
  EXPECT_EQ(user_line.fields().at("span_id").string_value(), Hex(user_server.span.span_id()));
}

TEST_F(TracingChainTest, AlwaysOff_ExportsNothing_ButTraceIdsStillPropagate) {
  StartServices(collector_->endpoint(), tracing::Sampler::AlwaysOff());
  absl::Mutex mutex;
  std::string seen_traceparent;
  user_service_.get_user = [&](const grpc::ServerContextBase* context, const GetUserRequest&,
                               GetUserResponse*) {
    auto it = context->client_metadata().find("traceparent");
    absl::MutexLock lock(&mutex);
    if (it != context->client_metadata().end()) {
      seen_traceparent.assign(it->second.data(), it->second.size());
    }
    return grpc::Status::OK;
  };
  ASSERT_TRUE(CreateOrder(std::string("00-") + kCallerTrace + "-" + kCallerSpan + "-01").ok());
  // A flush that returned OK has handed over everything there was: the collector's emptiness
  // after it is conclusive, no waiting needed.
  Flush();
  EXPECT_TRUE(collector_->Spans().empty());
  EXPECT_TRUE(collector_->Requests().empty());
  {
    absl::MutexLock lock(&mutex);
    // B's server span's context, as its handler sees it: same trace, not sampled.
    EXPECT_EQ(seen_traceparent.substr(0, 36), std::string("00-") + kCallerTrace + "-");
    EXPECT_EQ(seen_traceparent.substr(53), "00");
  }
  EXPECT_EQ(RpcLine("/order.v1.OrderService/CreateOrder").fields().at("trace_id").string_value(),
            kCallerTrace);
}

TEST_F(TracingChainTest, CollectorDown_RpcsSucceedAtNormalSpeed_DropsCounted) {
  // Bound and not listening for the whole test: every connection attempt is refused, and no
  // other test can start a listener there meanwhile.
  const hermes::testing::PortReservation no_collector;
  StartServices("http://127.0.0.1:" + std::to_string(no_collector.port()));
  constexpr int kCalls = 20;
  absl::Duration slowest;
  for (int i = 0; i < kCalls; ++i) {
    const absl::Time start = absl::Now();
    ASSERT_TRUE(CreateOrder().ok());
    slowest = std::max(slowest, absl::Now() - start);
  }
  // Export attempts (connection refused, then gRPC's reconnect backoff) would cost seconds if
  // an RPC waited on them; two local hops take milliseconds.
  EXPECT_LT(slowest, absl::Milliseconds(500));
  Flush();
  // Every span was lost and counted: 3 per call on the order side, 1 on the user side.
  EXPECT_EQ(order_->Dropped("export_failed"), 3 * kCalls);
  EXPECT_EQ(user_->Dropped("export_failed"), kCalls);
  EXPECT_EQ(order_->Dropped("queue_full"), 0);
}

}  // namespace
}  // namespace hermes::interceptor
