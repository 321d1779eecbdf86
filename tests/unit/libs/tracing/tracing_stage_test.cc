// The tracing interceptor pieces on their own: TracingStage driven the way chain.cc drives a
// stage, the client-span functions on a metadata map, and the peer/target parsers.
#include <grpcpp/server_context.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "libs/errors/utf8.h"
#include "libs/interceptor/method_table.h"
#include "libs/interceptor/tracing.h"
#include "libs/tracing/span_context.h"
#include "tests/unit/libs/tracing/test_exporters.h"
#include "user/v1/user.pb.h"

namespace hermes::interceptor {
namespace {

using ::hermes::testing::RecordingProcessor;
using tracing::SpanData;
using tracing::SpanKind;
using tracing::SpanStatusCode;

constexpr char kCallerTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kCallerSpan[] = "00f067aa0ba902b7";
const std::string kCallerTraceparent =
    std::string("00-") + kCallerTrace + "-" + kCallerSpan + "-01";

std::string ValueOf(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                    const std::string& key) {
  auto it = metadata.find(key);
  return it == metadata.end() ? "<none>" : std::string(it->second.data(), it->second.size());
}

std::string StringAttribute(const SpanData& span, const std::string& key) {
  for (const auto& attribute : span.attributes) {
    if (attribute.key == key) return std::get<std::string>(attribute.value);
  }
  return "<none>";
}
int64_t IntAttribute(const SpanData& span, const std::string& key) {
  for (const auto& attribute : span.attributes) {
    if (attribute.key == key) return std::get<int64_t>(attribute.value);
  }
  return -1;
}

class TracingStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::user::v1::GetUserRequest::descriptor();  // links the user service's descriptors in
    grpc::health::v1::HealthCheckRequest::descriptor();
    auto table = MethodTable::ForServices({"user.v1.UserService", "grpc.health.v1.Health"});
    ASSERT_TRUE(table.ok()) << table.status();
    table_ = std::make_unique<MethodTable>(*std::move(table));
  }

  // A call as chain.cc prepares it before OnStart.
  std::unique_ptr<ServerCall> NewCall(const std::string& path) {
    auto call = std::make_unique<ServerCall>();
    call->method = &table_->Find(path);
    path_ = path;
    call->path = path_.c_str();
    call->context = &context_;
    call->recv_metadata = &metadata_;
    return call;
  }
  void AddMetadata(const char* key, const std::string& value) {
    owned_.push_back(std::make_unique<std::string>(value));
    metadata_.emplace(key, *owned_.back());
  }

  std::shared_ptr<RecordingProcessor> processor_ = std::make_shared<RecordingProcessor>();
  tracing::TracerProvider provider_{tracing::Sampler(), processor_};
  TracingStage stage_{
      {.provider = &provider_, .server_address = "orders.local", .server_port = 50052}};
  std::unique_ptr<MethodTable> table_;
  grpc::ServerContext context_;  // no call behind it: peer() is ""
  std::string path_;
  std::vector<std::unique_ptr<std::string>> owned_;
  std::multimap<grpc::string_ref, grpc::string_ref> metadata_;
};

TEST_F(TracingStageTest, CallerTraceparent_ServerSpanIsItsChild_MetadataRewrittenToServerSpan) {
  AddMetadata("traceparent", kCallerTraceparent);
  AddMetadata("tracestate", "rojo=1");
  auto call = NewCall("/user.v1.UserService/GetUser");
  stage_.OnStart(*call);

  EXPECT_EQ(call->TraceId(), kCallerTrace);
  ASSERT_EQ(call->SpanId().size(), 16u);
  EXPECT_NE(call->SpanId(), kCallerSpan);
  // The handler (and OutgoingContext) now see the server span as the parent to use.
  EXPECT_EQ(ValueOf(metadata_, "traceparent"),
            absl::StrCat("00-", kCallerTrace, "-", call->SpanId(), "-01"));
  EXPECT_EQ(metadata_.count("traceparent"), 1u);
  EXPECT_EQ(ValueOf(metadata_, "tracestate"), "rojo=1");

  grpc::Status status(grpc::StatusCode::NOT_FOUND, "no such user");
  stage_.OnFinish(*call, status);
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  const SpanData& span = spans[0];
  EXPECT_EQ(span.name, "user.v1.UserService/GetUser");
  EXPECT_EQ(span.kind, SpanKind::kServer);
  EXPECT_EQ(span.context.trace_id.ToHex(), kCallerTrace);
  EXPECT_EQ(span.context.span_id.ToHex(), call->SpanId());
  EXPECT_EQ(span.parent_span_id.ToHex(), kCallerSpan);
  EXPECT_EQ(span.context.trace_state, "rojo=1");
  EXPECT_EQ(span.scope->name, kRpcTracingScope);
  EXPECT_EQ(StringAttribute(span, "rpc.system"), "grpc");
  EXPECT_EQ(StringAttribute(span, "rpc.service"), "user.v1.UserService");
  EXPECT_EQ(StringAttribute(span, "rpc.method"), "GetUser");
  EXPECT_EQ(StringAttribute(span, "server.address"), "orders.local");
  EXPECT_EQ(IntAttribute(span, "server.port"), 50052);
  EXPECT_EQ(IntAttribute(span, "rpc.grpc.status_code"), 5);
  // NOT_FOUND is the caller's business: the server span's status stays unset.
  EXPECT_EQ(span.status, SpanStatusCode::kUnset);
}

