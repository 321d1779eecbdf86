#include "tests/load/request_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "order/v1/order.pb.h"
#include "user/v1/user.pb.h"

namespace hermes::load {
namespace {

using ::testing::HasSubstr;

std::string Bytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

template <typename Message>
Message Parse(const grpc::ByteBuffer& buffer) {
  Message message;
  EXPECT_TRUE(message.ParseFromString(Bytes(buffer)));
  return message;
}

template <typename Message>
std::vector<grpc::ByteBuffer> RenderOk(RequestRenderer& renderer, uint64_t n) {
  absl::StatusOr<const std::vector<grpc::ByteBuffer>*> rendered = renderer.Render(n);
  EXPECT_TRUE(rendered.ok()) << rendered.status();
  return rendered.ok() ? **rendered : std::vector<grpc::ByteBuffer>{};
}

TEST(RequestTemplate, FixedBody_IsSerializedOnceAndSentAsIs) {
  absl::StatusOr<RequestTemplate> request =
      RequestTemplate::Create(*::user::v1::GetUserRequest::descriptor(), R"({"id":"abc"})",
                              /*allow_stream=*/false, /*values=*/{});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_FALSE(request->varies_per_call());
  RequestRenderer renderer(*request);
  const auto first = RenderOk<::user::v1::GetUserRequest>(renderer, 0);
  const auto second = RenderOk<::user::v1::GetUserRequest>(renderer, 7);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(Parse<::user::v1::GetUserRequest>(first[0]).id(), "abc");
  EXPECT_EQ(Bytes(first[0]), Bytes(second[0]));
}

TEST(RequestTemplate, CounterInStrings_IsSubstitutedPerCall) {
  absl::StatusOr<RequestTemplate> request = RequestTemplate::Create(
      *::user::v1::CreateUserRequest::descriptor(),
      R"({"email":"u{{n}}@bench.test","display_name":"U {{n}} / {{n}}"})", false, /*values=*/{});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_TRUE(request->varies_per_call());
  RequestRenderer renderer(*request);
  for (uint64_t n : {0u, 1u, 12345u}) {
    const auto messages = RenderOk<::user::v1::CreateUserRequest>(renderer, n);
    ASSERT_EQ(messages.size(), 1u);
    const auto message = Parse<::user::v1::CreateUserRequest>(messages[0]);
    EXPECT_EQ(message.email(), "u" + std::to_string(n) + "@bench.test");
    EXPECT_EQ(message.display_name(), "U " + std::to_string(n) + " / " + std::to_string(n));
  }
}

TEST(RequestTemplate, CounterInNestedRepeatedStrings_IsSubstituted) {
  absl::StatusOr<RequestTemplate> request =
      RequestTemplate::Create(*::order::v1::CreateOrderRequest::descriptor(),
                              R"({"user_id":"u1","request_id":"r{{n}}",
          "items":[{"product_id":"a","quantity":1},{"product_id":"p{{n}}","quantity":2}]})",
                              false, /*values=*/{});
  ASSERT_TRUE(request.ok()) << request.status();
  RequestRenderer renderer(*request);
  const auto message = Parse<::order::v1::CreateOrderRequest>(
      RenderOk<::order::v1::CreateOrderRequest>(renderer, 9)[0]);
  EXPECT_EQ(message.request_id(), "r9");
  ASSERT_EQ(message.items_size(), 2);
  EXPECT_EQ(message.items(0).product_id(), "a");
  EXPECT_EQ(message.items(1).product_id(), "p9");
  EXPECT_EQ(message.items(1).quantity(), 2);
}

