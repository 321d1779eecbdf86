// StreamOrderUpdates in-process, over a loopback plaintext server: the reactor's own paths that
// the integration tests cannot reach through the binary (options it does not expose as flags);
// UploadOrderEvents' drain while a message is being applied, which needs the store held; and the
// counts of the chain the upload reactor drives, at ends the binary cannot be driven to.
#include "services/order/stream_order_updates.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/errors/app_error.h"
#include "libs/interceptor/chain.h"
#include "libs/interceptor/client_chain.h"
#include "order/v1/order.grpc.pb.h"
#include "services/order/order_service.h"
#include "services/order/sqlite_order_store.h"
#include "tests/support/http.h"
#include "tests/support/loopback_server.h"
#include "tests/support/network.h"
#include "tests/unit/libs/interceptor/scripted_user_service.h"
#include "tests/unit/libs/storage/temp_database.h"

namespace hermes::order {
namespace {

// The real store, counting the reads StreamOrderUpdates makes (one per subscribe request, by
// Get or TryGet), saying "would wait" to TryGet while `busy` (as when every reader connection
// is lent out), and running `before_transition` (if set) before each Transition.
// It leaves CreateThen and TransitionThen to OrderStore's defaults, which write through Create
// and Transition on the caller's thread, so that the hooks see the service's writes too: a
// hook that blocks holds that thread (for CancelOrder, a completion queue's) where the real
// store's commit thread would have taken the write.
class CountingOrderStore final : public OrderStore {
 public:
  explicit CountingOrderStore(OrderStore& store) : store_(store) {}
  int gets() const { return gets_.load(); }

  void SetEventListener(EventListener listener) override {
    store_.SetEventListener(std::move(listener));
  }
  absl::StatusOr<Order> Create(const NewOrder& order) override { return store_.Create(order); }
  absl::StatusOr<Order> Get(absl::string_view id) override {
    ++gets_;
    ++waiting_gets_;
    if (before_get) before_get();
    if (throw_in_get) throw std::bad_alloc();
    absl::StatusOr<Order> order = store_.Get(id);
    ++gets_returned;
    return order;
  }
  std::optional<absl::StatusOr<Order>> TryGet(absl::string_view id) override {
    if (busy) return std::nullopt;
    ++gets_;
    if (throw_in_get) throw std::bad_alloc();
    return store_.Get(id);
  }
  int waiting_gets() const { return waiting_gets_.load(); }  // by Get: those on the pool
  std::atomic<bool> throw_in_get{false};                     // as an allocation failure would
  std::atomic<bool> busy{false};
  std::function<void()> before_get;   // set before serving: runs in each Get, on the pool
  std::atomic<int> gets_returned{0};  // Gets that have read the store and are returning
  absl::StatusOr<std::optional<Order>> FindByRequestId(absl::string_view user_id,
                                                       absl::string_view request_id) override {
    return store_.FindByRequestId(user_id, request_id);
  }
  absl::StatusOr<OrderPage> List(const ListOrdersQuery& query) override {
    return store_.List(query);
  }
  absl::StatusOr<Order> Transition(absl::string_view id, OrderStatus to, absl::string_view reason,
                                   absl::string_view id_field,
                                   absl::string_view field_for_status) override {
    if (before_transition) before_transition();
    if (transition_failure) {
      if (absl::Status failure = transition_failure(); !failure.ok()) return failure;
    }
    return store_.Transition(id, to, reason, id_field, field_for_status);
  }
  std::function<void()> before_transition;  // set before serving
  // Set before serving: a Transition for which it is not OK fails so, as the store would when
  // busy, full or failing.
  std::function<absl::Status()> transition_failure;
  absl::StatusOr<storage::EventsPruned> PruneEvents(int64_t keep) override {
    return store_.PruneEvents(keep);
  }

 private:
  OrderStore& store_;
  std::atomic<int> gets_{0};
  std::atomic<int> waiting_gets_{0};
};

class StreamOrderUpdatesTest : public storage::TempDatabaseTest {
 protected:
  void SetUp() override {
    TempDatabaseTest::SetUp();
    absl::StatusOr<std::unique_ptr<SqliteOrderStore>> store = SqliteOrderStore::Open(Path());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    counted_ = std::make_unique<CountingOrderStore>(*store_);
    // Never called here (CreateOrder is not used): the directory only has to exist.
    users_ = std::make_unique<UserDirectory>(
        UserDirectoryOptions{.target = "127.0.0.1:1",
                             .credentials = grpc::InsecureChannelCredentials()},
        std::make_shared<interceptor::ClientChain>(registry_, nullptr), registry_);
  }

