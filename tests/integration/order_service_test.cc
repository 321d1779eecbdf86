// order.v1.OrderService against the real binaries (hermes-user + hermes-order) over mTLS: every
// rule of API.md for the order service, the call chain to the user service when that service is
// down, restarting or replicated (round_robin), the circuit breaker and its metric, live order
// updates on the bidirectional stream, idempotent CreateOrder under concurrent retries, and
// persistence across a restart of the order service.
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/v1/common.pb.h"
#include "libs/errors/app_error.h"
#include "order/v1/order.grpc.pb.h"
#include "tests/integration/user_service_harness.h"
#include "tests/support/certs.h"
#include "tests/support/http.h"
#include "tests/support/network.h"
#include "tests/support/service_process.h"
#include "tests/support/subprocess.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::testing {
namespace {

using ::common::v1::ERROR_CODE_FAILED_PRECONDITION;
using ::common::v1::ERROR_CODE_INVALID_ARGUMENT;
using ::common::v1::ERROR_CODE_NOT_FOUND;
using ::order::v1::Order;
using ::order::v1::OrderItem;
using ::order::v1::OrderStatus;
using ::order::v1::StreamOrderUpdatesRequest;
using ::order::v1::StreamOrderUpdatesResponse;
using ::order::v1::UploadOrderEventsRequest;
using ::order::v1::UploadOrderEventsResponse;
using user_service::DeadlineIn;
using user_service::IsAppError;
using user_service::IsOk;
using user_service::kCallTimeout;
using user_service::kExitTimeout;
using user_service::TempDir;
using user_service::UserClient;

constexpr OrderStatus kPending = ::order::v1::ORDER_STATUS_PENDING;
constexpr OrderStatus kConfirmed = ::order::v1::ORDER_STATUS_CONFIRMED;
constexpr OrderStatus kShipped = ::order::v1::ORDER_STATUS_SHIPPED;
constexpr OrderStatus kDelivered = ::order::v1::ORDER_STATUS_DELIVERED;
constexpr OrderStatus kCancelled = ::order::v1::ORDER_STATUS_CANCELLED;
constexpr OrderStatus kUnspecified = ::order::v1::ORDER_STATUS_UNSPECIFIED;

// The breaker may stay open for its 5 s cool-down; reconnecting and probing come on top.
constexpr absl::Duration kRecoveryTimeout = absl::Seconds(20);
constexpr absl::Duration kStreamTimeout = absl::Seconds(30);
constexpr char kUserService[] = "user.v1.UserService";

// `status` has gRPC code `code` and an AppError detail with `app_code` (any field).
::testing::AssertionResult IsAppErrorCode(const grpc::Status& status, grpc::StatusCode code,
                                          ::common::v1::ErrorCode app_code) {
  if (status.error_code() != code) {
    return ::testing::AssertionFailure()
           << "gRPC code " << errors::GoCodeName(status.error_code()) << " (\""
           << status.error_message() << "\"), want " << errors::GoCodeName(code);
  }
  const std::optional<::common::v1::AppError> error = errors::AppErrorOf(status);
  if (!error.has_value()) {
    return ::testing::AssertionFailure() << errors::GoCodeName(code) << " without an AppError";
  }
  if (error->code() != app_code) {
    return ::testing::AssertionFailure()
           << "AppError {" << error->ShortDebugString() << "}, want code "
           << ::common::v1::ErrorCode_Name(app_code);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult AppErrorIs(const ::common::v1::AppError& error,
                                      ::common::v1::ErrorCode code, const std::string& field) {
  if (error.code() == code && error.field() == field) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "AppError {" << error.ShortDebugString() << "}, want code "
         << ::common::v1::ErrorCode_Name(code) << " and field \"" << field << "\"";
}

OrderItem Item(const std::string& product_id, int32_t quantity, int64_t price_cents) {
  OrderItem item;
  item.set_product_id(product_id);
  item.set_quantity(quantity);
  item.set_price_cents(price_cents);
  return item;
}

UploadOrderEventsRequest Event(const std::string& order_id, OrderStatus status,
                               const std::string& note = "") {
  UploadOrderEventsRequest event;
  event.set_order_id(order_id);
  event.set_new_status(status);
  event.set_note(note);
  return event;
}

// order.v1.OrderService's calls, each with a deadline.
class OrderClient {
 public:
  explicit OrderClient(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(::order::v1::OrderService::NewStub(channel)) {}

  grpc::Status Create(const std::string& user_id, const std::vector<OrderItem>& items,
                      Order* order = nullptr, const std::string& request_id = "",
                      absl::Duration timeout = kCallTimeout) const {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(timeout));
    ::order::v1::CreateOrderRequest request;
    request.set_user_id(user_id);
    for (const OrderItem& item : items) *request.add_items() = item;
    request.set_request_id(request_id);
    ::order::v1::CreateOrderResponse response;
    const grpc::Status status = stub_->CreateOrder(&context, request, &response);
    if (order != nullptr) *order = response.order();
    return status;
  }

  grpc::Status Get(const std::string& id, Order* order = nullptr) const {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    ::order::v1::GetOrderRequest request;
    request.set_id(id);
    ::order::v1::GetOrderResponse response;
    const grpc::Status status = stub_->GetOrder(&context, request, &response);
    if (order != nullptr) *order = response.order();
    return status;
  }

  grpc::Status List(const ::order::v1::ListOrdersRequest& request,
                    ::order::v1::ListOrdersResponse* response) const {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    return stub_->ListOrders(&context, request, response);
  }

  grpc::Status List(const std::string& user_id, ::order::v1::ListOrdersResponse* response,
                    int32_t page = 0, int32_t page_size = 0,
                    OrderStatus status_filter = kUnspecified) const {
    ::order::v1::ListOrdersRequest request;
    request.set_user_id(user_id);
    request.mutable_page()->set_page(page);
    request.mutable_page()->set_page_size(page_size);
    request.set_status_filter(status_filter);
    return List(request, response);
  }

  grpc::Status Cancel(const std::string& id, const std::string& reason,
                      Order* order = nullptr) const {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    ::order::v1::CancelOrderRequest request;
    request.set_id(id);
    request.set_reason(reason);
    ::order::v1::CancelOrderResponse response;
    const grpc::Status status = stub_->CancelOrder(&context, request, &response);
    if (order != nullptr) *order = response.order();
    return status;
  }

  grpc::Status Upload(const std::vector<UploadOrderEventsRequest>& events,
                      UploadOrderEventsResponse* response) const {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kCallTimeout));
    std::unique_ptr<grpc::ClientWriter<UploadOrderEventsRequest>> writer =
        stub_->UploadOrderEvents(&context, response);
    for (const UploadOrderEventsRequest& event : events) {
      if (!writer->Write(event)) break;  // the call ended; Finish() says how
    }
    writer->WritesDone();
    return writer->Finish();
  }

 private:
  std::unique_ptr<::order::v1::OrderService::Stub> stub_;
};

// One StreamOrderUpdates call, bounded by its deadline; cancelled when destroyed unless
// finished.
class UpdateStream {
 public:
  explicit UpdateStream(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(::order::v1::OrderService::NewStub(channel)) {
    context_.set_deadline(DeadlineIn(kStreamTimeout));
    stream_ = stub_->StreamOrderUpdates(&context_);
  }
  ~UpdateStream() {
    if (!finished_) {
      context_.TryCancel();
      while (Next().has_value()) {
      }
      (void)stream_->Finish();
    }
  }
  UpdateStream(const UpdateStream&) = delete;
  UpdateStream& operator=(const UpdateStream&) = delete;

  bool Subscribe(const std::string& order_id) {
    StreamOrderUpdatesRequest request;
    request.set_order_id(order_id);
    return stream_->Write(request);
  }
  bool Unsubscribe(const std::string& order_id) {
    StreamOrderUpdatesRequest request;
    request.set_order_id(order_id);
    request.set_unsubscribe(true);
    return stream_->Write(request);
  }
  bool WritesDone() { return stream_->WritesDone(); }

  std::optional<StreamOrderUpdatesResponse> Next() {
    StreamOrderUpdatesResponse response;
    if (stream_->Read(&response)) return response;
    return std::nullopt;
  }

  grpc::Status Finish() {
    finished_ = true;
    return stream_->Finish();
  }

 private:
  std::unique_ptr<::order::v1::OrderService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<StreamOrderUpdatesRequest, StreamOrderUpdatesResponse>>
      stream_;
  bool finished_ = false;
};

std::string Describe(const std::optional<StreamOrderUpdatesResponse>& response) {
  return response.has_value() ? response->ShortDebugString() : std::string("<end of stream>");
}

// hermes-user on `data_dir`, ports picked by the binary.
std::unique_ptr<ServiceProcess> StartUser(const std::string& data_dir) {
  return std::make_unique<ServiceProcess>(ServiceOptions{.binary = HERMES_USER_BIN,
                                                         .ca = &SharedTestCa(),
                                                         .server_identity = "user",
                                                         .extra_args = {"--data_dir=" + data_dir}});
}

// hermes-order on `data_dir`, calling the user service at `user_target`.
std::unique_ptr<ServiceProcess> StartOrder(const std::string& data_dir,
                                           const std::string& user_target) {
  return std::make_unique<ServiceProcess>(ServiceOptions{
      .binary = HERMES_ORDER_BIN,
      .ca = &SharedTestCa(),
      .server_identity = "order",
      .extra_args = {"--data_dir=" + data_dir, "--user_service_addr=" + user_target}});
}

// hermes-user on a fixed port (so that it can come back where the order service looks for it).
class FixedPortUser {
 public:
  FixedPortUser(const std::string& data_dir, int port) : port_(port) {
    const IdentityFiles files = SharedTestCa().Identity("user");
    process_ = std::make_unique<Subprocess>(std::vector<std::string>{
        HERMES_USER_BIN, absl::StrCat("--grpc_addr=127.0.0.1:", port), "--metrics_addr=127.0.0.1:0",
        "--tls_ca=" + files.ca, "--tls_cert=" + files.cert, "--tls_key=" + files.key,
        "--data_dir=" + data_dir});
  }