TEST(RequestTemplate, CounterAsANumber_IsParsedPerCall) {
  absl::StatusOr<RequestTemplate> request = RequestTemplate::Create(
      *::order::v1::CreateOrderRequest::descriptor(),
      R"({"user_id":"u{{n}}","items":[{"product_id":"a","quantity":{{n}}}]})", false,
      /*values=*/{});
  ASSERT_TRUE(request.ok()) << request.status();
  RequestRenderer renderer(*request);
  const auto message = Parse<::order::v1::CreateOrderRequest>(
      RenderOk<::order::v1::CreateOrderRequest>(renderer, 77)[0]);
  EXPECT_EQ(message.user_id(), "u77");
  EXPECT_EQ(message.items(0).quantity(), 77);
}

TEST(RequestTemplate, StreamArray_IsOneMessagePerElement) {
  absl::StatusOr<RequestTemplate> request =
      RequestTemplate::Create(*::order::v1::UploadOrderEventsRequest::descriptor(),
                              R"([{"order_id":"o{{n}}","new_status":"ORDER_STATUS_CONFIRMED"},
          {"order_id":"o{{n}}","new_status":"ORDER_STATUS_SHIPPED","note":"n"}])",
                              /*allow_stream=*/true, /*values=*/{});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->message_count(), 2u);
  RequestRenderer renderer(*request);
  const auto messages = RenderOk<::order::v1::UploadOrderEventsRequest>(renderer, 3);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(Parse<::order::v1::UploadOrderEventsRequest>(messages[0]).order_id(), "o3");
  EXPECT_EQ(Parse<::order::v1::UploadOrderEventsRequest>(messages[1]).new_status(),
            ::order::v1::ORDER_STATUS_SHIPPED);
}

TEST(RequestTemplate, ArrayForAUnaryMethod_IsRejected) {
  absl::StatusOr<RequestTemplate> request =
      RequestTemplate::Create(*::user::v1::GetUserRequest::descriptor(), R"([{"id":"a"}])",
                              /*allow_stream=*/false, /*values=*/{});
  ASSERT_FALSE(request.ok());
  EXPECT_THAT(request.status().message(), HasSubstr("JSON array"));
  EXPECT_THAT(request.status().message(), HasSubstr("user.v1.GetUserRequest"));
}

TEST(RequestTemplate, UnknownField_IsAnErrorNamingTypeAndField) {
  absl::StatusOr<RequestTemplate> request = RequestTemplate::Create(
      *::user::v1::GetUserRequest::descriptor(), R"({"idd":"a"})", false, /*values=*/{});
  ASSERT_FALSE(request.ok());
  EXPECT_THAT(request.status().message(), HasSubstr("user.v1.GetUserRequest"));
  EXPECT_THAT(request.status().message(), HasSubstr("idd"));
}

TEST(RequestTemplate, InvalidJson_IsAnErrorNamingTheMessageOfTheStream) {
  absl::StatusOr<RequestTemplate> request =
      RequestTemplate::Create(*::order::v1::UploadOrderEventsRequest::descriptor(),
                              R"([{"order_id":"a"}, {"order_id": }])", true, /*values=*/{});
  ASSERT_FALSE(request.ok());
  EXPECT_THAT(request.status().message(), HasSubstr("message 2 of 2"));
}

TEST(RequestTemplate, WrongValueType_IsAnError) {
  absl::StatusOr<RequestTemplate> request = RequestTemplate::Create(
      *::order::v1::UploadOrderEventsRequest::descriptor(),
      R"({"order_id":"a","new_status":"NOT_A_STATUS"})", true, /*values=*/{});
  ASSERT_FALSE(request.ok());
  EXPECT_THAT(request.status().message(), HasSubstr("order.v1.UploadOrderEventsRequest"));
}

TEST(RequestTemplate, CounterWhereNoNumberFits_IsAnErrorAtStartUp) {
  absl::StatusOr<RequestTemplate> request = RequestTemplate::Create(
      *::user::v1::GetUserRequest::descriptor(), R"({"{{n}}":"a"})", false, /*values=*/{});
  ASSERT_FALSE(request.ok());
  EXPECT_THAT(request.status().message(), HasSubstr("{{n}} replaced by 0"));
}