  void TearDown() override {
    if (server_ != nullptr)
      server_->Shutdown(
          gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(5, GPR_TIMESPAN)));
    server_.reset();
    service_.reset();
    TempDatabaseTest::TearDown();
  }

  // `with_chain`: the server's chain too, counting into registry_, as runtime::Serve installs it
  // (the streams drive it themselves).
  void Serve(StreamOptions options, bool with_chain = false) {
    service_ = std::make_unique<OrderServiceImpl>(*counted_, *users_, fanout_, options);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    if (with_chain) {
      auto chain = interceptor::ServerChain::Create(
          {.services = {::order::v1::OrderService::service_full_name()},
           .registry = &registry_,
           .driven_by_handlers = service_->ChainDrivenMethods()});
      ASSERT_TRUE(chain.ok()) << chain.status();
      service_->UseChain(*chain);
      builder.experimental().SetInterceptorCreators((*chain)->InterceptorFactories());
    }
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = ::order::v1::OrderService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
  }

  // Serve, with every commit's change published to the streams, as main() wires it.
  void ServePublishing() {
    Serve({});
    store_->SetEventListener(
        [this](const OrderEvent& event) { fanout_.Publish(ChangeFor(event)); });
  }

  std::string NewOrder() {
    absl::StatusOr<Order> order =
        store_->Create({.user_id = "u1",
                        .items = {{.product_id = "sku", .quantity = 1, .price_cents = 100}},
                        .total_cents = 100});
    EXPECT_TRUE(order.ok()) << order.status();
    return order.ok() ? order->id : "";
  }

  using Stream = grpc::ClientReaderWriter<::order::v1::StreamOrderUpdatesRequest,
                                          ::order::v1::StreamOrderUpdatesResponse>;
  // Opens a stream and asks for `order`: true if it answered, false if it ended (`status`).
  bool Ask(const std::string& order, grpc::ClientContext& context, std::unique_ptr<Stream>& stream,
           grpc::Status* status) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    stream = stub_->StreamOrderUpdates(&context);
    ::order::v1::StreamOrderUpdatesRequest request;
    request.set_order_id(order);
    ::order::v1::StreamOrderUpdatesResponse response;
    if (stream->Write(request) && stream->Read(&response)) return response.order_id() == order;
    *status = stream->Finish();
    return false;
  }

  // Uploads `messages` (order id, new status) on one stream, writing until the server ends it;
  // its final status.
  grpc::Status Upload(
      const std::vector<std::pair<std::string, ::order::v1::OrderStatus>>& messages) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    ::order::v1::UploadOrderEventsResponse response;
    auto writer = stub_->UploadOrderEvents(&context, &response);
    for (const auto& [id, status] : messages) {
      ::order::v1::UploadOrderEventsRequest event;
      event.set_order_id(id);
      event.set_new_status(status);
      if (!writer->Write(event)) break;  // the stream is over
    }
    writer->WritesDone();
    return writer->Finish();
  }

  // With max_streams = 1 and that one taken: whether a new stream gets in within about a second
  // (100 tries), each refused one RESOURCE_EXHAUSTED.
  bool PlaceComesBack(const std::string& order) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      grpc::ClientContext context;
      std::unique_ptr<Stream> next;
      grpc::Status status;
      if (Ask(order, context, next, &status)) {
        next->WritesDone();
        ::order::v1::StreamOrderUpdatesResponse response;
        while (next->Read(&response)) {
        }
        EXPECT_TRUE(next->Finish().ok());
        return true;
      }
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  prometheus::Registry registry_;
  std::unique_ptr<SqliteOrderStore> store_;
  std::unique_ptr<CountingOrderStore> counted_;  // what the service reads through
  std::unique_ptr<UserDirectory> users_;
  OrderUpdateFanout fanout_;
  std::unique_ptr<OrderServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<::order::v1::OrderService::Stub> stub_;
};