  ::testing::AssertionResult WaitUntilServing() {
    const absl::Status status = WaitForServing(Channel(), "", absl::Seconds(20));
    if (status.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "not SERVING: " << status << "\n--- output ---\n"
                                         << process_->Output();
  }

  std::shared_ptr<grpc::Channel> Channel() const {
    return TestChannel(LoopbackAddress(port_), SharedTestCa().ClientCredentials("admin"));
  }

  // SIGTERM and a clean exit within a bounded time.
  ::testing::AssertionResult Stop() { return StopProcess(*process_); }
  // SIGSTOP / SIGCONT: a user service that accepts connections but never answers.
  bool Freeze() { return process_->Pause(absl::Seconds(10)); }
  void Thaw() { process_->Signal(SIGCONT); }

  static ::testing::AssertionResult StopProcess(Subprocess& process) {
    process.Signal(SIGTERM);
    const std::optional<int> status = process.WaitForExit(kExitTimeout);
    if (!status.has_value()) {
      return ::testing::AssertionFailure() << "still running after SIGTERM\n" << process.Output();
    }
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      return ::testing::AssertionFailure() << "wait status " << *status << " after SIGTERM\n"
                                           << process.Output();
    }
    return ::testing::AssertionSuccess();
  }

 private:
  int port_;
  std::unique_ptr<Subprocess> process_;
};

::user::v1::User CreateUser(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& email) {
  ::user::v1::User user;
  const grpc::Status status = UserClient(channel).Create(email, "Order Tester", &user);
  EXPECT_TRUE(IsOk(status)) << "CreateUser " << email;
  return user;
}

std::optional<double> Metric(int port, const std::string& name,
                             const std::vector<std::pair<std::string, std::string>>& labels) {
  absl::StatusOr<std::string> body = HttpGet(port, "/metrics");
  if (!body.ok()) return std::nullopt;
  return MetricValue(*body, name, labels);
}

// One of the order service's streaming methods' counts (messages received and sent, ends with
// OK), read from its /metrics when made; each accessor says how far the count has moved since
// (nullopt when it cannot be read now; a count unreadable when made counts from -1).
class StreamCounts {
 public:
  StreamCounts(int metrics_port, const std::string& method, const std::string& type)
      : port_(metrics_port),
        labels_(MethodLabels("order.v1.OrderService", method, type)),
        ended_ok_(WithCode(labels_, "OK")),
        received_(Now(kReceived, labels_).value_or(-1)),
        sent_(Now(kSent, labels_).value_or(-1)),
        ok_(Now(kHandled, ended_ok_).value_or(-1)) {}

  std::optional<double> Received() const { return Since(kReceived, labels_, received_); }
  std::optional<double> Sent() const { return Since(kSent, labels_, sent_); }
  std::optional<double> EndedOk() const { return Since(kHandled, ended_ok_, ok_); }
  std::optional<double> InFlight() const { return Now("grpc_server_in_flight", labels_); }

 private:
  static constexpr char kReceived[] = "grpc_server_msg_received_total";
  static constexpr char kSent[] = "grpc_server_msg_sent_total";
  static constexpr char kHandled[] = "grpc_server_handled_total";

  std::optional<double> Now(const std::string& name, const MetricLabels& labels) const {
    return Metric(port_, name, labels);
  }
  std::optional<double> Since(const std::string& name, const MetricLabels& labels,
                              double before) const {
    const std::optional<double> now = Now(name, labels);
    if (!now.has_value()) return std::nullopt;
    return *now - before;
  }

