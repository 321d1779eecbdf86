#include "tests/e2e/every_rpc.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "order/v1/order.pb.h"
#include "tests/e2e/prometheus_api.h"
#include "user/v1/user.pb.h"

namespace hermes::testing {
namespace {

constexpr char kUserService[] = "user.v1.UserService/";
constexpr char kOrderService[] = "order.v1.OrderService/";

std::string Describe(const BufCurl& buf, const std::string& method, const std::string& json,
                     const CommandResult& result) {
  std::string exit = "timed out";
  if (result.status && WIFEXITED(*result.status)) {
    exit = absl::StrCat("exit status ", WEXITSTATUS(*result.status));
  } else if (result.status) {
    exit = absl::StrCat("wait status ", *result.status);
  }
  return absl::StrCat("buf curl ", method, " -d '", json, "' as ", buf.identity(), ": ", exit,
                      "; output:\n", result.output);
}

// One call that must succeed with exactly one response of type Response.
template <typename Response>
std::optional<Response> CallOk(const BufCurl& buf, int port, const std::string& method,
                               const std::string& json) {
  const CommandResult result = buf.Call(port, method, json);
  if (BufStatusCode(result) != grpc::StatusCode::OK) {
    ADD_FAILURE() << Describe(buf, method, json, result);
    return std::nullopt;
  }
  absl::StatusOr<Response> response = ParseJsonMessage<Response>(result.output);
  if (!response.ok()) {
    ADD_FAILURE() << method << ": " << response.status();
    return std::nullopt;
  }
  return *std::move(response);
}

// One call that must fail with `code`, buf printing the code's name (e.g. "not_found").
void ExpectFailure(const BufCurl& buf, int port, const std::string& method, const std::string& json,
                   grpc::StatusCode code, const std::string& code_name) {
  const CommandResult result = buf.Call(port, method, json);
  EXPECT_EQ(BufStatusCode(result), code) << Describe(buf, method, json, result);
  EXPECT_NE(result.output.find(absl::StrCat("\"", code_name, "\"")), std::string::npos)
      << Describe(buf, method, json, result);
}

// The responses of a stream call, and the error document buf printed at its end, if any.
template <typename Response>
struct StreamOutput {
  std::vector<Response> responses;
  std::string error_code;  // "" when the stream ended OK
};

template <typename Response>
StreamOutput<Response> ParseStream(const std::string& method, const CommandResult& result) {
  StreamOutput<Response> parsed;
  for (const std::string& document : SplitJsonDocuments(result.output)) {
    absl::StatusOr<google::protobuf::Struct> object = ParseJsonObject(document);
    if (object.ok() && object->fields().contains("code")) {  // buf's error document
      parsed.error_code = StringField(*object, "code");
      continue;
    }
    absl::StatusOr<Response> response = ParseJsonMessage<Response>(document);
    if (response.ok()) {
      parsed.responses.push_back(*std::move(response));
    } else {
      ADD_FAILURE() << method << ": " << response.status();
    }
  }
  return parsed;
}

void DriveUserService(int port, const BufCurl& admin, std::string& user_id,
                      std::string& spare_user_id) {
  // The spare user comes first, so the main user's events have sequences above 1 and
  // WatchUsers(after_sequence = 1) replays them.
  const auto spare = CallOk<user::v1::CreateUserResponse>(
      admin, port, absl::StrCat(kUserService, "CreateUser"),
      R"({"email": "e2e-spare@example.com", "display_name": "Spare"})");
  ASSERT_TRUE(spare.has_value());
  spare_user_id = spare->user().id();

  const auto created = CallOk<user::v1::CreateUserResponse>(
      admin, port, absl::StrCat(kUserService, "CreateUser"),
      R"({"email": "E2E-Ada@Example.com", "display_name": "Ada"})");
  ASSERT_TRUE(created.has_value());
  const user::v1::User& user = created->user();
  EXPECT_EQ(user.email(), "e2e-ada@example.com");  // stored lower-cased
  EXPECT_EQ(user.display_name(), "Ada");
  EXPECT_EQ(user.status(), user::v1::USER_STATUS_ACTIVE);
  ASSERT_FALSE(user.id().empty());
  EXPECT_FALSE(user.etag().empty());
  user_id = user.id();

  const auto got =
      CallOk<user::v1::GetUserResponse>(admin, port, absl::StrCat(kUserService, "GetUser"),
                                        absl::Substitute(R"({"id": "$0"})", user_id));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->user().email(), "e2e-ada@example.com");