// The refusal is queued while the stream's lock is held. When the fan-out's waker pumped the
// reactor inline, that pump took the same lock again and the stream hung for good.
TEST_F(StreamOrderUpdatesTest, OneOrderTooMany_ErrorReply_StreamGoesOn) {
  Serve({.max_orders_per_stream = 1});
  const std::string first = NewOrder();
  const std::string second = NewOrder();

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub_->StreamOrderUpdates(&context);
  ::order::v1::StreamOrderUpdatesRequest request;
  ::order::v1::StreamOrderUpdatesResponse response;

  request.set_order_id(first);
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.order_id(), first);
  EXPECT_FALSE(response.has_error());
  EXPECT_EQ(response.status(), ::order::v1::ORDER_STATUS_PENDING);

  request.set_order_id(second);
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response)) << "no reply to the order too many";
  EXPECT_EQ(response.order_id(), second);
  ASSERT_TRUE(response.has_error());
  EXPECT_EQ(response.error().field(), "order_id");
  EXPECT_NE(response.error().message().find("too many orders"), std::string::npos);

  // And the stream still works: half-close ends it OK once every reply was sent.
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&response)) << "unexpected " << response.ShortDebugString();
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
}

// An order id is checked as GetOrder checks it: empty is INVALID_ARGUMENT, longer than any
// order's is NOT_FOUND, neither read from the store nor echoed back; the stream goes on.
TEST_F(StreamOrderUpdatesTest, EmptyOrOversizedOrderId_ErrorReplyWithoutARead_StreamGoesOn) {
  Serve({});
  const std::string order = NewOrder();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub_->StreamOrderUpdates(&context);
  ::order::v1::StreamOrderUpdatesRequest request;
  ::order::v1::StreamOrderUpdatesResponse response;

  request.set_order_id("");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.error().code(), ::common::v1::ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(response.error().field(), "order_id");
  EXPECT_EQ(response.error().message(), "order_id is required");

  request.set_order_id(std::string(100000, 'x'));
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.error().code(), ::common::v1::ERROR_CODE_NOT_FOUND);
  EXPECT_EQ(response.error().field(), "order_id");
  EXPECT_EQ(response.order_id(), "");
  EXPECT_EQ(counted_->gets(), 0);

  request.set_order_id(order);
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.order_id(), order);
  EXPECT_EQ(response.status(), ::order::v1::ORDER_STATUS_PENDING);
  EXPECT_FALSE(response.has_error());
  stream->WritesDone();
  while (stream->Read(&response)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

// The store throwing while a request is answered (on a gRPC thread) ends that stream as a
// throwing handler's call ends (UNKNOWN, which the chain's recovery stage makes INTERNAL); the
// process and the next stream go on.
TEST_F(StreamOrderUpdatesTest, StoreThrowsAnsweringARequest_StreamEndsAsAThrowingHandler) {
  Serve({});
  const std::string order = NewOrder();
  ::order::v1::StreamOrderUpdatesRequest request;
  request.set_order_id(order);
  ::order::v1::StreamOrderUpdatesResponse response;
  {
    counted_->throw_in_get = true;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto stream = stub_->StreamOrderUpdates(&context);
    ASSERT_TRUE(stream->Write(request));
    EXPECT_FALSE(stream->Read(&response)) << "unexpected " << response.ShortDebugString();
    const grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
    EXPECT_EQ(status.error_message(), errors::kHandlerThrew);
    counted_->throw_in_get = false;
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub_->StreamOrderUpdates(&context);
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.status(), ::order::v1::ORDER_STATUS_PENDING);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

// A subscribe whose store read would wait for a connection is answered from the service's
// pool instead of gRPC's callback thread, and the stream reads its next request only once that
// reply is queued: replies keep the order of their requests, and the stream goes on.
TEST_F(StreamOrderUpdatesTest, StoreReadWouldWait_AnsweredOnThePool_RepliesInRequestOrder) {
  ServePublishing();
  const std::string first = NewOrder();
  const std::string second = NewOrder();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub_->StreamOrderUpdates(&context);
  ::order::v1::StreamOrderUpdatesRequest request;
  counted_->busy = true;
  for (const std::string& order : {first, second}) {
    request.set_order_id(order);
    ASSERT_TRUE(stream->Write(request));
  }
  std::vector<std::string> replies;
  ::order::v1::StreamOrderUpdatesResponse response;
  for (int i = 0; i < 2 && stream->Read(&response); ++i) {
    EXPECT_EQ(response.status(), ::order::v1::ORDER_STATUS_PENDING) << response.ShortDebugString();
    replies.push_back(response.order_id());
  }
  EXPECT_EQ(replies, (std::vector<std::string>{first, second}));
  EXPECT_EQ(counted_->waiting_gets(), 2);  // both read on the pool, where a read may wait

  counted_->busy = false;
  request.set_order_id(first);
  ASSERT_TRUE(stream->Write(request));  // a refresh, read on gRPC's thread: no wait needed
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.order_id(), first);
  EXPECT_EQ(counted_->waiting_gets(), 2);
  ASSERT_TRUE(store_->Transition(second, OrderStatus::kConfirmed, "", "id", "status").ok());
  ASSERT_TRUE(stream->Read(&response));  // the subscriptions made on the pool are live
  EXPECT_EQ(response.order_id(), second);
  EXPECT_EQ(response.status(), ::order::v1::ORDER_STATUS_CONFIRMED);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&response)) << "unexpected " << response.ShortDebugString();
  EXPECT_TRUE(stream->Finish().ok());
}