TEST_F(TracingStageTest, ServerErrorCodes_SetStatusError_OthersLeaveItUnset) {
  for (int code = 0; code <= 16; ++code) {
    const auto status_code = static_cast<grpc::StatusCode>(code);
    const bool expected_error = status_code == grpc::StatusCode::UNKNOWN ||
                                status_code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                                status_code == grpc::StatusCode::UNIMPLEMENTED ||
                                status_code == grpc::StatusCode::INTERNAL ||
                                status_code == grpc::StatusCode::UNAVAILABLE ||
                                status_code == grpc::StatusCode::DATA_LOSS;
    EXPECT_EQ(IsServerSpanError(status_code), expected_error) << code;
  }
  auto call = NewCall("/user.v1.UserService/GetUser");
  stage_.OnStart(*call);
  grpc::Status status(grpc::StatusCode::INTERNAL, "internal error");
  stage_.OnFinish(*call, status);
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].status, SpanStatusCode::kError);
  EXPECT_EQ(spans[0].status_description, "internal error");
  EXPECT_EQ(IntAttribute(spans[0], "rpc.grpc.status_code"), 13);
}

TEST_F(TracingStageTest, MalformedOrRepeatedTraceparent_StartsANewTrace) {
  for (const std::vector<std::string>& values :
       {std::vector<std::string>{"00-garbage"},
        std::vector<std::string>{std::string("00-") + kCallerTrace + "-" + kCallerSpan + "-01",
                                 std::string("00-") + kCallerTrace + "-" + kCallerSpan + "-01"}}) {
    metadata_.clear();
    for (const std::string& value : values) AddMetadata("traceparent", value);
    auto call = NewCall("/user.v1.UserService/GetUser");
    stage_.OnStart(*call);
    EXPECT_NE(call->TraceId(), kCallerTrace);
    EXPECT_EQ(call->TraceId().size(), 32u);
    EXPECT_EQ(metadata_.count("traceparent"), 1u);
    grpc::Status ok;
    stage_.OnFinish(*call, ok);
  }
  for (const auto& span : processor_->Spans()) EXPECT_FALSE(span.parent_span_id.IsValid());
}

TEST_F(TracingStageTest, SeveralTracestateEntries_AreOneList) {
  AddMetadata("traceparent", kCallerTraceparent);
  AddMetadata("tracestate", "a=1");
  AddMetadata("tracestate", "b=2");
  auto call = NewCall("/user.v1.UserService/GetUser");
  stage_.OnStart(*call);
  EXPECT_EQ(call->tracestate, "a=1,b=2");
  EXPECT_EQ(metadata_.count("tracestate"), 1u);
  EXPECT_EQ(ValueOf(metadata_, "tracestate"), "a=1,b=2");
}

TEST_F(TracingStageTest, UnknownMethod_NamedAfterThePathAsCalled) {
  auto call = NewCall("/shop.v9.Cart/Checkout");
  stage_.OnStart(*call);
  grpc::Status status(grpc::StatusCode::UNIMPLEMENTED, "");
  stage_.OnFinish(*call, status);
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "shop.v9.Cart/Checkout");
  EXPECT_EQ(StringAttribute(spans[0], "rpc.service"), "shop.v9.Cart");
  EXPECT_EQ(StringAttribute(spans[0], "rpc.method"), "Checkout");
}