  const int port_;
  const MetricLabels labels_;
  const MetricLabels ended_ok_;
  const double received_;
  const double sent_;
  const double ok_;
};

// Polls the metric until it equals `want` or `timeout` passes; returns the last value.
std::optional<double> WaitForMetric(int port, const std::string& name,
                                    const std::vector<std::pair<std::string, std::string>>& labels,
                                    double want, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  std::optional<double> value;
  while (true) {
    value = Metric(port, name, labels);
    if ((value.has_value() && *value == want) || absl::Now() >= deadline) return value;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// Fixture: a user service and an order service, each on its own data directory, and one ACTIVE
// user created through the user service as admin.
class OrderServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    user_server_ = StartUser(user_dir_.path());
    ASSERT_TRUE(user_server_->WaitUntilServing());
    ASSERT_NO_FATAL_FAILURE(StartOrderService());
    user_ = CreateUser(user_server_->Channel(), "buyer@example.com");
    ASSERT_FALSE(user_.id().empty());
  }

  void StartOrderService() {
    order_server_ = StartOrder(order_dir_.path(), "ipv4:" + user_server_->address());
    ASSERT_TRUE(order_server_->WaitUntilServing());
  }

  ::testing::AssertionResult StopOrderService() {
    return FixedPortUser::StopProcess(order_server_->process());
  }

  OrderClient Orders(const std::string& identity = "admin") const {
    return OrderClient(order_server_->Channel(identity));
  }

  // A new PENDING order of user_ with one item.
  Order NewOrder(const std::string& product = "sku-1") const {
    Order order;
    EXPECT_TRUE(IsOk(Orders().Create(user_.id(), {Item(product, 1, 100)}, &order)));
    return order;
  }

  // Moves `order_id` through `steps` with UploadOrderEvents; every step must be accepted.
  void Advance(const std::string& order_id, const std::vector<OrderStatus>& steps) const {
    std::vector<UploadOrderEventsRequest> events;
    for (OrderStatus step : steps) events.push_back(Event(order_id, step, "step"));
    UploadOrderEventsResponse response;
    ASSERT_TRUE(IsOk(Orders().Upload(events, &response)));
    ASSERT_EQ(response.accepted(), static_cast<int32_t>(steps.size()))
        << response.ShortDebugString();
  }

  TempDir user_dir_;
  TempDir order_dir_;
  std::unique_ptr<ServiceProcess> user_server_;
  std::unique_ptr<ServiceProcess> order_server_;
  ::user::v1::User user_;
};

// --- CreateOrder --------------------------------------------------------------------------

TEST_F(OrderServiceTest, CreateOrder_IsPending_TotalExact_ItemsRoundTrip) {
  constexpr int64_t kHalfMax = std::numeric_limits<int64_t>::max() / 2;
  const std::vector<OrderItem> items = {Item("sku-a", 3, 1999), Item("sku-b", 1, 0),
                                        Item("sku-c", 10000, 7)};
  Order order;
  ASSERT_TRUE(IsOk(Orders("client").Create(user_.id(), items, &order)));
  EXPECT_FALSE(order.id().empty());
  EXPECT_EQ(order.user_id(), user_.id());
  EXPECT_EQ(order.status(), kPending);
  EXPECT_EQ(order.total_cents(), 3 * 1999 + 0 + 10000 * 7);
  EXPECT_TRUE(order.has_created_at());
  EXPECT_TRUE(order.cancel_reason().empty());
  ASSERT_EQ(order.items_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(order.items(i).ShortDebugString(), items[static_cast<size_t>(i)].ShortDebugString());
  }

  Order fetched;
  ASSERT_TRUE(IsOk(Orders().Get(order.id(), &fetched)));
  EXPECT_EQ(fetched.ShortDebugString(), order.ShortDebugString());

  // Exact at the edge of int64: (INT64_MAX / 2) × 2 = INT64_MAX - 1, no overflow.
  Order big;
  ASSERT_TRUE(IsOk(Orders().Create(user_.id(), {Item("sku-big", 2, kHalfMax)}, &big)));
  EXPECT_EQ(big.total_cents(), std::numeric_limits<int64_t>::max() - 1);
}

// Headers a gRPC client cannot send but HTTP/2 carries (a tab inside a value; curl sends them),
// on the headers the order service passes on to the user service: x-request-id (a second one
// behind an invalid first), traceparent, tracestate. gRPC refuses to send such a value, and a
// call with one aborts the process: each of these once took hermes-order down. Now each call is
// answered (the order created) and the service stays up.
TEST_F(OrderServiceTest, CreateOrder_HeadersGrpcCannotSendOn_AnsweredAndTheServiceStaysUp) {
  ::order::v1::CreateOrderRequest request;
  request.set_user_id(user_.id());
  *request.add_items() = Item("sku-h", 1, 100);
  const std::string message = request.SerializeAsString();
  std::string frame(5, '\0');  // gRPC's length-prefixed message: uncompressed, 4-byte length
  for (int i = 0; i < 4; ++i) {
    frame[static_cast<size_t>(4 - i)] = static_cast<char>((message.size() >> (8 * i)) & 0xff);
  }
  const std::string body = order_dir_.path() + "/create-order.grpc";
  std::ofstream(body, std::ios::binary) << frame << message;
  const IdentityFiles admin = SharedTestCa().Identity("admin");
  const std::string valid_traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

  const std::vector<std::vector<std::string>> header_sets = {
      {"tracestate: a=b\tc", "traceparent: " + valid_traceparent},
      {"tracestate: a=b,\tc=d", "traceparent: " + valid_traceparent},
      {"x-request-id: a b", "x-request-id: x\ty"},
      {"traceparent: 0\t0"},
  };
  for (const std::vector<std::string>& headers : header_sets) {
    std::vector<std::string> argv = {HERMES_CURL,     "--silent",
                                     "--show-error",  "--http2",
                                     "--max-time",    "20",
                                     "--cacert",      SharedTestCa().ca_file(),
                                     "--cert",        admin.cert,
                                     "--key",         admin.key,
                                     "--dump-header", "-",
                                     "--output",      "/dev/null",
                                     "--header",      "content-type: application/grpc",
                                     "--header",      "te: trailers",
                                     "--data-binary", "@" + body};
    for (const std::string& header : headers) {
      argv.push_back("--header");
      argv.push_back(header);
    }
    argv.push_back(absl::StrCat("https://127.0.0.1:", order_server_->grpc_port(),
                                "/order.v1.OrderService/CreateOrder"));
    Subprocess curl(argv);
    ASSERT_TRUE(curl.WaitForExit(absl::Seconds(30)).has_value()) << curl.Output();
    // The trailers are in the dump: grpc-status 0, the order created.
    EXPECT_NE(curl.Output().find("grpc-status: 0"), std::string::npos) << headers.front() << "\n"
                                                                       << curl.Output() << "\n"
                                                                       << order_server_->Output();
    ASSERT_FALSE(order_server_->process().WaitForExit(absl::ZeroDuration()).has_value())
        << "hermes-order died on " << headers.front() << "\n"
        << order_server_->Output();
  }
  EXPECT_NO_FATAL_FAILURE(NewOrder());  // and it goes on serving
}

TEST_F(OrderServiceTest, CreateOrder_UnknownUserNotFound_InactiveUserFailedPrecondition) {
  EXPECT_TRUE(IsAppError(Orders().Create("no-such-user", {Item("sku", 1, 1)}),
                         grpc::StatusCode::NOT_FOUND, ERROR_CODE_NOT_FOUND, "user_id"));
  // The order service's log line for its failed call to the user service carries the trace.
  EXPECT_TRUE(order_server_->WaitForOutput(R"("msg":"outgoing call failed")"))
      << order_server_->Output();
  const std::regex traced(R"("msg":"outgoing call failed".*"trace_id":"[0-9a-f]{32}")");
  std::istringstream lines(order_server_->Output());
  bool found = false;
  for (std::string line; std::getline(lines, line);)
    found = found || std::regex_search(line, traced);
  EXPECT_TRUE(found) << order_server_->Output();

  ::user::v1::UpdateUserRequest update;
  update.set_id(user_.id());
  update.set_status(::user::v1::USER_STATUS_INACTIVE);
  ASSERT_TRUE(IsOk(UserClient(user_server_->Channel()).Update(update)));
  const grpc::Status inactive = Orders().Create(user_.id(), {Item("sku", 1, 1)});
  EXPECT_TRUE(IsAppError(inactive, grpc::StatusCode::FAILED_PRECONDITION,
                         ERROR_CODE_FAILED_PRECONDITION, "user_id"));
  EXPECT_EQ(inactive.error_message(), "the user is not ACTIVE (it is USER_STATUS_INACTIVE)");

  ::order::v1::ListOrdersResponse list;
  ASSERT_TRUE(IsOk(Orders().List(user_.id(), &list)));
  EXPECT_EQ(list.orders_size(), 0);
}

TEST_F(OrderServiceTest, CreateOrder_ItemValidation_FieldPaths) {
  const OrderClient orders = Orders();
  const auto invalid = [&](const std::vector<OrderItem>& items, const std::string& field) {
    return IsAppError(orders.Create(user_.id(), items), grpc::StatusCode::INVALID_ARGUMENT,
                      ERROR_CODE_INVALID_ARGUMENT, field);
  };
  EXPECT_TRUE(invalid({}, "items")) << "0 items";
  EXPECT_TRUE(invalid(std::vector<OrderItem>(101, Item("sku", 1, 1)), "items")) << "101 items";
  EXPECT_TRUE(invalid({Item("a", 1, 1), Item("b", 1, 1), Item("c", 0, 1)}, "items[2].quantity"));
  EXPECT_TRUE(invalid({Item("a", 10001, 1)}, "items[0].quantity"));
  EXPECT_TRUE(invalid({Item("", 1, 1)}, "items[0].product_id"));
  EXPECT_TRUE(invalid({Item(std::string(65, 'p'), 1, 1)}, "items[0].product_id"));
  EXPECT_TRUE(invalid({Item("a", 1, -1)}, "items[0].price_cents"));

  // Overflow of quantity × price, and of the sum.
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(IsAppErrorCode(orders.Create(user_.id(), {Item("a", 2, kMax - 1)}),
                             grpc::StatusCode::INVALID_ARGUMENT, ERROR_CODE_INVALID_ARGUMENT));
  EXPECT_TRUE(IsAppErrorCode(
      orders.Create(user_.id(), {Item("a", 1, kMax / 2 + 1), Item("b", 1, kMax / 2 + 1)}),
      grpc::StatusCode::INVALID_ARGUMENT, ERROR_CODE_INVALID_ARGUMENT));

  // The limits themselves are fine: 100 items, 64-character product ids.
  Order order;
  EXPECT_TRUE(
      IsOk(orders.Create(user_.id(), std::vector<OrderItem>(100, Item("sku", 1, 1)), &order)));
  EXPECT_EQ(order.items_size(), 100);
  EXPECT_TRUE(IsOk(orders.Create(user_.id(), {Item(std::string(64, 'p'), 1, 1)})));

  ::order::v1::ListOrdersResponse list;
  ASSERT_TRUE(IsOk(orders.List(user_.id(), &list)));
  EXPECT_EQ(list.page().total(), 2) << "rejected requests created orders";
}

TEST_F(OrderServiceTest, CreateOrder_RepeatedRequestIdReturnsSameOrder) {
  const OrderClient orders = Orders();
  Order first, second;
  ASSERT_TRUE(IsOk(orders.Create(user_.id(), {Item("sku", 2, 50)}, &first, "req-1")));
  ASSERT_TRUE(IsOk(orders.Create(user_.id(), {Item("sku", 2, 50)}, &second, "req-1")));
  EXPECT_EQ(second.id(), first.id());
  EXPECT_EQ(second.total_cents(), first.total_cents());

  ::order::v1::ListOrdersResponse list;
  ASSERT_TRUE(IsOk(orders.List(user_.id(), &list)));
  ASSERT_EQ(list.orders_size(), 1);
  EXPECT_EQ(list.orders(0).id(), first.id());
  EXPECT_EQ(list.page().total(), 1);

  // Another request id, or none, creates a new order.
  Order third;
  ASSERT_TRUE(IsOk(orders.Create(user_.id(), {Item("sku", 2, 50)}, &third, "req-2")));
  EXPECT_NE(third.id(), first.id());
}

// A retry is recognised by its user and request_id alone: one whose body differs, even one that
// would be refused on its own (no items, a zero quantity), returns the first order unchanged;
// a new request_id with that body is refused.
TEST_F(OrderServiceTest, CreateOrder_RetryWithABodyThatWouldBeRefused_ReturnsTheFirstOrder) {
  const OrderClient orders = Orders();
  Order first;
  ASSERT_TRUE(IsOk(orders.Create(user_.id(), {Item("sku", 2, 50)}, &first, "req-body")));
  Order again;
  ASSERT_TRUE(IsOk(orders.Create(user_.id(), {}, &again, "req-body")));
  EXPECT_EQ(again.id(), first.id());
  ASSERT_TRUE(IsOk(orders.Create(user_.id(), {Item("sku", 0, 50)}, &again, "req-body")));
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(again.total_cents(), 100);
  EXPECT_TRUE(IsAppError(orders.Create(user_.id(), {Item("sku", 0, 50)}, nullptr, "req-other"),
                         grpc::StatusCode::INVALID_ARGUMENT, ERROR_CODE_INVALID_ARGUMENT,
                         "items[0].quantity"));
}

TEST_F(OrderServiceTest, CreateOrder_ConcurrentRetriesWithSameRequestIdCreateOneOrder) {
  constexpr int kRounds = 5;
  constexpr int kClients = 2;
  for (int round = 0; round < kRounds; ++round) {
    const std::string request_id = absl::StrCat("concurrent-", round);
    std::vector<OrderClient> clients;
    for (int c = 0; c < kClients; ++c) clients.emplace_back(order_server_->Channel("client"));
    std::vector<grpc::Status> statuses(kClients);
    std::vector<Order> created(kClients);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c) {
      threads.emplace_back([&, c] {
        ready.fetch_add(1);
        while (ready.load() < kClients) std::this_thread::yield();
        const auto i = static_cast<size_t>(c);
        statuses[i] = clients[i].Create(user_.id(), {Item("sku", 1, 10)}, &created[i], request_id);
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (int c = 0; c < kClients; ++c) {
      ASSERT_TRUE(IsOk(statuses[static_cast<size_t>(c)])) << "round " << round << " client " << c;
    }
    EXPECT_EQ(created[0].id(), created[1].id()) << "round " << round;
  }
  ::order::v1::ListOrdersResponse list;
  ASSERT_TRUE(IsOk(Orders().List(user_.id(), &list, 1, 100)));
  EXPECT_EQ(list.page().total(), kRounds);
  EXPECT_EQ(list.orders_size(), kRounds);
}

// --- GetOrder, ListOrders -----------------------------------------------------------------

TEST_F(OrderServiceTest, GetOrderUnknown_ListOrdersNewestFirstPagingFilterAndUserIdRequired) {
  const OrderClient orders = Orders();
  EXPECT_TRUE(IsAppError(orders.Get("no-such-order"), grpc::StatusCode::NOT_FOUND,
                         ERROR_CODE_NOT_FOUND, "id"));
  // GetOrder parses its own request (it is registered raw): a request that does not parse is
  // API.md's INVALID_ARGUMENT naming the field.
  EXPECT_TRUE(IsAppError(orders.Get("\xff\xfe"), grpc::StatusCode::INVALID_ARGUMENT,
                         ERROR_CODE_INVALID_ARGUMENT, "id"));

  const Order a = NewOrder("a");
  const Order b = NewOrder("b");
  const Order c = NewOrder("c");
  ASSERT_TRUE(IsOk(orders.Cancel(b.id(), "changed my mind")));
  // Another user's order never shows up in this user's list.
  const ::user::v1::User other = CreateUser(user_server_->Channel(), "other@example.com");
  Order foreign;
  ASSERT_TRUE(IsOk(orders.Create(other.id(), {Item("x", 1, 1)}, &foreign)));

  ::order::v1::ListOrdersResponse all;
  ASSERT_TRUE(IsOk(orders.List(user_.id(), &all)));
  ASSERT_EQ(all.orders_size(), 3);
  EXPECT_EQ(all.orders(0).id(), c.id());
  EXPECT_EQ(all.orders(1).id(), b.id());
  EXPECT_EQ(all.orders(2).id(), a.id());
  EXPECT_EQ(all.page().total(), 3);
  EXPECT_EQ(all.page().page(), 1);
  EXPECT_EQ(all.page().page_size(), 20);
  EXPECT_FALSE(all.page().has_next());

  ::order::v1::ListOrdersResponse page1, page2;
  ASSERT_TRUE(IsOk(orders.List(user_.id(), &page1, 1, 2)));
  ASSERT_EQ(page1.orders_size(), 2);
  EXPECT_EQ(page1.orders(0).id(), c.id());
  EXPECT_EQ(page1.orders(1).id(), b.id());
  EXPECT_TRUE(page1.page().has_next());
  EXPECT_EQ(page1.page().total(), 3);
  ASSERT_TRUE(IsOk(orders.List(user_.id(), &page2, 2, 2)));
  ASSERT_EQ(page2.orders_size(), 1);
  EXPECT_EQ(page2.orders(0).id(), a.id());
  EXPECT_FALSE(page2.page().has_next());

  ::order::v1::ListOrdersResponse clamped;
  ASSERT_TRUE(IsOk(orders.List(user_.id(), &clamped, 1, 1000)));
  EXPECT_EQ(clamped.page().page_size(), 100);

  ::order::v1::ListOrdersResponse pending, cancelled;
  ASSERT_TRUE(IsOk(orders.List(user_.id(), &pending, 0, 0, kPending)));
  ASSERT_EQ(pending.orders_size(), 2);
  EXPECT_EQ(pending.orders(0).id(), c.id());
  EXPECT_EQ(pending.orders(1).id(), a.id());
  EXPECT_EQ(pending.page().total(), 2);
  ASSERT_TRUE(IsOk(orders.List(user_.id(), &cancelled, 0, 0, kCancelled)));
  ASSERT_EQ(cancelled.orders_size(), 1);
  EXPECT_EQ(cancelled.orders(0).id(), b.id());

  ::order::v1::ListOrdersResponse ignored;
  EXPECT_TRUE(IsAppError(orders.List("", &ignored), grpc::StatusCode::INVALID_ARGUMENT,
                         ERROR_CODE_INVALID_ARGUMENT, "user_id"));
  EXPECT_TRUE(IsAppError(orders.List(user_.id(), &ignored, -1, 0),
                         grpc::StatusCode::INVALID_ARGUMENT, ERROR_CODE_INVALID_ARGUMENT,
                         "page.page"));
  EXPECT_TRUE(IsAppError(orders.List(user_.id(), &ignored, 0, -1),
                         grpc::StatusCode::INVALID_ARGUMENT, ERROR_CODE_INVALID_ARGUMENT,
                         "page.page_size"));
}

// --- CancelOrder --------------------------------------------------------------------------

TEST_F(OrderServiceTest, CancelOrder_FromPendingAndConfirmed_NotFromShipped_ReasonChecked) {
  const OrderClient orders = Orders("client");
  const Order pending = NewOrder();
  Order cancelled;
  ASSERT_TRUE(IsOk(orders.Cancel(pending.id(), "changed my mind", &cancelled)));
  EXPECT_EQ(cancelled.status(), kCancelled);
  EXPECT_EQ(cancelled.cancel_reason(), "changed my mind");
  Order fetched;
  ASSERT_TRUE(IsOk(orders.Get(pending.id(), &fetched)));
  EXPECT_EQ(fetched.status(), kCancelled);
  EXPECT_EQ(fetched.cancel_reason(), "changed my mind");
  // Cancelled is final.
  EXPECT_TRUE(IsAppErrorCode(orders.Cancel(pending.id(), "again"),
                             grpc::StatusCode::FAILED_PRECONDITION,
                             ERROR_CODE_FAILED_PRECONDITION));

  const Order confirmed = NewOrder();
  ASSERT_NO_FATAL_FAILURE(Advance(confirmed.id(), {kConfirmed}));
  // 500 characters (1000 bytes of UTF-8) is the longest reason.
  std::string long_reason;
  for (int i = 0; i < 500; ++i) long_reason += "\xc3\xa9";  // é
  ASSERT_TRUE(IsOk(orders.Cancel(confirmed.id(), long_reason, &cancelled)));
  EXPECT_EQ(cancelled.status(), kCancelled);
  EXPECT_EQ(cancelled.cancel_reason(), long_reason);

  const Order shipped = NewOrder();
  ASSERT_NO_FATAL_FAILURE(Advance(shipped.id(), {kConfirmed, kShipped}));
  EXPECT_TRUE(IsAppError(orders.Cancel(shipped.id(), "too late"),
                         grpc::StatusCode::FAILED_PRECONDITION, ERROR_CODE_FAILED_PRECONDITION,
                         "id"));
  ASSERT_TRUE(IsOk(orders.Get(shipped.id(), &fetched)));
  EXPECT_EQ(fetched.status(), kShipped);
  EXPECT_TRUE(fetched.cancel_reason().empty());

  const Order other = NewOrder();
  EXPECT_TRUE(IsAppError(orders.Cancel(other.id(), ""), grpc::StatusCode::INVALID_ARGUMENT,
                         ERROR_CODE_INVALID_ARGUMENT, "reason"));
  EXPECT_TRUE(IsAppError(orders.Cancel(other.id(), std::string(501, 'x')),
                         grpc::StatusCode::INVALID_ARGUMENT, ERROR_CODE_INVALID_ARGUMENT,
                         "reason"));
  EXPECT_TRUE(IsAppError(orders.Cancel("no-such-order", "why"), grpc::StatusCode::NOT_FOUND,
                         ERROR_CODE_NOT_FOUND, "id"));
  ASSERT_TRUE(IsOk(orders.Get(other.id(), &fetched)));
  EXPECT_EQ(fetched.status(), kPending);
}

// --- UploadOrderEvents --------------------------------------------------------------------

TEST_F(OrderServiceTest, UploadOrderEvents_MixedStream_CountsRejectionsAndStreamOrder) {
  const Order a = NewOrder("a");
  const Order b = NewOrder("b");
  const Order c = NewOrder("c");
  const std::vector<UploadOrderEventsRequest> events = {
      Event(a.id(), kConfirmed),                  // 0 ok
      Event(b.id(), kShipped),                    // 1 skips CONFIRMED
      Event("no-such-order", kConfirmed),         // 2 unknown order
      Event(a.id(), kUnspecified),                // 3 no status
      Event(a.id(), kShipped),                    // 4 ok: only after 0 was applied
      Event(c.id(), kCancelled),                  // 5 cancel without a note
      Event(c.id(), kCancelled, "out of stock"),  // 6 ok
      Event(b.id(), kConfirmed),                  // 7 ok
      Event(a.id(), kDelivered, "left at door"),  // 8 ok
      Event(c.id(), kConfirmed),                  // 9 cancelled is final
  };
  // The stream runs the server's chain itself (no gRPC interceptor on it): each message is
  // counted as received, the summary as sent, and its end by its code.
  const StreamCounts counts(order_server_->metrics_port(), "UploadOrderEvents", "client_stream");
  UploadOrderEventsResponse response;
  ASSERT_TRUE(IsOk(Orders().Upload(events, &response)));
  EXPECT_EQ(counts.Received(), 10);
  EXPECT_EQ(counts.Sent(), 1);
  EXPECT_EQ(counts.EndedOk(), 1);
  EXPECT_EQ(counts.InFlight(), std::optional<double>(0));
  EXPECT_EQ(response.accepted(), 5) << response.ShortDebugString();
  EXPECT_EQ(response.rejected(), 5) << response.ShortDebugString();
  ASSERT_EQ(response.rejections_size(), 5) << response.ShortDebugString();
  EXPECT_EQ(response.rejections(0).index(), 1);
  EXPECT_TRUE(
      AppErrorIs(response.rejections(0).error(), ERROR_CODE_FAILED_PRECONDITION, "new_status"));
  EXPECT_EQ(response.rejections(1).index(), 2);
  EXPECT_TRUE(AppErrorIs(response.rejections(1).error(), ERROR_CODE_NOT_FOUND, "order_id"));
  EXPECT_EQ(response.rejections(2).index(), 3);
  EXPECT_TRUE(
      AppErrorIs(response.rejections(2).error(), ERROR_CODE_INVALID_ARGUMENT, "new_status"));
  EXPECT_EQ(response.rejections(3).index(), 5);
  EXPECT_TRUE(AppErrorIs(response.rejections(3).error(), ERROR_CODE_INVALID_ARGUMENT, "note"));
  EXPECT_EQ(response.rejections(4).index(), 9);
  EXPECT_TRUE(
      AppErrorIs(response.rejections(4).error(), ERROR_CODE_FAILED_PRECONDITION, "new_status"));

  const OrderClient orders = Orders();
  Order fetched;
  ASSERT_TRUE(IsOk(orders.Get(a.id(), &fetched)));
  EXPECT_EQ(fetched.status(), kDelivered);
  EXPECT_TRUE(fetched.cancel_reason().empty());
  ASSERT_TRUE(IsOk(orders.Get(b.id(), &fetched)));
  EXPECT_EQ(fetched.status(), kConfirmed);
  ASSERT_TRUE(IsOk(orders.Get(c.id(), &fetched)));
  EXPECT_EQ(fetched.status(), kCancelled);
  EXPECT_EQ(fetched.cancel_reason(), "out of stock");

  // An empty stream is a valid upload of nothing.
  UploadOrderEventsResponse empty;
  ASSERT_TRUE(IsOk(orders.Upload({}, &empty)));
  EXPECT_EQ(empty.accepted(), 0);
  EXPECT_EQ(empty.rejected(), 0);
}

// A message that does not parse (a string that is not valid UTF-8; the C++ client serializes it
// regardless) is one more rejection, INVALID_ARGUMENT naming the field, and the messages after
// it are still applied: it neither ends the stream nor goes uncounted.
TEST_F(OrderServiceTest, UploadOrderEvents_MessageNotValidUtf8_RejectedAndTheRestApplied) {
  const Order a = NewOrder("a");
  const Order b = NewOrder("b");
  UploadOrderEventsResponse response;
  ASSERT_TRUE(IsOk(Orders().Upload({Event(a.id(), kConfirmed),                        // 0 ok
                                    Event(b.id(), kCancelled, "out of st\xC3\x28k"),  // 1
                                    Event("\xff" + a.id(), kShipped),                 // 2
                                    Event(a.id(), kShipped),                          // 3 ok
                                    Event(b.id(), kCancelled, "out of stock")},       // 4 ok
                                   &response)));
  EXPECT_EQ(response.accepted(), 3) << response.ShortDebugString();
  EXPECT_EQ(response.rejected(), 2) << response.ShortDebugString();
  ASSERT_EQ(response.rejections_size(), 2) << response.ShortDebugString();
  EXPECT_EQ(response.rejections(0).index(), 1);
  EXPECT_TRUE(AppErrorIs(response.rejections(0).error(), ERROR_CODE_INVALID_ARGUMENT, "note"));
  EXPECT_EQ(response.rejections(1).index(), 2);
  EXPECT_TRUE(AppErrorIs(response.rejections(1).error(), ERROR_CODE_INVALID_ARGUMENT, "order_id"));

  const OrderClient orders = Orders();
  Order fetched;
  ASSERT_TRUE(IsOk(orders.Get(a.id(), &fetched)));
  EXPECT_EQ(fetched.status(), kShipped);
  ASSERT_TRUE(IsOk(orders.Get(b.id(), &fetched)));
  EXPECT_EQ(fetched.status(), kCancelled);
  EXPECT_EQ(fetched.cancel_reason(), "out of stock");
}

// SIGTERM ends an upload that waits for its next message at once, UNAVAILABLE, saying how much
// of it was applied (ARCHITECTURE.md: "streams are ended with UNAVAILABLE"), rather than at the
// end of the grace period as CANCELLED, with the client left guessing.
TEST_F(OrderServiceTest, UploadOrderEvents_Shutdown_EndsUnavailableSayingWhatWasApplied) {
  const Order order = NewOrder();
  auto stub = ::order::v1::OrderService::NewStub(order_server_->Channel("admin"));
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(absl::Seconds(30)));
  UploadOrderEventsResponse response;
  std::unique_ptr<grpc::ClientWriter<UploadOrderEventsRequest>> writer =
      stub->UploadOrderEvents(&context, &response);
  EXPECT_TRUE(writer->Write(Event(order.id(), kConfirmed)));
  EXPECT_TRUE(writer->Write(Event(order.id(), kShipped)));
  // Both applied (the stream now waits for a third message that will not come).
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  Order fetched;
  while (IsOk(Orders().Get(order.id(), &fetched)) && fetched.status() != kShipped &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(fetched.status(), kShipped);

  const absl::Time stopping = absl::Now();
  EXPECT_TRUE(StopOrderService());
  // Well inside the default grace period of 10 s, after which gRPC would cancel the upload.
  EXPECT_LT(absl::Now() - stopping, absl::Seconds(8));
  const grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_NE(status.error_message().find(
                "the first 2 messages of this stream were applied (2 accepted, 0 rejected)"),
            std::string::npos)
      << status.error_message();
}

// --- StreamOrderUpdates -------------------------------------------------------------------

TEST_F(OrderServiceTest, StreamOrderUpdates_CurrentStatusThenChangesFromAnotherClientInOrder) {
  const Order order = NewOrder();
  UpdateStream stream(order_server_->Channel("client"));
  ASSERT_TRUE(stream.Subscribe(order.id()));
  std::optional<StreamOrderUpdatesResponse> update = stream.Next();
  ASSERT_TRUE(update.has_value());
  EXPECT_EQ(update->order_id(), order.id());
  EXPECT_EQ(update->status(), kPending);
  EXPECT_FALSE(update->has_error());

  // Fulfillment, on a channel of its own, one message per step.
  const OrderClient fulfillment(order_server_->Channel("admin"));
  UploadOrderEventsResponse response;
  ASSERT_TRUE(IsOk(fulfillment.Upload(
      {Event(order.id(), kConfirmed), Event(order.id(), kShipped), Event(order.id(), kDelivered)},
      &response)));
  ASSERT_EQ(response.accepted(), 3) << response.ShortDebugString();

  for (OrderStatus want : {kConfirmed, kShipped, kDelivered}) {
    update = stream.Next();
    ASSERT_TRUE(update.has_value()) << "waiting for " << ::order::v1::OrderStatus_Name(want);
    EXPECT_EQ(update->order_id(), order.id());
    EXPECT_EQ(update->status(), want) << Describe(update);
    EXPECT_FALSE(update->has_error());
    EXPECT_TRUE(update->has_updated_at());
  }
  ASSERT_TRUE(stream.WritesDone());
  update = stream.Next();
  EXPECT_FALSE(update.has_value()) << Describe(update);
  EXPECT_TRUE(IsOk(stream.Finish()));
}

TEST_F(OrderServiceTest, StreamOrderUpdates_UnknownIdErrorStreamStaysOpen_Unsubscribe) {
  const Order a = NewOrder("a");
  const Order b = NewOrder("b");
  UpdateStream stream(order_server_->Channel("client"));

  ASSERT_TRUE(stream.Subscribe("no-such-order"));
  std::optional<StreamOrderUpdatesResponse> update = stream.Next();
  ASSERT_TRUE(update.has_value());
  ASSERT_TRUE(update->has_error()) << Describe(update);
  EXPECT_TRUE(AppErrorIs(update->error(), ERROR_CODE_NOT_FOUND, "order_id")) << Describe(update);
  EXPECT_EQ(update->order_id(), "no-such-order") << Describe(update);

  // The stream is still open: later subscriptions work.
  ASSERT_TRUE(stream.Subscribe(a.id()));
  update = stream.Next();
  ASSERT_TRUE(update.has_value());
  EXPECT_EQ(update->order_id(), a.id()) << Describe(update);
  EXPECT_EQ(update->status(), kPending);
  EXPECT_FALSE(update->has_error());
  ASSERT_TRUE(stream.Subscribe(b.id()));
  update = stream.Next();
  ASSERT_TRUE(update.has_value());
  EXPECT_EQ(update->order_id(), b.id()) << Describe(update);
  EXPECT_EQ(update->status(), kPending);

  // Unsubscribed from a: a's change is not sent; b's, committed after it, is the next message.
  ASSERT_TRUE(stream.Unsubscribe(a.id()));
  // The unsubscribe travels on the stream; make sure it was processed before a changes: a
  // subscription to a third order after it answers only once the earlier requests were read.
  const Order c = NewOrder("c");
  ASSERT_TRUE(stream.Subscribe(c.id()));
  update = stream.Next();
  ASSERT_TRUE(update.has_value());
  EXPECT_EQ(update->order_id(), c.id()) << Describe(update);

  ASSERT_NO_FATAL_FAILURE(Advance(a.id(), {kConfirmed}));
  ASSERT_NO_FATAL_FAILURE(Advance(b.id(), {kConfirmed}));
  update = stream.Next();
  ASSERT_TRUE(update.has_value());
  EXPECT_EQ(update->order_id(), b.id())
      << "an update for an unsubscribed order: " << Describe(update);
  EXPECT_EQ(update->status(), kConfirmed);
}

// A request that does not parse (an order_id that is not valid UTF-8; the C++ client serializes
// it regardless) gets a reply naming the field, and the stream goes on: it is not taken for the
// client's half-close, which would end the stream OK.
TEST_F(OrderServiceTest, StreamOrderUpdates_RequestNotValidUtf8_ErrorReplyStreamGoesOn) {
  const Order order = NewOrder();
  UpdateStream stream(order_server_->Channel("client"));
  ASSERT_TRUE(stream.Subscribe("\xff" + order.id()));
  std::optional<StreamOrderUpdatesResponse> update = stream.Next();
  ASSERT_TRUE(update.has_value()) << "the stream ended";
  ASSERT_TRUE(update->has_error()) << Describe(update);
  EXPECT_TRUE(AppErrorIs(update->error(), ERROR_CODE_INVALID_ARGUMENT, "order_id"))
      << Describe(update);
  EXPECT_EQ(update->error().message(), "order_id is not valid UTF-8");
  EXPECT_EQ(update->order_id(), "") << Describe(update);

  ASSERT_TRUE(stream.Subscribe(order.id()));
  update = stream.Next();
  ASSERT_TRUE(update.has_value()) << "the stream ended";
  EXPECT_EQ(update->order_id(), order.id()) << Describe(update);
  EXPECT_EQ(update->status(), kPending);
  ASSERT_TRUE(stream.WritesDone());
  update = stream.Next();
  EXPECT_FALSE(update.has_value()) << Describe(update);
  EXPECT_TRUE(IsOk(stream.Finish()));
}

// SIGTERM ends an open update stream at once, UNAVAILABLE (ARCHITECTURE.md: "streams are ended
// with UNAVAILABLE"), instead of holding it until the grace period is over and then cancelling
// it; its last message says why (as for a stream that fell behind), with no order id. Then the
// process exits cleanly.
TEST_F(OrderServiceTest, StreamOrderUpdates_Shutdown_EndsUnavailableAtOnce) {
  const Order order = NewOrder();
  UpdateStream stream(order_server_->Channel("client"));
  ASSERT_TRUE(stream.Subscribe(order.id()));
  const std::optional<StreamOrderUpdatesResponse> current = stream.Next();
  ASSERT_TRUE(current.has_value());
  EXPECT_EQ(current->status(), kPending);

  const absl::Time signalled = absl::Now();
  order_server_->process().Signal(SIGTERM);
  const std::optional<StreamOrderUpdatesResponse> why = stream.Next();
  ASSERT_TRUE(why.has_value());
  EXPECT_TRUE(why->order_id().empty()) << Describe(why);
  EXPECT_NE(why->error().message().find("shutting down"), std::string::npos) << Describe(why);
  const std::optional<StreamOrderUpdatesResponse> after = stream.Next();
  EXPECT_FALSE(after.has_value()) << Describe(after);
  const grpc::Status status = stream.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // Well inside the grace period (10 s): the stream was ended, not waited for.
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(5));
  EXPECT_TRUE(StopOrderService());  // exits 0
}

TEST_F(OrderServiceTest, StreamOrderUpdates_HalfCloseEndsWithOkAfterEveryCurrentStatus) {
  const Order a = NewOrder("a");
  const Order b = NewOrder("b");
  ASSERT_NO_FATAL_FAILURE(Advance(b.id(), {kConfirmed}));
  // The stream runs the server's chain itself (no gRPC interceptor on it): it is counted all
  // the same, each request received and each message sent, and its end by its code.
  const StreamCounts counts(order_server_->metrics_port(), "StreamOrderUpdates", "bidi_stream");
  UpdateStream stream(order_server_->Channel("client"));
  ASSERT_TRUE(stream.Subscribe(a.id()));
  ASSERT_TRUE(stream.Subscribe(b.id()));
  ASSERT_TRUE(stream.WritesDone());

  std::vector<StreamOrderUpdatesResponse> received;
  for (std::optional<StreamOrderUpdatesResponse> update = stream.Next(); update.has_value();
       update = stream.Next()) {
    received.push_back(*update);
  }
  EXPECT_TRUE(IsOk(stream.Finish()));
  bool saw_a = false, saw_b = false;
  for (const StreamOrderUpdatesResponse& update : received) {
    if (update.order_id() == a.id() && update.status() == kPending) saw_a = true;
    if (update.order_id() == b.id() && update.status() == kConfirmed) saw_b = true;
  }
  EXPECT_TRUE(saw_a) << "no current status of a among " << received.size() << " messages";
  EXPECT_TRUE(saw_b) << "no current status of b among " << received.size() << " messages";
  // Counted before the status was sent.
  EXPECT_EQ(counts.Received(), 2);
  EXPECT_EQ(counts.Sent(), static_cast<double>(received.size()));
  EXPECT_EQ(counts.EndedOk(), 1);
}

// --- Persistence --------------------------------------------------------------------------

TEST_F(OrderServiceTest, RestartOnSameDataDir_OrdersStatusesAndCancelReasonsIntact) {
  const Order pending = NewOrder("p");
  const Order cancelled = NewOrder("c");
  const Order shipped = NewOrder("s");
  Order idempotent;
  ASSERT_TRUE(
      IsOk(Orders().Create(user_.id(), {Item("i", 4, 25)}, &idempotent, "survives-restart")));
  ASSERT_TRUE(IsOk(Orders().Cancel(cancelled.id(), "no longer needed")));
  ASSERT_NO_FATAL_FAILURE(Advance(shipped.id(), {kConfirmed, kShipped}));
  std::vector<Order> before;
  for (const Order& order : {pending, cancelled, shipped, idempotent}) {
    Order fetched;
    ASSERT_TRUE(IsOk(Orders().Get(order.id(), &fetched)));
    before.push_back(fetched);
  }

  ASSERT_TRUE(StopOrderService());
  ASSERT_NO_FATAL_FAILURE(StartOrderService());

  const OrderClient orders = Orders();
  for (const Order& old : before) {
    Order fetched;
    ASSERT_TRUE(IsOk(orders.Get(old.id(), &fetched)));
    EXPECT_EQ(fetched.ShortDebugString(), old.ShortDebugString());
  }
  Order again;
  ASSERT_TRUE(IsOk(orders.Create(user_.id(), {Item("i", 4, 25)}, &again, "survives-restart")));
  EXPECT_EQ(again.id(), idempotent.id()) << "request_id forgotten across restart";
  ::order::v1::ListOrdersResponse list;
  ASSERT_TRUE(IsOk(orders.List(user_.id(), &list)));
  EXPECT_EQ(list.page().total(), 4);
  ASSERT_EQ(list.orders_size(), 4);
  EXPECT_EQ(list.orders(0).id(), idempotent.id());
  EXPECT_EQ(list.orders(3).id(), pending.id());
}

// --- The call to the user service ---------------------------------------------------------

// The user service on a fixed port, so that it can come back where the order service looks.
class UserServiceOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    user_port_ = reserved_.port();
    user_ = std::make_unique<FixedPortUser>(user_dir_.path(), user_port_);
    ASSERT_TRUE(user_->WaitUntilServing());
    order_server_ = StartOrder(order_dir_.path(), "ipv4:" + LoopbackAddress(user_port_));
    ASSERT_TRUE(order_server_->WaitUntilServing());
    buyer_ = CreateUser(user_->Channel(), "buyer@example.com");
    ASSERT_FALSE(buyer_.id().empty());
    orders_ = std::make_unique<OrderClient>(order_server_->Channel("client"));
    ASSERT_TRUE(IsOk(orders_->Create(buyer_.id(), {Item("sku", 1, 1)})));
  }