// API.md: "On subscribe the server at once sends the order's current status". A stream that
// lags behind the fan-out (here: its wake-ups held back) still has changes of the order queued
// from before the subscription when it subscribes; they are older than the current status and
// must not come first.
TEST_F(StreamOrderUpdatesTest, LaggingStream_Subscribes_FirstMessageIsTheCurrentStatus) {
  ServePublishing();
  const std::string other = NewOrder();
  const std::string id = NewOrder();
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream;
  grpc::Status status;
  // The stream is then live, idle, waiting to be woken.
  ASSERT_TRUE(Ask(other, context, stream, &status)) << status.error_message();
  ::order::v1::StreamOrderUpdatesRequest request;
  ::order::v1::StreamOrderUpdatesResponse response;

  // Publishing no longer wakes it: the wake-ups are held here instead of run.
  absl::Mutex held_mu;
  std::vector<std::function<void()>> held;
  fanout_.SetWakeExecutor([&](std::function<void()> task) {
    absl::MutexLock lock(&held_mu);
    held.push_back(std::move(task));
  });
  for (OrderStatus to : {OrderStatus::kConfirmed, OrderStatus::kShipped}) {
    ASSERT_TRUE(store_->Transition(id, to, "", "id", "status").ok());
  }

  request.set_order_id(id);
  ASSERT_TRUE(stream->Write(request));  // its reply wakes the stream, behind two changes
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.order_id(), id);
  EXPECT_EQ(response.status(), ::order::v1::ORDER_STATUS_SHIPPED) << response.ShortDebugString();

  fanout_.SetWakeExecutor(nullptr);  // publishing wakes the stream itself again
  std::vector<std::function<void()>> tasks;
  {
    absl::MutexLock lock(&held_mu);
    tasks.swap(held);
  }
  for (auto& task : tasks) task();
  ASSERT_TRUE(store_->Transition(id, OrderStatus::kDelivered, "", "id", "status").ok());
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.status(), ::order::v1::ORDER_STATUS_DELIVERED) << response.ShortDebugString();
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&response)) << "unexpected " << response.ShortDebugString();
  EXPECT_TRUE(stream->Finish().ok());
}

// API.md: "On subscribe the server at once sends the order's current status". Subscribing
// again to an order the stream already tracks (to refresh it) is answered too, though the
// status did not change.
TEST_F(StreamOrderUpdatesTest, SubscribingAgain_TheCurrentStatusIsSentAgain) {
  Serve({});
  const std::string id = NewOrder();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub_->StreamOrderUpdates(&context);
  ::order::v1::StreamOrderUpdatesRequest request;
  request.set_order_id(id);
  ::order::v1::StreamOrderUpdatesResponse response;
  for (int subscribe = 1; subscribe <= 3; ++subscribe) {
    ASSERT_TRUE(stream->Write(request));
    ASSERT_TRUE(stream->Read(&response)) << "no reply to subscribe #" << subscribe;
    EXPECT_EQ(response.order_id(), id);
    EXPECT_FALSE(response.has_error()) << response.ShortDebugString();
    EXPECT_EQ(response.status(), ::order::v1::ORDER_STATUS_PENDING);
  }
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&response)) << "unexpected " << response.ShortDebugString();
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
}