// A path that is no method of ours is the caller's bytes: any length, not necessarily UTF-8.
// In a span it is cut and made valid UTF-8, or a few hundred such calls would make a batch the
// collector refuses (too large, or not valid proto3), losing every span in it.
TEST_F(TracingStageTest, UnknownMethod_LongOrNotUtf8Path_CutAndMadeValidUtf8) {
  const std::string method = std::string(8000, 'm') + "\xff";
  auto call = NewCall("/shop.v9.Cart\xc3/" + method);
  stage_.OnStart(*call);
  grpc::Status status(grpc::StatusCode::UNIMPLEMENTED, "no method " + method);
  stage_.OnFinish(*call, status);
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  const auto valid_and_short = [](const std::string& text) {
    return text.size() <= 128 + 3 && errors::CodePointCount(text).has_value();
  };
  EXPECT_TRUE(valid_and_short(spans[0].name)) << spans[0].name.size();
  EXPECT_EQ(StringAttribute(spans[0], "rpc.service"), "shop.v9.Cart\xef\xbf\xbd");  // U+FFFD
  EXPECT_TRUE(valid_and_short(StringAttribute(spans[0], "rpc.method")));
  EXPECT_TRUE(valid_and_short(spans[0].status_description)) << spans[0].status_description.size();
  EXPECT_EQ(spans[0].name.substr(0, 14), "shop.v9.Cart\xef\xbf");
}

TEST_F(TracingStageTest, UnsampledCaller_IdsAndPropagationButNothingExported) {
  AddMetadata("traceparent", std::string("00-") + kCallerTrace + "-" + kCallerSpan + "-00");
  auto call = NewCall("/user.v1.UserService/GetUser");
  stage_.OnStart(*call);
  EXPECT_EQ(call->TraceId(), kCallerTrace);
  EXPECT_EQ(ValueOf(metadata_, "traceparent"),
            absl::StrCat("00-", kCallerTrace, "-", call->SpanId(), "-00"));
  grpc::Status ok;
  stage_.OnFinish(*call, ok);
  EXPECT_TRUE(processor_->Spans().empty());
}

TEST_F(TracingStageTest, HealthChecks_NotTracedUnlessAskedFor) {
  AddMetadata("traceparent", kCallerTraceparent);
  auto call = NewCall("/grpc.health.v1.Health/Check");
  stage_.OnStart(*call);
  EXPECT_EQ(call->TraceId(), "");
  EXPECT_EQ(ValueOf(metadata_, "traceparent"), kCallerTraceparent);
  grpc::Status ok;
  stage_.OnFinish(*call, ok);
  EXPECT_TRUE(processor_->Spans().empty());

  TracingStage traced({.provider = &provider_, .trace_health_checks = true});
  auto traced_call = NewCall("/grpc.health.v1.Health/Check");
  traced.OnStart(*traced_call);
  traced.OnFinish(*traced_call, ok);
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "grpc.health.v1.Health/Check");
}

TEST_F(TracingStageTest, NoProvider_LeavesCallAndMetadataAlone) {
  TracingStage off({});
  AddMetadata("traceparent", kCallerTraceparent);
  auto call = NewCall("/user.v1.UserService/GetUser");
  off.OnStart(*call);
  EXPECT_EQ(call->TraceId(), "");
  EXPECT_EQ(ValueOf(metadata_, "traceparent"), kCallerTraceparent);
  grpc::Status ok;
  off.OnFinish(*call, ok);
}

TEST_F(TracingStageTest, ClientSpan_ChildOfTheTraceparentInMetadata_ReplacesIt) {
  std::multimap<std::string, std::string> send;
  send.emplace("traceparent", kCallerTraceparent);
  send.emplace("tracestate", "rojo=1");
  tracing::Span span =
      StartClientSpan(&provider_, "/user.v1.UserService/GetUser", "dns:///users:50051", &send);
  ASSERT_EQ(send.count("traceparent"), 1u);
  EXPECT_EQ(send.find("traceparent")->second, span.context().Traceparent());
  EXPECT_EQ(send.find("tracestate")->second, "rojo=1");
  EXPECT_EQ(span.context().trace_id.ToHex(), kCallerTrace);

  EndClientSpan(span, grpc::Status(grpc::StatusCode::NOT_FOUND, "no such user"));
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  const SpanData& data = spans[0];
  EXPECT_EQ(data.name, "user.v1.UserService/GetUser");
  EXPECT_EQ(data.kind, SpanKind::kClient);
  EXPECT_EQ(data.parent_span_id.ToHex(), kCallerSpan);
  EXPECT_EQ(StringAttribute(data, "rpc.system"), "grpc");
  EXPECT_EQ(StringAttribute(data, "rpc.service"), "user.v1.UserService");
  EXPECT_EQ(StringAttribute(data, "rpc.method"), "GetUser");
  EXPECT_EQ(StringAttribute(data, "server.address"), "users");
  EXPECT_EQ(IntAttribute(data, "server.port"), 50051);
  EXPECT_EQ(IntAttribute(data, "rpc.grpc.status_code"), 5);
  // On the client every non-OK code is an error.
  EXPECT_EQ(data.status, SpanStatusCode::kError);
  EXPECT_EQ(data.status_description, "no such user");
}