  const auto listed = CallOk<user::v1::ListUsersResponse>(
      admin, port, absl::StrCat(kUserService, "ListUsers"), R"({"page": {"page_size": 100}})");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->page().total(), 2);
  ASSERT_EQ(listed->users_size(), 2);
  EXPECT_EQ(listed->users(0).id(), spare_user_id);  // created_at order
  EXPECT_EQ(listed->users(1).id(), user_id);

  const auto updated = CallOk<user::v1::UpdateUserResponse>(
      admin, port, absl::StrCat(kUserService, "UpdateUser"),
      absl::Substitute(R"({"id": "$0", "display_name": "Ada Lovelace", "etag": "$1"})", user_id,
                       user.etag()));
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->user().display_name(), "Ada Lovelace");
  EXPECT_NE(updated->user().etag(), user.etag());

  // WatchUsers never ends by itself: the retained events come at once, then buf's deadline.
  // Which side's deadline timer fires first is a race: when the server's does, it resets the
  // stream (RST_STREAM, CANCEL: HTTP/2 cannot carry DEADLINE_EXCEEDED) and buf, unlike
  // grpc-go, reports that as CANCELLED (gRPC calls the status best effort: grpc/grpc#2685). So
  // either code, but only at the deadline, not before.
  const std::string watch = absl::StrCat(kUserService, "WatchUsers");
  const std::string watch_request = R"({"after_sequence": "1"})";
  const absl::Time watch_start = absl::Now();
  const CommandResult watched = admin.Call(port, watch, watch_request, absl::Seconds(5));
  const absl::Duration watched_for = absl::Now() - watch_start;
  EXPECT_THAT(BufStatusCode(watched),
              ::testing::AnyOf(grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::CANCELLED))
      << Describe(admin, watch, watch_request, watched);
  EXPECT_GE(watched_for, absl::Milliseconds(4500)) << "the stream ended before the deadline";
  const auto events = ParseStream<user::v1::WatchUsersResponse>(watch, watched);
  EXPECT_THAT(events.error_code, ::testing::AnyOf("deadline_exceeded", "canceled"));
  ASSERT_EQ(events.responses.size(), 2u) << Describe(admin, watch, watch_request, watched);
  EXPECT_EQ(events.responses[0].type(), user::v1::USER_EVENT_TYPE_CREATED);
  EXPECT_EQ(events.responses[0].user().id(), user_id);
  EXPECT_EQ(events.responses[0].user().display_name(), "Ada");
  EXPECT_EQ(events.responses[1].type(), user::v1::USER_EVENT_TYPE_UPDATED);
  EXPECT_EQ(events.responses[1].user().display_name(), "Ada Lovelace");
  EXPECT_LT(events.responses[0].sequence(), events.responses[1].sequence());
}

