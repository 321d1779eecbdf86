// The order service's writes (CancelOrder, and CreateOrder once its user is known) are answered
// from the store's commit thread (OrderStore::TransitionThen, CreateThen): a write waiting for
// its commit holds no thread, and beyond max_writes_waiting of them a write is refused at once.
// Over a real socket, on a real SQLite file whose write lock the test holds from a second
// connection, as another process would (the commit then waits for it), with a user service on
// loopback that finds every user ACTIVE.
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/interceptor/handler_pool.h"
#include "libs/interceptor/waiting_bound.h"
#include "libs/runtime/grpc_server.h"
#include "services/order/order_service.h"
#include "services/order/sqlite_order_store.h"
#include "tests/support/calls_in_flight.h"
#include "tests/support/loopback_server.h"
#include "tests/support/network.h"
#include "tests/unit/libs/interceptor/scripted_user_service.h"
#include "tests/unit/libs/storage/temp_database.h"

namespace hermes::order {
namespace {

using ::order::v1::CancelOrderRequest;
using ::order::v1::CancelOrderResponse;
using ::order::v1::CreateOrderRequest;
using ::order::v1::CreateOrderResponse;

constexpr char kBuyer[] = "buyer";

// The real store, counting the writes handed to it.
class CountingStore final : public OrderStore {
 public:
  explicit CountingStore(std::unique_ptr<SqliteOrderStore> store) : store_(std::move(store)) {}
  int writes_handed_on() const { return writes_.load(); }
  SqliteOrderStore& real() { return *store_; }

  void CreateThen(const NewOrder& order, Abandoned abandoned, OrderDone done) override {
    ++writes_;
    store_->CreateThen(order, std::move(abandoned), std::move(done));
  }
  void TransitionThen(absl::string_view id, OrderStatus to, absl::string_view reason,
                      absl::string_view id_field, absl::string_view field_for_status,
                      Abandoned abandoned, OrderDone done) override {
    ++writes_;
    store_->TransitionThen(id, to, reason, id_field, field_for_status, std::move(abandoned),
                           std::move(done));
  }

  void SetEventListener(EventListener listener) override {
    store_->SetEventListener(std::move(listener));
  }
  absl::StatusOr<Order> Create(const NewOrder& order) override { return store_->Create(order); }
  absl::StatusOr<Order> Get(absl::string_view id) override { return store_->Get(id); }
  absl::StatusOr<std::optional<Order>> FindByRequestId(absl::string_view user_id,
                                                       absl::string_view request_id) override {
    return store_->FindByRequestId(user_id, request_id);
  }
  absl::StatusOr<OrderPage> List(const ListOrdersQuery& query) override {
    return store_->List(query);
  }
  absl::StatusOr<Order> Transition(absl::string_view id, OrderStatus to, absl::string_view reason,
                                   absl::string_view id_field,
                                   absl::string_view field_for_status) override {
    return store_->Transition(id, to, reason, id_field, field_for_status);
  }
  absl::StatusOr<storage::EventsPruned> PruneEvents(int64_t keep) override {
    return store_->PruneEvents(keep);
  }

 private:
  std::unique_ptr<SqliteOrderStore> store_;
  std::atomic<int> writes_{0};
};

class OrderWritesTest : public storage::TempDatabaseTest {
 protected:
  void SetUp() override {
    TempDatabaseTest::SetUp();
    // Long enough that no commit gives up on the lock while a test holds it.
    absl::StatusOr<std::unique_ptr<SqliteOrderStore>> sqlite =
        SqliteOrderStore::Open(Path(), {.busy_timeout = absl::Seconds(60)});
    ASSERT_TRUE(sqlite.ok()) << sqlite.status();
    store_ = std::make_unique<CountingStore>(*std::move(sqlite));
    user_service_.get_user = [](const grpc::ServerContextBase*,
                                const ::user::v1::GetUserRequest& request,
                                ::user::v1::GetUserResponse* response) {
      response->mutable_user()->set_id(request.id());
      response->mutable_user()->set_status(::user::v1::USER_STATUS_ACTIVE);
      return grpc::Status::OK;
    };
    user_server_ = testing::StartLoopbackServer(&user_service_, "user.v1.UserService");
    ASSERT_NE(user_server_, nullptr);
    users_ = std::make_unique<UserDirectory>(
        UserDirectoryOptions{.target = testing::LoopbackAddress(user_server_->port()),
                             .credentials = grpc::InsecureChannelCredentials(),
                             .max_deadline = absl::Seconds(30)},
        std::make_shared<interceptor::ClientChain>(registry_, nullptr), registry_);
  }
  void StartServer(int max_writes_waiting) {
    service_ = std::make_unique<OrderServiceImpl>(*store_, *users_, fanout_, StreamOptions{},
                                                  max_writes_waiting);
    server_ = testing::StartLoopbackServer(service_.get(), "order.v1.OrderService");
    ASSERT_NE(server_, nullptr);
    stub_ = testing::StubTo<::order::v1::OrderService>(*server_);
  }
  void TearDown() override {
    // A test that failed half-way may still hold the lock and have writes in flight: let them
    // end (their callbacks use calls_) before the server goes.
    lock_holder_.reset();
    calls_.AwaitAll();
    fanout_.Close();
    server_.reset();
    service_.reset();
    users_.reset();
    user_server_.reset();
    store_.reset();
    TempDatabaseTest::TearDown();
  }

