// ScopedSpan inside a real handler: a child of the span named by the call's `traceparent`,
// ended by its destructor, through the default provider or an explicit one.
#include "libs/tracing/scoped_span.h"

#include <grpcpp/server_context.h>
#include <gtest/gtest.h>

#include <functional>

#include "libs/runtime/grpc_server.h"
#include "tests/support/loopback_server.h"
#include "tests/unit/libs/tracing/test_exporters.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::tracing {
namespace {

using ::hermes::testing::RecordingProcessor;
using ::hermes::testing::StartLoopbackServer;
using ::hermes::testing::StubTo;

constexpr char kCallerTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

class HandlerService final : public ::user::v1::UserService::Service {
 public:
  std::function<void(grpc::ServerContext*)> body = [](grpc::ServerContext*) {};
  grpc::Status GetUser(grpc::ServerContext* context, const ::user::v1::GetUserRequest*,
                       ::user::v1::GetUserResponse*) override {
    body(context);
    return grpc::Status::OK;
  }
};

class ScopedSpanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartLoopbackServer(&service_, "user.v1.UserService");
    ASSERT_NE(server_, nullptr);
    stub_ = StubTo<::user::v1::UserService>(*server_);
  }
  void TearDown() override { SetDefaultTracerProvider(nullptr); }

  grpc::Status Call(const std::string& traceparent) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!traceparent.empty()) context.AddMetadata("traceparent", traceparent);
    ::user::v1::GetUserRequest request;
    ::user::v1::GetUserResponse response;
    return stub_->GetUser(&context, request, &response);
  }

  std::shared_ptr<RecordingProcessor> processor_ = std::make_shared<RecordingProcessor>();
  TracerProvider provider_{Sampler::ParentBased(Sampler::AlwaysOn()), processor_};
  HandlerService service_;
  std::unique_ptr<runtime::GrpcServer> server_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
};

TEST_F(ScopedSpanTest, DefaultProvider_ChildOfTheCallsTraceparent_EndedAtScopeExit) {
  SetDefaultTracerProvider(&provider_);
  service_.body = [](grpc::ServerContext* context) {
    ScopedSpan span(*context, "db.query");
    span.SetAttribute("db.system", "sqlite").SetAttribute("db.rows", 3);
  };
  ASSERT_TRUE(Call(kCallerTraceparent).ok());
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "db.query");
  EXPECT_EQ(spans[0].kind, SpanKind::kInternal);
  EXPECT_EQ(spans[0].context.trace_id.ToHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(spans[0].parent_span_id.ToHex(), "00f067aa0ba902b7");
  EXPECT_EQ(spans[0].scope->name, kHandlerScope);
  ASSERT_EQ(spans[0].attributes.size(), 2u);
  EXPECT_EQ(std::get<std::string>(spans[0].attributes[0].value), "sqlite");
  EXPECT_EQ(std::get<int64_t>(spans[0].attributes[1].value), 3);
}

TEST_F(ScopedSpanTest, Nested_ChildOfTheOuterSpan_SetErrorRecorded) {
  service_.body = [this](grpc::ServerContext* context) {
    ScopedSpan outer(&provider_, *context, "checkout");
    ScopedSpan inner(outer, "db.insert");
    inner.SetError("constraint violated");
  };
  ASSERT_TRUE(Call(kCallerTraceparent).ok());
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 2u);  // inner ends first
  EXPECT_EQ(spans[0].name, "db.insert");
  EXPECT_EQ(spans[1].name, "checkout");
  EXPECT_EQ(spans[0].parent_span_id, spans[1].context.span_id);
  EXPECT_EQ(spans[0].status, SpanStatusCode::kError);
  EXPECT_EQ(spans[0].status_description, "constraint violated");
}

TEST_F(ScopedSpanTest, UnsampledCall_NothingRecorded) {
  service_.body = [this](grpc::ServerContext* context) {
    ScopedSpan span(&provider_, *context, "db.query");
    EXPECT_FALSE(span.span().IsRecording());
    EXPECT_EQ(span.context().trace_id.ToHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  };
  ASSERT_TRUE(Call("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").ok());
  EXPECT_TRUE(processor_->Spans().empty());
}

TEST_F(ScopedSpanTest, NoTraceparent_StartsARoot) {
  service_.body = [this](grpc::ServerContext* context) {
    ScopedSpan span(&provider_, *context, "work");
  };
  ASSERT_TRUE(Call("").ok());
  const auto spans = processor_->Spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_FALSE(spans[0].parent_span_id.IsValid());
}

TEST_F(ScopedSpanTest, NoDefaultProvider_IsANoOp) {
  service_.body = [](grpc::ServerContext* context) {
    ScopedSpan span(*context, "work");
    span.SetAttribute("k", "v").SetError("ignored");
    EXPECT_FALSE(span.context().IsValid());
    ScopedSpan nested(span, "nested");
    EXPECT_FALSE(nested.context().IsValid());
  };
  ASSERT_TRUE(Call(kCallerTraceparent).ok());
  EXPECT_TRUE(processor_->Spans().empty());
}

}  // namespace
}  // namespace hermes::tracing