void DriveOrderService(int port, const BufCurl& admin, const std::string& user_id) {
  const std::string create = absl::StrCat(kOrderService, "CreateOrder");
  const auto created = CallOk<order::v1::CreateOrderResponse>(
      admin, port, create,
      absl::Substitute(R"({"user_id": "$0", "request_id": "e2e-order-1", "items": [
          {"product_id": "e2e-book", "quantity": 2, "price_cents": "1250"},
          {"product_id": "e2e-pen", "quantity": 1, "price_cents": "199"}]})",
                       user_id));
  ASSERT_TRUE(created.has_value());
  const std::string order_id = created->order().id();
  ASSERT_FALSE(order_id.empty());
  EXPECT_EQ(created->order().user_id(), user_id);
  EXPECT_EQ(created->order().status(), order::v1::ORDER_STATUS_PENDING);
  EXPECT_EQ(created->order().total_cents(), 2 * 1250 + 199);

  const auto got =
      CallOk<order::v1::GetOrderResponse>(admin, port, absl::StrCat(kOrderService, "GetOrder"),
                                          absl::Substitute(R"({"id": "$0"})", order_id));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->order().items_size(), 2);

  const auto listed =
      CallOk<order::v1::ListOrdersResponse>(admin, port, absl::StrCat(kOrderService, "ListOrders"),
                                            absl::Substitute(R"({"user_id": "$0"})", user_id));
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->orders_size(), 1);
  EXPECT_EQ(listed->orders(0).id(), order_id);

  // Client streaming: two messages, one step each.
  const auto uploaded = CallOk<order::v1::UploadOrderEventsResponse>(
      admin, port, absl::StrCat(kOrderService, "UploadOrderEvents"),
      absl::Substitute(R"({"order_id": "$0", "new_status": "ORDER_STATUS_CONFIRMED", "note": "paid"}
                          {"order_id": "$0", "new_status": "ORDER_STATUS_SHIPPED"})",
                       order_id));
  ASSERT_TRUE(uploaded.has_value());
  EXPECT_EQ(uploaded->accepted(), 2);
  EXPECT_EQ(uploaded->rejected(), 0);

  // Bidi: subscribe, half-close; the server sends the current status and ends with OK.
  const std::string stream = absl::StrCat(kOrderService, "StreamOrderUpdates");
  const std::string subscribe = absl::Substitute(R"({"order_id": "$0"})", order_id);
  const CommandResult streamed = admin.Call(port, stream, subscribe);
  EXPECT_EQ(BufStatusCode(streamed), grpc::StatusCode::OK)
      << Describe(admin, stream, subscribe, streamed);
  const auto updates = ParseStream<order::v1::StreamOrderUpdatesResponse>(stream, streamed);
  ASSERT_EQ(updates.responses.size(), 1u) << Describe(admin, stream, subscribe, streamed);
  EXPECT_EQ(updates.responses[0].order_id(), order_id);
  EXPECT_EQ(updates.responses[0].status(), order::v1::ORDER_STATUS_SHIPPED);
  EXPECT_FALSE(updates.responses[0].has_error());

  const auto second = CallOk<order::v1::CreateOrderResponse>(
      admin, port, create,
      absl::Substitute(R"({"user_id": "$0", "items": [{"product_id": "e2e-mug", "quantity": 1}]})",
                       user_id));
  ASSERT_TRUE(second.has_value());
  const auto cancelled = CallOk<order::v1::CancelOrderResponse>(
      admin, port, absl::StrCat(kOrderService, "CancelOrder"),
      absl::Substitute(R"({"id": "$0", "reason": "changed my mind"})", second->order().id()));
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->order().status(), order::v1::ORDER_STATUS_CANCELLED);
  EXPECT_EQ(cancelled->order().cancel_reason(), "changed my mind");
}

}  // namespace

void DriveEveryRpc(int user_port, int order_port, const BufCurl& admin, const BufCurl& client) {
  std::string user_id;
  std::string spare_user_id;
  DriveUserService(user_port, admin, user_id, spare_user_id);
  ASSERT_FALSE(user_id.empty() || spare_user_id.empty());
  DriveOrderService(order_port, admin, user_id);

  // The spare user has no orders.
  EXPECT_TRUE(CallOk<user::v1::DeleteUserResponse>(
                  admin, user_port, absl::StrCat(kUserService, "DeleteUser"),
                  absl::Substitute(R"({"id": "$0"})", spare_user_id))
                  .has_value());

  // What the policy refuses spiffe://hermes/client (this also makes hermes_auth_denied_total,
  // which a dashboard panel reads, exist on both services).
  ExpectFailure(client, user_port, absl::StrCat(kUserService, "DeleteUser"),
                absl::Substitute(R"({"id": "$0"})", user_id), grpc::StatusCode::PERMISSION_DENIED,
                "permission_denied");
  ExpectFailure(client, order_port, absl::StrCat(kOrderService, "UploadOrderEvents"),
                R"({"order_id": "e2e-any", "new_status": "ORDER_STATUS_CONFIRMED"})",
                grpc::StatusCode::PERMISSION_DENIED, "permission_denied");

  ExpectFailure(admin, user_port, absl::StrCat(kUserService, "GetUser"),
                R"({"id": "e2e-no-such-user"})", grpc::StatusCode::NOT_FOUND, "not_found");
  ExpectFailure(admin, order_port, absl::StrCat(kOrderService, "GetOrder"),
                R"({"id": "e2e-no-such-order"})", grpc::StatusCode::NOT_FOUND, "not_found");
}

}  // namespace hermes::testing