  void RestartUser() {
    user_ = std::make_unique<FixedPortUser>(user_dir_.path(), user_port_);
    ASSERT_TRUE(user_->WaitUntilServing());
  }

  // CreateOrder succeeds again within kRecoveryTimeout; returns the time it took.
  void WaitForCreateOrderToSucceed() {
    const absl::Time start = absl::Now();
    grpc::Status status;
    while (true) {
      status = orders_->Create(buyer_.id(), {Item("sku", 1, 1)});
      if (status.ok() || absl::Now() - start > kRecoveryTimeout) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    ASSERT_TRUE(IsOk(status)) << "CreateOrder still failing " << kRecoveryTimeout
                              << " after the user service came back";
  }

  std::optional<double> BreakerState() const {
    return Metric(order_server_->metrics_port(), "hermes_circuit_breaker_state",
                  {{"target", kUserService}});
  }

  TempDir user_dir_;
  TempDir order_dir_;
  PortReservation reserved_;  // the user service's, across its restarts
  int user_port_ = 0;
  std::unique_ptr<FixedPortUser> user_;
  std::unique_ptr<ServiceProcess> order_server_;
  std::unique_ptr<OrderClient> orders_;
  ::user::v1::User buyer_;
};

::testing::AssertionResult IsUserServiceUnavailable(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
    return ::testing::AssertionFailure()
           << "gRPC code " << errors::GoCodeName(status.error_code()) << " (\""
           << status.error_message() << "\"), want Unavailable";
  }
  if (status.error_message().find("user service") == std::string::npos) {
    return ::testing::AssertionFailure()
           << "message \"" << status.error_message() << "\" does not mention the user service";
  }
  const std::optional<::common::v1::AppError> error = errors::AppErrorOf(status);
  if (!error.has_value()) return ::testing::AssertionFailure() << "no AppError detail";
  if (error->message().find("user service") == std::string::npos) {
    return ::testing::AssertionFailure()
           << "AppError {" << error->ShortDebugString() << "} does not mention the user service";
  }
  return ::testing::AssertionSuccess();
}

TEST_F(UserServiceOutageTest, RetryWithSameRequestId_AnsweredWhileUserServiceIsDown) {
  Order first;
  ASSERT_TRUE(IsOk(orders_->Create(buyer_.id(), {Item("sku", 2, 3)}, &first, "retry-me")));
  ASSERT_TRUE(user_->Stop());
  // The reply was "lost": the client retries while the user service happens to be down.
  Order again;
  ASSERT_TRUE(IsOk(orders_->Create(buyer_.id(), {Item("sku", 2, 3)}, &again, "retry-me")));
  EXPECT_EQ(again.id(), first.id());
  // A new request still needs the user service.
  EXPECT_TRUE(IsUserServiceUnavailable(
      orders_->Create(buyer_.id(), {Item("sku", 2, 3)}, nullptr, "brand-new")));
}

TEST_F(UserServiceOutageTest, UserServiceDown_UnavailableFast_ThenSucceedsOnceBack) {
  ASSERT_TRUE(user_->Stop());

  const absl::Time start = absl::Now();
  const grpc::Status down = orders_->Create(buyer_.id(), {Item("sku", 1, 1)});
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(IsUserServiceUnavailable(down));
  EXPECT_NE(down.error_code(), grpc::StatusCode::INTERNAL);
  // Fast: well before the 2 s --user_call_timeout, let alone the caller's 10 s deadline.
  EXPECT_LT(took, absl::Milliseconds(1500)) << "CreateOrder waited for a dead user service";

  ASSERT_NO_FATAL_FAILURE(RestartUser());
  ASSERT_NO_FATAL_FAILURE(WaitForCreateOrderToSucceed());
  ::order::v1::ListOrdersResponse list;
  ASSERT_TRUE(IsOk(orders_->List(buyer_.id(), &list)));
  EXPECT_EQ(list.page().total(), 2) << "a failed CreateOrder created an order";
}

TEST_F(UserServiceOutageTest, UserServiceTooSlow_DeadlineExceededNeverInternal) {
  ASSERT_TRUE(user_->Freeze());
  // The caller's own deadline (1 s) is sooner than --user_call_timeout (2 s): it wins.
  absl::Time start = absl::Now();
  grpc::Status status =
      orders_->Create(buyer_.id(), {Item("sku", 1, 1)}, nullptr, "", absl::Seconds(1));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // A caller with time to spare: the cap (2 s) ends the user check, answered as
  // DEADLINE_EXCEEDED with an AppError, not INTERNAL.
  start = absl::Now();
  status = orders_->Create(buyer_.id(), {Item("sku", 1, 1)}, nullptr, "", absl::Seconds(10));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_TRUE(errors::AppErrorOf(status).has_value());
  EXPECT_LT(absl::Now() - start, absl::Seconds(6));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1500));
  user_->Thaw();
  WaitForCreateOrderToSucceed();
}