  // An order of kBuyer's, created straight in the store (no write lock held).
  std::string NewOrder() {
    absl::StatusOr<Order> order =
        store_->Create({.user_id = kBuyer,
                        .items = {{.product_id = "sku", .quantity = 1, .price_cents = 100}},
                        .total_cents = 100});
    EXPECT_TRUE(order.ok()) << order.status();
    return order.ok() ? order->id : "";
  }

  std::vector<std::string> NewOrders(int n) {
    std::vector<std::string> orders;
    for (int i = 0; i < n; ++i) orders.push_back(NewOrder());
    return orders;
  }
  // ListOrders of kBuyer's orders, over the socket (a pool thread), 10 s at most.
  grpc::Status ListBuyersOrders(::order::v1::ListOrdersResponse* page) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ::order::v1::ListOrdersRequest request;
    request.set_user_id(kBuyer);
    return stub_->ListOrders(&context, request, page);
  }

  // Write calls in flight at once, on the stub's callback API; each call uses the request and
  // response of its kind.
  struct Call {
    grpc::ClientContext context;
    CreateOrderRequest create;
    CreateOrderResponse created;
    CancelOrderRequest cancel;
    CancelOrderResponse cancelled;
    grpc::Status status;
  };
  using Calls = testing::CallsInFlight<Call>;
  void SendCreates(int count) {
    for (int i = 0; i < count; ++i) {
      auto [call, done] = calls_.Start();
      call->create.set_user_id(kBuyer);
      ::order::v1::OrderItem* item = call->create.add_items();
      item->set_product_id(absl::StrCat("sku-", calls_.calls.size()));
      item->set_quantity(1);
      item->set_price_cents(250);
      stub_->async()->CreateOrder(&call->context, &call->create, &call->created, std::move(done));
    }
  }
  void SendCancel(const std::string& id) {
    auto [call, done] = calls_.Start();
    call->cancel.set_id(id);
    call->cancel.set_reason("changed my mind");
    stub_->async()->CancelOrder(&call->context, &call->cancel, &call->cancelled, std::move(done));
  }
  // UploadOrderEvents with one message, moving `id` to CONFIRMED, within `deadline`: the call's
  // status, and its summary in `summary`.
  grpc::Status UploadConfirmation(const std::string& id,
                                  ::order::v1::UploadOrderEventsResponse* summary,
                                  std::chrono::seconds deadline) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    auto writer = stub_->UploadOrderEvents(&context, summary);
    ::order::v1::UploadOrderEventsRequest event;
    event.set_order_id(id);
    event.set_new_status(::order::v1::ORDER_STATUS_CONFIRMED);
    writer->Write(event);
    writer->WritesDone();
    return writer->Finish();
  }