// An instance holds at most max_streams update streams: one more is refused, and the place
// comes back once a stream has ended (the server gives it back in OnDone, just after the
// client has its status, so the next stream may need a few tries).
TEST_F(StreamOrderUpdatesTest, BeyondMaxStreams_ResourceExhausted_PlaceComesBackWhenOneEnds) {
  Serve({.max_streams = 1});
  const std::string order = NewOrder();
  grpc::ClientContext first_context;
  std::unique_ptr<Stream> first;
  grpc::Status status;
  ASSERT_TRUE(Ask(order, first_context, first, &status)) << status.error_message();

  grpc::ClientContext refused_context;
  std::unique_ptr<Stream> refused;
  ASSERT_FALSE(Ask(order, refused_context, refused, &status));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();

  ASSERT_TRUE(first->WritesDone());
  ::order::v1::StreamOrderUpdatesResponse response;
  EXPECT_FALSE(first->Read(&response));
  ASSERT_TRUE(first->Finish().ok());
  EXPECT_TRUE(PlaceComesBack(order)) << "the ended stream's place never came back";
}

// API.md: "the client cancelling ends it at once": the server lets the stream go (its place
// among max_streams comes back) well before the stream's own 20 s deadline.
TEST_F(StreamOrderUpdatesTest, ClientCancels_StreamEndsAtOnce_PlaceComesBack) {
  Serve({.max_streams = 1});
  const std::string order = NewOrder();
  grpc::ClientContext first_context;
  std::unique_ptr<Stream> first;
  grpc::Status status;
  ASSERT_TRUE(Ask(order, first_context, first, &status)) << status.error_message();

  first_context.TryCancel();
  EXPECT_EQ(first->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(PlaceComesBack(order)) << "the cancelled stream's place did not come back in 1 s";
}

// A client that cancels while its subscription's read waits on the pool: the stream ends at once
// (its place comes back while the read still waits), and the read's late answer goes nowhere
// (under ASan: no use of the ended call).
TEST_F(StreamOrderUpdatesTest, ClientCancelsWhileItsReadWaitsOnThePool_PlaceComesBack) {
  struct Gate {  // shared with the pool's thread, which may outlive a test that failed early
    absl::Notification read_started;
    absl::Notification release_read;
  };
  auto gate = std::make_shared<Gate>();
  counted_->before_get = [gate] {
    gate->read_started.Notify();
    gate->release_read.WaitForNotificationWithTimeout(absl::Seconds(30));
  };
  // However the test ends, the pool's thread is let go (not left waiting into the teardown).
  const absl::Cleanup release = [gate] {
    if (!gate->release_read.HasBeenNotified()) gate->release_read.Notify();
  };
  counted_->busy = true;  // the subscription's read goes to the pool
  Serve({.max_streams = 1});
  const std::string order = NewOrder();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub_->StreamOrderUpdates(&context);
  ::order::v1::StreamOrderUpdatesRequest request;
  request.set_order_id(order);
  ASSERT_TRUE(stream->Write(request));
  const bool started = gate->read_started.WaitForNotificationWithTimeout(absl::Seconds(10));

  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  counted_->busy = false;  // the next streams read inline, without the hook
  const bool place_came_back = PlaceComesBack(order);
  const int reads_on_the_pool = counted_->waiting_gets();
  gate->release_read.Notify();
  ASSERT_TRUE(started) << "the subscription's read never reached the pool";
  EXPECT_TRUE(place_came_back) << "the cancelled stream's place did not come back in 1 s";
  EXPECT_EQ(reads_on_the_pool, 1);
  // The late read returns while the server is still up, its answer going to the ended call.
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (counted_->gets_returned.load() < 1 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(counted_->gets_returned.load(), 1);
}

// A client that stops reading falls behind; once more than buffer_updates replies and changes
// wait for it, the server sends what was already on its way, then one last message whose error
// says why (no order_id), and ends the stream with the same code, RESOURCE_EXHAUSTED, rather
// than buffering without bound; and it stops reading the client's requests.
TEST_F(StreamOrderUpdatesTest, ReaderFallsBehind_LastMessageSaysWhy_ResourceExhausted) {
  Serve({.buffer_updates = 8});
  // A small stream window and no BDP probing, so that the server's writes stall soon.
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  arguments.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stub = ::order::v1::OrderService::NewStub(grpc::CreateCustomChannel(
      "127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials(), arguments));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub->StreamOrderUpdates(&context);

  // Each unknown id is answered with an error reply (~80 bytes); none is read yet.
  constexpr int kRequests = 2000;
  int written = 0;
  ::order::v1::StreamOrderUpdatesRequest request;
  for (; written < kRequests; ++written) {
    request.set_order_id("missing-" + std::to_string(written));
    if (!stream->Write(request)) break;  // the server ended the stream already
  }
  std::vector<::order::v1::StreamOrderUpdatesResponse> received;
  ::order::v1::StreamOrderUpdatesResponse response;
  while (received.size() <= kRequests && stream->Read(&response)) received.push_back(response);
  const grpc::Status status = stream->Finish();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message() << " after " << received.size() << " messages, " << written
      << " requests";
  EXPECT_NE(status.error_message().find("fell too far behind"), std::string::npos)
      << status.error_message();
  const std::optional<::common::v1::AppError> error = errors::AppErrorOf(status);
  ASSERT_TRUE(error.has_value()) << "no AppError detail";
  EXPECT_EQ(error->message(), status.error_message());

  ASSERT_GE(received.size(), 1u);
  ASSERT_LT(received.size(), static_cast<size_t>(kRequests)) << "the stream never fell behind";
  // The replies that were on their way (none, if it fell behind before its first write), in
  // order, then the last message.
  for (size_t i = 0; i + 1 < received.size(); ++i) {
    EXPECT_EQ(received[i].order_id(), "missing-" + std::to_string(i))
        << received[i].ShortDebugString();
    EXPECT_EQ(received[i].error().field(), "order_id") << received[i].ShortDebugString();
  }
  const ::order::v1::StreamOrderUpdatesResponse& last = received.back();
  EXPECT_EQ(last.order_id(), "") << last.ShortDebugString();
  EXPECT_EQ(last.error().message(), status.error_message()) << last.ShortDebugString();
  // Once the replies overflowed, the server stopped reading requests: it looked up those whose
  // replies went out (all but the last message), the 8 the queue held, at most one the pump
  // had taken to send next, and the one that overflowed. (Reading on, while the write to the
  // client that does not read is stalled, it looked up 28-151 in three runs.)
  EXPECT_LE(counted_->gets(), static_cast<int>(received.size()) + 8 + 1)
      << received.size() << " messages, " << written << " requests";
}

}  // namespace
}  // namespace hermes::order

namespace hermes::order {
namespace {

// A shutdown while an upload's message is being applied: the message is applied, then the
// stream ends UNAVAILABLE saying so, and nothing after it is read. An upload that starts after
// the drain gets UNAVAILABLE with nothing applied.
TEST_F(StreamOrderUpdatesTest, UploadDrainedWhileApplying_ThatMessageApplied_ThenUnavailable) {
  const std::string order = NewOrder();
  absl::Notification applying;
  absl::Notification release;
  counted_->before_transition = [&] {
    if (!applying.HasBeenNotified()) applying.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(10));
  };
  Serve({});
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  ::order::v1::UploadOrderEventsResponse response;
  auto writer = stub_->UploadOrderEvents(&context, &response);
  ::order::v1::UploadOrderEventsRequest event;
  event.set_order_id(order);
  event.set_new_status(::order::v1::ORDER_STATUS_CONFIRMED);
  EXPECT_TRUE(writer->Write(event));
  EXPECT_TRUE(applying.WaitForNotificationWithTimeout(absl::Seconds(10)));
  service_->Drain();  // what SIGTERM does
  release.Notify();
  event.set_new_status(::order::v1::ORDER_STATUS_SHIPPED);
  writer->Write(event);  // may fail: the stream may be over already
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_NE(status.error_message().find(
                "the first 1 messages of this stream were applied (1 accepted, 0 rejected)"),
            std::string::npos)
      << status.error_message();
  absl::StatusOr<Order> stored = store_->Get(order);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->status, OrderStatus::kConfirmed);  // the second message was not applied

  grpc::ClientContext late_context;
  late_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto late = stub_->UploadOrderEvents(&late_context, &response);
  late->WritesDone();
  const grpc::Status refused = late->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_NE(refused.error_message().find("the first 0 messages"), std::string::npos)
      << refused.error_message();
}

// The store failing on a message (busy, full, failing) is not that message's fault: the stream
// ends with the store's error, saying how far it got, instead of counting a rejection that
// would tell the client not to send it again; nothing after it is read. INTERNAL's message is
// hidden, as for any call.
TEST_F(StreamOrderUpdatesTest, UploadWhenTheStoreFails_EndsWithTheStoresError_NotARejection) {
  const std::string order = NewOrder();
  std::atomic<int> transitions{0};
  std::atomic<absl::StatusCode> third_fails_with{absl::StatusCode::kUnavailable};
  counted_->transition_failure = [&] {
    return ++transitions == 3 ? errors::Error(third_fails_with.load(), "storage is busy, try again")
                              : absl::OkStatus();
  };
  Serve({});
  const grpc::Status status = Upload({{order, ::order::v1::ORDER_STATUS_CONFIRMED},
                                      {"no-such-order", ::order::v1::ORDER_STATUS_CONFIRMED},
                                      {order, ::order::v1::ORDER_STATUS_SHIPPED},
                                      {order, ::order::v1::ORDER_STATUS_SHIPPED}});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  const std::string expected =
      "the first 2 messages of this stream were applied (1 accepted, 1 rejected) and message 2 "
      "failed; send it and the rest again: storage is busy, try again";
  EXPECT_EQ(status.error_message(), expected);
  const std::optional<::common::v1::AppError> error = errors::AppErrorOf(status);
  EXPECT_EQ(error.has_value() ? error->message() : "no AppError", expected);
  EXPECT_EQ(transitions, 3) << "the message after the failed one was applied";
  absl::StatusOr<Order> stored = store_->Get(order);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->status, OrderStatus::kConfirmed);

  transitions = 0;
  third_fails_with = absl::StatusCode::kInternal;
  const grpc::Status internal = Upload({{"no-such-order", ::order::v1::ORDER_STATUS_CONFIRMED},
                                        {"no-such-order", ::order::v1::ORDER_STATUS_CONFIRMED},
                                        {order, ::order::v1::ORDER_STATUS_SHIPPED}});
  EXPECT_EQ(internal.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(internal.error_message(), "internal error");
}

// An upload carries at most max_messages_per_upload messages (its counts are int32): the one
// beyond ends it RESOURCE_EXHAUSTED, unapplied, saying how many were applied.
TEST_F(StreamOrderUpdatesTest, UploadBeyondItsMessageCap_ResourceExhaustedSayingWhatWasApplied) {
  const std::string order = NewOrder();
  Serve({.max_messages_per_upload = 2});
  const grpc::Status status = Upload({{order, ::order::v1::ORDER_STATUS_CONFIRMED},
                                      {order, ::order::v1::ORDER_STATUS_PENDING},
                                      {order, ::order::v1::ORDER_STATUS_SHIPPED}});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(status.error_message(),
            "a stream carries at most 2 messages: the first 2 were applied (1 accepted, 1 "
            "rejected); send the rest on another stream");
  absl::StatusOr<Order> stored = store_->Get(order);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->status, OrderStatus::kConfirmed);  // the third, SHIPPED, was not applied
}

// The upload reactor runs the server's chain itself (no gRPC interceptor on it): every message
// it reads is counted received (the one beyond the cap too), the summary of an upload that ends
// OK sent, and each end by its code, before the client hears it.
TEST_F(StreamOrderUpdatesTest, UploadEnds_CountedByTheChainTheReactorDrives) {
  const std::string order = NewOrder();
  Serve({.max_messages_per_upload = 2}, /*with_chain=*/true);
  EXPECT_EQ(Upload({{order, ::order::v1::ORDER_STATUS_CONFIRMED},
                    {order, ::order::v1::ORDER_STATUS_PENDING},
                    {order, ::order::v1::ORDER_STATUS_SHIPPED}})
                .error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Upload({{order, ::order::v1::ORDER_STATUS_SHIPPED}}).ok());

  const testing::MetricLabels upload =
      testing::MethodLabels("order.v1.OrderService", "UploadOrderEvents", "client_stream");
  auto with_code = [&](const char* code) { return testing::WithCode(upload, code); };
  const std::string body = prometheus::TextSerializer().Serialize(registry_.Collect());
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_started_total", upload), 2);
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_msg_received_total", upload), 4);
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_msg_sent_total", upload), 1);
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_handled_total", with_code("ResourceExhausted")),
            1);
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_handled_total", with_code("OK")), 1);
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_in_flight", upload), 0);
}