TEST_F(TracingStageTest, ClientSpan_WithoutTraceparent_IsARoot_OkLeavesStatusUnset) {
  std::multimap<std::string, std::string> send;
  tracing::Span span = StartClientSpan(&provider_, "/user.v1.UserService/GetUser", "", &send);
  EXPECT_EQ(send.count("traceparent"), 1u);
  EXPECT_EQ(send.count("tracestate"), 0u);
  EndClientSpan(span, grpc::Status::OK);
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_FALSE(spans[0].parent_span_id.IsValid());
  EXPECT_EQ(spans[0].status, SpanStatusCode::kUnset);
  EXPECT_EQ(StringAttribute(spans[0], "server.address"), "<none>");
}

TEST_F(TracingStageTest, ClientSpan_NoProvider_MetadataPassesThrough) {
  std::multimap<std::string, std::string> send;
  send.emplace("traceparent", kCallerTraceparent);
  tracing::Span span = StartClientSpan(nullptr, "/user.v1.UserService/GetUser", "", &send);
  EXPECT_FALSE(span.context().IsValid());
  EXPECT_EQ(send.find("traceparent")->second, kCallerTraceparent);
  EndClientSpan(span, grpc::Status::OK);
}

TEST(ParseGrpcPeerTest, Forms) {
  auto v4 = ParseGrpcPeer("ipv4:127.0.0.1:1234");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 1234);
  for (const char* peer : {"ipv6:[::1]:1234", "ipv6:%5B::1%5D:1234", "ipv6:%5B%3A%3A1%5D:1234"}) {
    auto v6 = ParseGrpcPeer(peer);
    ASSERT_TRUE(v6.has_value()) << peer;
    EXPECT_EQ(v6->host, "::1") << peer;
    EXPECT_EQ(v6->port, 1234) << peer;
  }
  auto unix_socket = ParseGrpcPeer("unix:/run/hermes.sock");
  ASSERT_TRUE(unix_socket.has_value());
  EXPECT_EQ(unix_socket->host, "/run/hermes.sock");
  EXPECT_EQ(unix_socket->port, 0);
  EXPECT_FALSE(ParseGrpcPeer("").has_value());
  EXPECT_FALSE(ParseGrpcPeer("weird:thing").has_value());
  EXPECT_FALSE(ParseGrpcPeer("ipv4:1.2.3.4:notaport").has_value());
}

TEST(ParseChannelTargetTest, Forms) {
  struct Case {
    const char* target;
    const char* host;
    int port;
  };
  for (const Case& c :
       std::vector<Case>{{"dns:///localhost:50051", "localhost", 50051},
                         {"dns://8.8.8.8/users.internal:443", "users.internal", 443},
                         {"dns:users:50051", "users", 50051},
                         {"ipv4:10.0.0.1:80,10.0.0.2:80", "10.0.0.1", 80},
                         {"ipv6:[::1]:50051", "::1", 50051},
                         {"[::1]:50051", "::1", 50051},
                         {"127.0.0.1:50051", "127.0.0.1", 50051},
                         {"users", "users", 0}}) {
    auto parsed = ParseChannelTarget(c.target);
    ASSERT_TRUE(parsed.has_value()) << c.target;
    EXPECT_EQ(parsed->host, c.host) << c.target;
    EXPECT_EQ(parsed->port, c.port) << c.target;
  }
  EXPECT_FALSE(ParseChannelTarget("unix:/run/users.sock").has_value());
  EXPECT_FALSE(ParseChannelTarget("").has_value());
}

}  // namespace
}  // namespace hermes::interceptor