// CreateOrder holds no thread while the user service answers: with the user service hanging,
// more checks are out at once than the order service has handler threads (64), and its other
// calls, which share those threads, are answered meanwhile.
TEST_F(UserServiceOutageTest, UserServiceHangs_ChecksHoldNoThread_OtherCallsStillAnswered) {
  constexpr int kCreates = 100;
  ASSERT_TRUE(user_->Freeze());
  std::vector<grpc::Status> created(kCreates);
  std::vector<std::thread> creates;
  for (int i = 0; i < kCreates; ++i) {
    creates.emplace_back(
        [&, i] { created[i] = orders_->Create(buyer_.id(), {Item("sku", 1, 1)}); });
  }
  const std::vector<std::pair<std::string, std::string>> get_user = {{"grpc_service", kUserService},
                                                                     {"grpc_method", "GetUser"}};
  // (The first checks end at the 2 s cap: this has ~2 s, not 5, to see them out at once.)
  const absl::Time until = absl::Now() + absl::Seconds(5);
  double checks_out = 0;
  while (absl::Now() < until) {
    checks_out =
        Metric(order_server_->metrics_port(), "grpc_client_in_flight", get_user).value_or(0);
    if (checks_out >= 80) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GE(checks_out, 80) << "checks of the user service out at once";

  const absl::Time start = absl::Now();
  ::order::v1::ListOrdersResponse list;
  EXPECT_TRUE(IsOk(orders_->List(buyer_.id(), &list)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << "ListOrders waited for the user checks";
  EXPECT_EQ(list.page().total(), 1);

  for (std::thread& create : creates) create.join();
  // Each ended at the 2 s --user_call_timeout (DEADLINE_EXCEEDED), or, started late on a slow
  // machine, found the breaker open by then (UNAVAILABLE); never INTERNAL.
  for (int i = 0; i < kCreates; ++i) {
    if (created[i].error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      EXPECT_TRUE(IsUserServiceUnavailable(created[i])) << "create " << i;
    }
  }
  user_->Thaw();
  ASSERT_NO_FATAL_FAILURE(WaitForCreateOrderToSucceed());
}

TEST_F(UserServiceOutageTest, CircuitBreaker_OpensAfterFailures_FailsFast_ClosesAfterRecovery) {
  EXPECT_EQ(BreakerState(), std::optional<double>(0));
  ASSERT_TRUE(user_->Stop());

  for (int i = 0; i < 6; ++i) {
    const grpc::Status status = orders_->Create(buyer_.id(), {Item("sku", 1, 1)});
    EXPECT_TRUE(IsUserServiceUnavailable(status)) << "call " << i;
  }
  EXPECT_EQ(WaitForMetric(order_server_->metrics_port(), "hermes_circuit_breaker_state",
                          {{"target", kUserService}}, 1),
            std::optional<double>(1));

  // Open: refused at once.
  for (int i = 0; i < 3; ++i) {
    const absl::Time start = absl::Now();
    const grpc::Status status = orders_->Create(buyer_.id(), {Item("sku", 1, 1)});
    const absl::Duration took = absl::Now() - start;
    EXPECT_TRUE(IsUserServiceUnavailable(status)) << "open call " << i;
    // The breaker refused it, without trying the user service (which, stopped, would refuse
    // fast too: only the message tells them apart).
    EXPECT_NE(status.error_message().find("circuit open"), std::string::npos)
        << "open call " << i << ": " << status.error_message();
    EXPECT_LT(took, absl::Milliseconds(500)) << "open call " << i << " did not fail fast";
  }

  ASSERT_NO_FATAL_FAILURE(RestartUser());
  ASSERT_NO_FATAL_FAILURE(WaitForCreateOrderToSucceed());
  EXPECT_EQ(WaitForMetric(order_server_->metrics_port(), "hermes_circuit_breaker_state",
                          {{"target", kUserService}}, 0),
            std::optional<double>(0));
}

TEST(OrderUserReplicasTest, RoundRobin_BothReplicasReceiveGetUserCalls) {
  TempDir dir1, dir2, order_dir;
  std::unique_ptr<ServiceProcess> replica1 = StartUser(dir1.path());
  std::unique_ptr<ServiceProcess> replica2 = StartUser(dir2.path());
  ASSERT_TRUE(replica1->WaitUntilServing());
  ASSERT_TRUE(replica2->WaitUntilServing());
  std::unique_ptr<ServiceProcess> order = StartOrder(
      order_dir.path(), absl::StrCat("ipv4:", replica1->address(), ",", replica2->address()));
  ASSERT_TRUE(order->WaitUntilServing());

  // Users are server-assigned per replica, so an unknown id is NOT_FOUND on either: every call
  // still reaches one replica's GetUser. Calls go on (20 at a time, at most 200) until both
  // replicas have answered some: the channel connects to the two lazily, and round_robin only
  // picks replicas already connected, so the first calls may all go to the faster one.
  const OrderClient orders(order->Channel("client"));
  const std::vector<std::pair<std::string, std::string>> get_user = {
      {"grpc_service", kUserService}, {"grpc_method", "GetUser"}, {"grpc_code", "NotFound"}};
  const auto handled = [&](ServiceProcess& replica) {
    return Metric(replica.metrics_port(), "grpc_server_handled_total", get_user).value_or(0);
  };
  int calls = 0;
  while (calls < 200 && (handled(*replica1) == 0 || handled(*replica2) == 0)) {
    for (int i = 0; i < 20; ++i, ++calls) {
      EXPECT_TRUE(IsAppError(orders.Create("nobody-" + std::to_string(calls), {Item("sku", 1, 1)}),
                             grpc::StatusCode::NOT_FOUND, ERROR_CODE_NOT_FOUND, "user_id"))
          << "call " << calls;
    }
  }
  for (ServiceProcess* replica : {replica1.get(), replica2.get()}) {
    EXPECT_GT(handled(*replica), 0)
        << "replica " << replica->address() << " handled no GetUser in " << calls << " calls";
  }
  if (HasFailure()) {
    ADD_FAILURE() << "--- order service output ---\n" << order->Output();
  }
}

}  // namespace
}  // namespace hermes::testing