  // Waits (at most 30 s) until the store has been handed `n` writes in all.
  bool AwaitHandedOn(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (store_->writes_handed_on() < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return store_->writes_handed_on() >= n;
  }
  OrderStatus StatusOf(const std::string& id) {
    absl::StatusOr<Order> order = store_->Get(id);
    EXPECT_TRUE(order.ok()) << order.status();
    return order.ok() ? order->status : OrderStatus{};
  }
  int64_t OrdersOfBuyer() {
    absl::StatusOr<OrderPage> page = store_->List({.user_id = kBuyer, .limit = 1});
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->total : -1;
  }

  prometheus::Registry registry_;
  testing::ScriptedUserService user_service_;
  std::unique_ptr<runtime::GrpcServer> user_server_;
  std::unique_ptr<UserDirectory> users_;
  std::unique_ptr<CountingStore> store_;
  OrderUpdateFanout fanout_;
  std::unique_ptr<OrderServiceImpl> service_;
  std::unique_ptr<runtime::GrpcServer> server_;
  std::unique_ptr<::order::v1::OrderService::Stub> stub_;
  Calls calls_;
};

// More creates, and more cancels, wait for a commit than the handler pool has threads, and a
// ListOrders, which needs a pool thread, is still answered meanwhile. (When a write held a pool
// thread through its commit, 64 of them waiting left ListOrders queued until the commit could
// go on.)
TEST_F(OrderWritesTest, WritesWaitingForTheirCommit_HoldNoThread_ListOrdersStillAnswered) {
  constexpr int kEach = interceptor::kDefaultHandlerThreads + 16;
  const std::vector<std::string> orders = NewOrders(kEach);
  StartServer(interceptor::kMaxWritesWaiting);
  HoldWriteLock();
  SendCreates(kEach);
  for (const std::string& id : orders) SendCancel(id);
  ASSERT_TRUE(AwaitHandedOn(2 * kEach)) << store_->writes_handed_on() << " of " << 2 * kEach;

  ::order::v1::ListOrdersResponse page;
  const grpc::Status listed = ListBuyersOrders(&page);
  EXPECT_TRUE(listed.ok()) << listed.error_code() << " " << listed.error_message();
  EXPECT_EQ(page.page().total(), kEach) << "the waiting creates are not committed yet";
  EXPECT_EQ(calls_.Answered(), 0) << "a write was answered before its commit could run";

  ReleaseWriteLock();
  ASSERT_TRUE(calls_.AwaitAnswered(2 * kEach));
  for (const auto& call : calls_.calls) {
    EXPECT_TRUE(call->status.ok()) << call->status.error_message();
    if (call->cancel.id().empty()) {
      EXPECT_EQ(call->created.order().status(), ::order::v1::ORDER_STATUS_PENDING);
    } else {
      EXPECT_EQ(call->cancelled.order().status(), ::order::v1::ORDER_STATUS_CANCELLED);
    }
  }
  EXPECT_EQ(OrdersOfBuyer(), 2 * kEach);
  for (const std::string& id : orders) EXPECT_EQ(StatusOf(id), OrderStatus::kCancelled);
}

// An upload's message, once validated on the pool, waits for its commit on no thread either:
// more uploads than the pool has threads each wait for their message's commit, and ListOrders
// is still answered.
TEST_F(OrderWritesTest, UploadsWaitingForTheirCommit_HoldNoThread_ListOrdersStillAnswered) {
  constexpr int kUploads = interceptor::kDefaultHandlerThreads + 16;
  const std::vector<std::string> orders = NewOrders(kUploads);
  StartServer(interceptor::kMaxWritesWaiting);
  HoldWriteLock();
  std::vector<grpc::Status> statuses(kUploads);
  std::vector<::order::v1::UploadOrderEventsResponse> summaries(kUploads);
  std::vector<std::thread> uploads;
  for (int i = 0; i < kUploads; ++i) {
    uploads.emplace_back([&, i] {
      statuses[i] = UploadConfirmation(orders[i], &summaries[i], std::chrono::seconds(60));
    });
  }
  const bool handed_on = AwaitHandedOn(kUploads);

  ::order::v1::ListOrdersResponse page;
  const grpc::Status listed = ListBuyersOrders(&page);

  ReleaseWriteLock();
  for (std::thread& upload : uploads) upload.join();
  ASSERT_TRUE(handed_on) << store_->writes_handed_on() << " of " << kUploads;
  EXPECT_TRUE(listed.ok()) << listed.error_code() << " " << listed.error_message();
  for (int i = 0; i < kUploads; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << i << " " << statuses[i].error_message();
    EXPECT_EQ(summaries[i].accepted(), 1) << i;
    EXPECT_EQ(StatusOf(orders[i]), OrderStatus::kConfirmed) << i;
  }
}

// Creates and cancels count against one bound: with it taken by one of each, a cancel and a
// create are refused at once, and change nothing.
TEST_F(OrderWritesTest, TooManyWritesWaiting_RefusedAtOnce_NothingChanged) {
  const std::string admitted = NewOrder();
  const std::string refused = NewOrder();
  StartServer(/*max_writes_waiting=*/2);
  HoldWriteLock();
  SendCreates(1);
  SendCancel(admitted);
  ASSERT_TRUE(AwaitHandedOn(2));
  SendCancel(refused);
  SendCreates(1);
  ASSERT_TRUE(calls_.AwaitAnswered(2));
  EXPECT_EQ(store_->writes_handed_on(), 2);
  for (int i = 2; i < 4; ++i) {
    EXPECT_EQ(calls_.calls[i]->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << i;
    EXPECT_EQ(calls_.calls[i]->status.error_message(), interceptor::kOverloaded) << i;
  }

  ReleaseWriteLock();
  ASSERT_TRUE(calls_.AwaitAnswered(4));
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(calls_.calls[i]->status.ok())
        << i << " " << calls_.calls[i]->status.error_message();
  }
  EXPECT_EQ(StatusOf(admitted), OrderStatus::kCancelled);
  EXPECT_EQ(StatusOf(refused), OrderStatus::kPending) << "a refused cancel was made";
  EXPECT_EQ(OrdersOfBuyer(), 3) << "a refused create was made";
}

// An upload counts against the same bound: its first message, with the bound taken, is refused
// at once and applies nothing.
TEST_F(OrderWritesTest, UploadWithTheBoundTaken_FirstMessageRefused_NothingApplied) {
  const std::string waiting = NewOrder();
  const std::string uploaded = NewOrder();
  StartServer(/*max_writes_waiting=*/1);
  HoldWriteLock();
  SendCancel(waiting);
  ASSERT_TRUE(AwaitHandedOn(1));

  ::order::v1::UploadOrderEventsResponse summary;
  const grpc::Status status = UploadConfirmation(uploaded, &summary, std::chrono::seconds(10));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(store_->writes_handed_on(), 1) << "the refused message reached the store";

  ReleaseWriteLock();
  ASSERT_TRUE(calls_.AwaitAll());
  EXPECT_EQ(StatusOf(uploaded), OrderStatus::kPending);
  EXPECT_EQ(StatusOf(waiting), OrderStatus::kCancelled);
}

// A write whose caller has gone while it waited for its batch is not committed for: nothing is
// written, and the place it took is given back. One create and one cancel.
TEST_F(OrderWritesTest, CallerGoneWhileTheWriteWaitedForItsCommit_NothingWritten) {
  const std::string order = NewOrder();
  StartServer(/*max_writes_waiting=*/2);
  HoldWriteLock();
  SendCreates(1);
  SendCancel(order);
  ASSERT_TRUE(AwaitHandedOn(2));
  for (const auto& call : calls_.calls) call->context.TryCancel();
  // The server has seen the calls end (their AsyncNotifyWhenDone), bounded.
  const absl::Time ends_deadline = absl::Now() + absl::Seconds(30);
  while (service_->unary_methods().EndsSeenForTesting() < 2 && absl::Now() < ends_deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GE(service_->unary_methods().EndsSeenForTesting(), 2);

  ReleaseWriteLock();
  // Each place is given back once its write's answer has been made: then the write is decided.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (service_->WritesWaitingForTesting() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(service_->WritesWaitingForTesting(), 0) << "a place was not given back";
  EXPECT_EQ(StatusOf(order), OrderStatus::kPending) << "the cancel of a caller that had gone";
  EXPECT_EQ(OrdersOfBuyer(), 1) << "the create of a caller that had gone was made";
}

// An upload whose client goes while its message waits for its commit: the stream ends, its
// place is given back, and the service goes on taking uploads. Whether the message was applied
// depends on whether the server had seen the cancel when the commit came (then nothing is
// written); either way the order is in one of the two states, never in between.
TEST_F(OrderWritesTest, UploadCancelledWhileItsMessageWaitedForItsCommit_PlaceGivenBack) {
  const std::string order = NewOrder();
  const std::string next = NewOrder();
  StartServer(/*max_writes_waiting=*/1);
  HoldWriteLock();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  ::order::v1::UploadOrderEventsResponse summary;
  grpc::Status cancelled;
  std::thread upload([&] {
    auto writer = stub_->UploadOrderEvents(&context, &summary);
    ::order::v1::UploadOrderEventsRequest event;
    event.set_order_id(order);
    event.set_new_status(::order::v1::ORDER_STATUS_CONFIRMED);
    writer->Write(event);  // no half-close: the stream stays open until the client cancels
    cancelled = writer->Finish();
  });
  const bool handed_on = AwaitHandedOn(1);
  context.TryCancel();
  upload.join();
  ReleaseWriteLock();
  ASSERT_TRUE(handed_on);
  EXPECT_EQ(cancelled.error_code(), grpc::StatusCode::CANCELLED) << cancelled.error_message();

  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (service_->WritesWaitingForTesting() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(service_->WritesWaitingForTesting(), 0) << "the cancelled upload kept its place";
  const OrderStatus status = StatusOf(order);
  EXPECT_TRUE(status == OrderStatus::kPending || status == OrderStatus::kConfirmed)
      << static_cast<int>(status);

  // With the bound of one free again, the next upload is taken and applied.
  ::order::v1::UploadOrderEventsResponse next_summary;
  const grpc::Status next_status =
      UploadConfirmation(next, &next_summary, std::chrono::seconds(30));
  EXPECT_TRUE(next_status.ok()) << next_status.error_code() << " " << next_status.error_message();
  EXPECT_EQ(next_summary.accepted(), 1);
  EXPECT_EQ(StatusOf(next), OrderStatus::kConfirmed);
}

}  // namespace
}  // namespace hermes::order