// CreateOrder's commit waits for a pool thread after the user check has answered. A caller that
// has gone by the time it gets one (it cancelled while every thread was busy) gets nothing
// created: a retry without a request_id would create the order twice. The pool's 64 threads are
// held by uploads whose messages wait in the store; no step is timed.
TEST_F(StreamOrderUpdatesTest, CreateOrder_CallerGoneBeforeItsCommitGetsAThread_CreatesNothing) {
  absl::Notification checking, answer, release_pool;
  testing::ScriptedUserService user_service;  // answers ACTIVE once told to
  user_service.get_user = [&](const grpc::ServerContextBase*, const ::user::v1::GetUserRequest& r,
                              ::user::v1::GetUserResponse* response) {
    checking.Notify();
    answer.WaitForNotificationWithTimeout(absl::Seconds(20));
    response->mutable_user()->set_id(r.id());
    response->mutable_user()->set_status(::user::v1::USER_STATUS_ACTIVE);
    return grpc::Status::OK;
  };
  std::unique_ptr<runtime::GrpcServer> user_server =
      testing::StartLoopbackServer(&user_service, "user.v1.UserService");
  ASSERT_NE(user_server, nullptr);
  users_ = std::make_unique<UserDirectory>(
      UserDirectoryOptions{.target = testing::LoopbackAddress(user_server->port()),
                           .credentials = grpc::InsecureChannelCredentials(),
                           .max_deadline = absl::Seconds(30)},
      std::make_shared<interceptor::ClientChain>(registry_, nullptr), registry_);
  std::atomic<int> held{0};
  counted_->before_transition = [&] {
    ++held;
    release_pool.WaitForNotificationWithTimeout(absl::Seconds(20));
  };
  service_ = std::make_unique<OrderServiceImpl>(*counted_, *users_, fanout_, StreamOptions{});
  std::unique_ptr<runtime::GrpcServer> server =
      testing::StartLoopbackServer(service_.get(), "order.v1.OrderService");
  ASSERT_NE(server, nullptr);
  stub_ = testing::StubTo<::order::v1::OrderService>(*server);
  const std::string order = NewOrder();

  grpc::ClientContext create_context;
  create_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status created;
  std::thread create([&] {
    ::order::v1::CreateOrderRequest request;
    request.set_user_id("late-buyer");
    ::order::v1::OrderItem* item = request.add_items();
    item->set_product_id("sku");
    item->set_quantity(1);
    item->set_price_cents(100);
    ::order::v1::CreateOrderResponse response;
    created = stub_->CreateOrder(&create_context, request, &response);
  });
  // Each step awaits the one before (10 s at most); the first that does not happen is reported.
  const absl::Time until = absl::Now() + absl::Seconds(10);
  auto await = [&](auto done) {
    while (!done() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
    return done();
  };
  std::vector<std::thread> uploads;
  const bool checked = checking.WaitForNotificationWithTimeout(absl::Seconds(10));
  if (checked) {  // the check is out, and its handler's thread free again: hold them all
    for (int i = 0; i < interceptor::kDefaultHandlerThreads; ++i) {
      uploads.emplace_back([&] { Upload({{order, ::order::v1::ORDER_STATUS_CONFIRMED}}); });
    }
  }
  const bool all_held = await([&] { return held.load() == interceptor::kDefaultHandlerThreads; });
  answer.Notify();  // the check answers OK; the commit now waits for a thread
  const std::vector<std::pair<std::string, std::string>> get_user_ok = {{"grpc_method", "GetUser"},
                                                                        {"grpc_code", "OK"}};
  const bool answered_ok = await([&] {
    return testing::MetricValue(prometheus::TextSerializer().Serialize(registry_.Collect()),
                                "grpc_client_handled_total", get_user_ok) == 1;
  });
  create_context.TryCancel();  // the caller gives up, and the server takes word of it
  const bool end_seen = await([&] { return service_->unary_methods().EndsSeenForTesting() == 1; });
  release_pool.Notify();
  create.join();
  for (std::thread& upload : uploads) upload.join();
  server.reset();  // returns once every call is answered: the commit's turn came and went
  ASSERT_TRUE(checked) << "the user check never reached the user service";
  ASSERT_TRUE(all_held) << held.load() << " of the pool's threads held";
  ASSERT_TRUE(answered_ok) << "the user check did not answer OK";
  ASSERT_TRUE(end_seen) << "the server never saw the call end";
  EXPECT_EQ(created.error_code(), grpc::StatusCode::CANCELLED) << created.error_message();
  absl::StatusOr<OrderPage> page = store_->List({.user_id = "late-buyer"});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->total, 0) << "an order was created for a caller who had gone";
}

}  // namespace
}  // namespace hermes::order