// The order ids of UploadOrderEvents in `make bench`: every message of call n names line
// n % 3, set in the parsed message without JSON per call.
TEST(RequestTemplate, ValueInStrings_IsTheLineThatTheCallsNumberPicks) {
  absl::StatusOr<RequestTemplate> request =
      RequestTemplate::Create(*::order::v1::UploadOrderEventsRequest::descriptor(),
                              R"([{"order_id":"{{value}}","new_status":"ORDER_STATUS_CONFIRMED"},
          {"order_id":"{{value}}","new_status":"ORDER_STATUS_SHIPPED","note":"call {{n}}"}])",
                              /*allow_stream=*/true, /*values=*/{"o-a", "o-b", "o-c"});
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_TRUE(request->varies_per_call());
  RequestRenderer renderer(*request);
  for (uint64_t n : {0u, 1u, 2u, 3u, 7u}) {
    const auto messages = RenderOk<::order::v1::UploadOrderEventsRequest>(renderer, n);
    ASSERT_EQ(messages.size(), 2u);
    const std::string expected = std::vector<std::string>{"o-a", "o-b", "o-c"}[n % 3];
    EXPECT_EQ(Parse<::order::v1::UploadOrderEventsRequest>(messages[0]).order_id(), expected);
    const auto second = Parse<::order::v1::UploadOrderEventsRequest>(messages[1]);
    EXPECT_EQ(second.order_id(), expected);
    EXPECT_EQ(second.note(), "call " + std::to_string(n));
  }
}

TEST(RequestTemplate, ValueWhereAStringWillNotDo_IsParsedPerCall) {
  absl::StatusOr<RequestTemplate> request = RequestTemplate::Create(
      *::order::v1::UploadOrderEventsRequest::descriptor(),
      R"({"order_id":"o","new_status":"{{value}}"})", /*allow_stream=*/true,
      /*values=*/{"ORDER_STATUS_CONFIRMED", "ORDER_STATUS_SHIPPED", "NO_SUCH_STATUS"});
  ASSERT_TRUE(request.ok()) << request.status();
  RequestRenderer renderer(*request);
  EXPECT_EQ(Parse<::order::v1::UploadOrderEventsRequest>(
                RenderOk<::order::v1::UploadOrderEventsRequest>(renderer, 1)[0])
                .new_status(),
            ::order::v1::ORDER_STATUS_SHIPPED);
  // A value that does not parse fails that call only, saying which value it was.
  absl::StatusOr<const std::vector<grpc::ByteBuffer>*> bad = renderer.Render(2);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("{{value}}=NO_SUCH_STATUS"));
}

TEST(RequestTemplate, ValuePlaceholderAndValuesFile_GoTogether) {
  absl::StatusOr<RequestTemplate> no_values = RequestTemplate::Create(
      *::user::v1::GetUserRequest::descriptor(), R"({"id":"{{value}}"})", false, /*values=*/{});
  ASSERT_FALSE(no_values.ok());
  EXPECT_THAT(no_values.status().message(), HasSubstr("--values_file"));
  absl::StatusOr<RequestTemplate> unused = RequestTemplate::Create(
      *::user::v1::GetUserRequest::descriptor(), R"({"id":"{{n}}"})", false, /*values=*/{"a"});
  ASSERT_FALSE(unused.ok());
  EXPECT_THAT(unused.status().message(), HasSubstr("no {{value}}"));
}

TEST(RequestTemplate, FirstValueThatDoesNotParse_IsAnErrorAtStartUp) {
  absl::StatusOr<RequestTemplate> request =
      RequestTemplate::Create(*::order::v1::UploadOrderEventsRequest::descriptor(),
                              R"({"new_status":"{{value}}"})", true, /*values=*/{"NO_SUCH_STATUS"});
  ASSERT_FALSE(request.ok());
  EXPECT_THAT(request.status().message(), HasSubstr("{{value}} by the first value"));
}

}  // namespace
}  // namespace hermes::load
