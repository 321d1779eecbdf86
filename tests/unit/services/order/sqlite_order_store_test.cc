#include "services/order/sqlite_order_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <latch>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/errors/app_error.h"
#include "libs/storage/migrations.h"
#include "libs/storage/sqlite_database.h"
#include "tests/support/file_size_limit.h"
#include "tests/unit/services/recording_listener.h"

namespace hermes::order {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

auto Fields(const OrderItem& item) {
  return std::make_tuple(item.product_id, item.quantity, item.price_cents);
}
auto Fields(const Order& order) {
  std::vector<std::tuple<std::string, int32_t, int64_t>> items;
  for (const OrderItem& item : order.items) items.push_back(Fields(item));
  return std::make_tuple(order.id, order.user_id, items, static_cast<int>(order.status),
                         order.total_cents, order.created_at, order.updated_at,
                         order.cancel_reason);
}
auto Fields(const OrderEvent& e) {
  return std::make_tuple(e.sequence, e.order_id, static_cast<int>(e.status), e.updated_at);
}

class SqliteOrderStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "order_store_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/data/order.db";
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
    store_->SetEventListener(listener_.AsListener());
  }
  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::unique_ptr<SqliteOrderStore> OpenStore(int64_t prune_batch_size = 1000) {
    absl::StatusOr<std::unique_ptr<SqliteOrderStore>> store = SqliteOrderStore::Open(
        path_, {.prune_batch_size = prune_batch_size,
                .clock = [this] { return absl::FromUnixMicros(now_micros_.load()); }});
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  void Reopen() {
    store_.reset();
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
    store_->SetEventListener(listener_.AsListener());
  }
  void Advance(absl::Duration d) { now_micros_ += absl::ToInt64Microseconds(d); }
  absl::Time Now() const { return absl::FromUnixMicros(now_micros_.load()); }

  static NewOrder Sample(const std::string& user = "u1", const std::string& request_id = "") {
    return {.user_id = user,
            .items = {{.product_id = "p-b", .quantity = 2, .price_cents = 150},
                      {.product_id = "p-a", .quantity = 1, .price_cents = 0},
                      {.product_id = "p-c", .quantity = 10'000, .price_cents = 7}},
            .total_cents = 70'300,
            .request_id = request_id};
  }
  Order CreateOrDie(const NewOrder& order = Sample()) {
    absl::StatusOr<Order> created = store_->Create(order);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.value_or(Order{});
  }
  absl::StatusOr<Order> Move(const std::string& id, OrderStatus to, absl::string_view reason = "") {
    return store_->Transition(id, to, reason, "order_id", "new_status");
  }

  // The event log, read straight from the file.
  std::vector<OrderEvent> Events() {
    absl::StatusOr<std::unique_ptr<storage::SqliteDatabase>> db =
        storage::SqliteDatabase::Open(path_, {.query_only = true});
    EXPECT_TRUE(db.ok()) << db.status();
    std::vector<OrderEvent> events;
    if (!db.ok()) return events;
    absl::StatusOr<storage::CachedStatement> stmt = (*db)->Prepare(
        "SELECT sequence, order_id, status, updated_at FROM order_events ORDER BY sequence");
    EXPECT_TRUE(stmt.ok()) << stmt.status();
    while (stmt.ok() && (*stmt)->Step().value_or(false)) {
      events.push_back({.sequence = (*stmt)->ColumnInt64(0),
                        .order_id = (*stmt)->ColumnText(1),
                        .status = static_cast<OrderStatus>((*stmt)->ColumnInt64(2)),
                        .updated_at = absl::FromUnixMicros((*stmt)->ColumnInt64(3))});
    }
    return events;
  }

  std::string dir_;
  std::string path_;
  std::atomic<int64_t> now_micros_{absl::ToUnixMicros(kStart)};
  testing::RecordingListener<OrderEvent> listener_;
  std::unique_ptr<SqliteOrderStore> store_;
};

// ---- Create and Get ---------------------------------------------------------------------------

TEST_F(SqliteOrderStoreTest, Create_ReturnsPendingOrderWithIdTimesAndOneEvent) {
  const Order order = CreateOrDie();
  EXPECT_THAT(order.id, SizeIs(26));
  EXPECT_EQ(order.user_id, "u1");
  EXPECT_EQ(order.status, OrderStatus::kPending);
  EXPECT_EQ(order.total_cents, 70'300);
  EXPECT_EQ(order.created_at, kStart);
  EXPECT_EQ(order.updated_at, kStart);
  EXPECT_EQ(order.cancel_reason, "");
  ASSERT_THAT(Events(), SizeIs(1));
  EXPECT_EQ(Fields(Events()[0]), Fields(OrderEvent{.sequence = 1,
                                                   .order_id = order.id,
                                                   .status = OrderStatus::kPending,
                                                   .updated_at = kStart}));
}

TEST_F(SqliteOrderStoreTest, Create_ThenGet_ItemsKeepTheirOrderAndTheTotalRoundTrips) {
  const Order order = CreateOrDie();
  absl::StatusOr<Order> got = store_->Get(order.id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Fields(*got), Fields(order));
  ASSERT_THAT(got->items, SizeIs(3));
  EXPECT_EQ(got->items[0].product_id, "p-b");
  EXPECT_EQ(got->items[1].product_id, "p-a");
  EXPECT_EQ(got->items[2].quantity, 10'000);
}

TEST_F(SqliteOrderStoreTest, Get_UnknownId_NotFoundWithFieldId) {
  absl::Status status = store_->Get("nope").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(errors::FieldOf(status), "id");
}

// TryGet reads on an idle reader connection; where it would have to open one (or wait for one),
// it says so instead of reading.
TEST_F(SqliteOrderStoreTest, TryGet_OnAnIdleReader_ElseSaysItWouldWait) {
  EXPECT_FALSE(store_->TryGet("nope").has_value());  // no reader opened yet
  EXPECT_EQ(store_->Get("nope").status().code(), absl::StatusCode::kNotFound);  // opens one
  std::optional<absl::StatusOr<Order>> missing = store_->TryGet("nope");
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(errors::FieldOf(missing->status()), "id");

  const Order order = CreateOrDie();
  std::optional<absl::StatusOr<Order>> got = store_->TryGet(order.id);
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(got->ok()) << got->status();
  EXPECT_EQ(Fields(**got), Fields(order));
}

TEST_F(SqliteOrderStoreTest, Create_RepeatedRequestId_ReturnsFirstOrderAndWritesNoEvent) {
  const Order first = CreateOrDie(Sample("u1", "req-1"));
  Advance(absl::Seconds(1));
  const Order confirmed = *Move(first.id, OrderStatus::kConfirmed);
  NewOrder repeat = Sample("u1", "req-1");
  repeat.items.resize(1);  // whatever the repeat carries, the first order is the answer
  const Order again = CreateOrDie(repeat);
  EXPECT_EQ(Fields(again), Fields(confirmed));  // as stored now, CONFIRMED
  EXPECT_THAT(Events(), SizeIs(2));
  EXPECT_THAT(listener_.events(), SizeIs(2));
  EXPECT_EQ(store_->List({.user_id = "u1"})->total, 1);
}

TEST_F(SqliteOrderStoreTest, Create_SameRequestIdForAnotherUser_CreatesAnotherOrder) {
  const Order a = CreateOrDie(Sample("u1", "req-1"));
  const Order b = CreateOrDie(Sample("u2", "req-1"));
  EXPECT_NE(a.id, b.id);
  EXPECT_THAT(Events(), SizeIs(2));
}

TEST_F(SqliteOrderStoreTest, Create_EmptyRequestId_EveryCallCreates) {
  EXPECT_NE(CreateOrDie().id, CreateOrDie().id);
  EXPECT_EQ(store_->List({.user_id = "u1"})->total, 2);
}

TEST_F(SqliteOrderStoreTest, Create_RepeatedRequestIdFromEightThreads_OneOrderOneEvent) {
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<std::string> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      absl::StatusOr<Order> order = store_->Create(Sample("u1", "same"));
      ASSERT_TRUE(order.ok()) << order.status();
      ids[static_cast<size_t>(t)] = order->id;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(std::set<std::string>(ids.begin(), ids.end()), SizeIs(1));
  EXPECT_EQ(store_->List({.user_id = "u1"})->total, 1);
  EXPECT_THAT(Events(), SizeIs(1));
  EXPECT_THAT(listener_.events(), SizeIs(1));
}

// ---- List -------------------------------------------------------------------------------------

TEST_F(SqliteOrderStoreTest, List_NewestFirstByCreatedAtThenIdWithItems) {
  std::vector<Order> created;
  // The same instant: each a microsecond after the one before, so creation order decides.
  for (int i = 0; i < 3; ++i) created.push_back(CreateOrDie());
  Advance(absl::Seconds(1));
  created.push_back(CreateOrDie());
  CreateOrDie(Sample("someone-else"));
  absl::StatusOr<OrderPage> page = store_->List({.user_id = "u1"});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->total, 4);
  ASSERT_THAT(page->orders, SizeIs(4));
  for (size_t i = 0; i < page->orders.size(); ++i) {
    EXPECT_EQ(page->orders[i].id, created[3 - i].id) << i;
  }
  for (const Order& order : page->orders) EXPECT_EQ(Fields(order), Fields(*store_->Get(order.id)));
}

TEST_F(SqliteOrderStoreTest, List_NewOrdersComeFirst_EvenWhenTheClockStandsStillOrStepsBack) {
  const Order first = CreateOrDie();
  const Order same_time = CreateOrDie();  // the same microsecond
  Advance(-absl::Hours(1));               // the clock steps back, across a restart
  Reopen();
  const Order stepped_back = CreateOrDie();

  EXPECT_EQ(first.created_at, kStart);
  EXPECT_EQ(same_time.created_at, kStart + absl::Microseconds(1));
  EXPECT_EQ(stepped_back.created_at, kStart + absl::Microseconds(2));
  EXPECT_EQ(stepped_back.updated_at, stepped_back.created_at);
  absl::StatusOr<OrderPage> page = store_->List({.user_id = "u1"});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_THAT(page->orders, SizeIs(3));
  EXPECT_EQ(page->orders[0].id, stepped_back.id);
  EXPECT_EQ(page->orders[1].id, same_time.id);
  EXPECT_EQ(page->orders[2].id, first.id);

  // Another user's orders have a floor of their own: the clock's time.
  EXPECT_EQ(CreateOrDie(Sample("u2")).created_at, kStart - absl::Hours(1));
}

TEST_F(SqliteOrderStoreTest, List_Pages_CoverEveryOrderOnceWithTheTotal) {
  for (int i = 0; i < 7; ++i) {
    CreateOrDie();
    Advance(absl::Milliseconds(1));
  }
  std::vector<std::string> seen;
  for (int64_t offset = 0; offset < 7; offset += 3) {
    absl::StatusOr<OrderPage> page = store_->List({.user_id = "u1", .offset = offset, .limit = 3});
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->total, 7);
    for (const Order& order : page->orders) seen.push_back(order.id);
  }
  EXPECT_THAT(seen, SizeIs(7));
  EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));  // newest (largest id) first
  absl::StatusOr<OrderPage> past = store_->List({.user_id = "u1", .offset = 7, .limit = 3});
  EXPECT_THAT(past->orders, SizeIs(0));
  EXPECT_EQ(past->total, 7);
}

TEST_F(SqliteOrderStoreTest, List_StatusFilter_ListsAndCountsOnlyMatches) {
  const Order a = CreateOrDie();
  const Order b = CreateOrDie();
  CreateOrDie();
  ASSERT_TRUE(Move(a.id, OrderStatus::kConfirmed).ok());
  ASSERT_TRUE(Move(b.id, OrderStatus::kConfirmed).ok());
  absl::StatusOr<OrderPage> page =
      store_->List({.user_id = "u1", .status = OrderStatus::kConfirmed, .limit = 1});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->total, 2);
  ASSERT_THAT(page->orders, SizeIs(1));
  EXPECT_EQ(page->orders[0].status, OrderStatus::kConfirmed);
  EXPECT_THAT(page->orders[0].items, SizeIs(3));
  EXPECT_EQ(store_->List({.user_id = "u1", .status = OrderStatus::kShipped})->total, 0);
}

TEST_F(SqliteOrderStoreTest, List_Totals_FollowEveryWrite_AndAnUpgradeFromV1CountsWhatIsThere) {
  const Order a = CreateOrDie();
  const Order b = CreateOrDie();
  CreateOrDie();
  CreateOrDie(Sample("u2"));
  ASSERT_TRUE(Move(a.id, OrderStatus::kConfirmed).ok());
  ASSERT_TRUE(Move(b.id, OrderStatus::kCancelled, "changed my mind").ok());
  ASSERT_FALSE(Move(b.id, OrderStatus::kConfirmed).ok());  // refused: counts nothing
  auto totals = [this](const std::string& user) {
    std::vector<int64_t> result = {store_->List({.user_id = user})->total};
    for (OrderStatus status : {OrderStatus::kPending, OrderStatus::kConfirmed,
                               OrderStatus::kShipped, OrderStatus::kCancelled}) {
      result.push_back(store_->List({.user_id = user, .status = status})->total);
    }
    return result;
  };
  const std::vector<int64_t> u1 = {3, 1, 1, 0, 1};
  const std::vector<int64_t> u2 = {1, 1, 0, 0, 0};
  const std::vector<int64_t> nobody = {0, 0, 0, 0, 0};
  EXPECT_EQ(totals("u1"), u1);
  EXPECT_EQ(totals("u2"), u2);
  EXPECT_EQ(totals("nobody"), nobody);

  // Back to what a v1 binary left: no counts, no triggers.
  store_.reset();
  {
    absl::StatusOr<std::unique_ptr<storage::SqliteDatabase>> db =
        storage::SqliteDatabase::Open(path_, {});
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)
                    ->Execute("DROP TRIGGER orders_counted_on_insert; "
                              "DROP TRIGGER orders_counted_on_status; "
                              "DROP TABLE order_counts; PRAGMA user_version = 1")
                    .ok());
  }
  Reopen();
  EXPECT_EQ(totals("u1"), u1);
  EXPECT_EQ(totals("u2"), u2);
  ASSERT_TRUE(Move(a.id, OrderStatus::kShipped).ok());
  CreateOrDie();
  const std::vector<int64_t> u1_after = {4, 2, 0, 1, 1};
  EXPECT_EQ(totals("u1"), u1_after);
}

TEST_F(SqliteOrderStoreTest, List_BadQuery_InvalidArgument) {
  EXPECT_EQ(errors::FieldOf(store_->List({}).status()), "user_id");
  EXPECT_EQ(store_->List({.user_id = "u1", .offset = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->List({.user_id = "u1", .limit = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- Transition -------------------------------------------------------------------------------

constexpr OrderStatus kAll[] = {OrderStatus::kPending, OrderStatus::kConfirmed,
                                OrderStatus::kShipped, OrderStatus::kDelivered,
                                OrderStatus::kCancelled};

TEST_F(SqliteOrderStoreTest, Transition_EveryPair_AllowedOnesApplyOthersFailAndChangeNothing) {
  const std::set<std::pair<OrderStatus, OrderStatus>> allowed = {
      {OrderStatus::kPending, OrderStatus::kConfirmed},
      {OrderStatus::kConfirmed, OrderStatus::kShipped},
      {OrderStatus::kShipped, OrderStatus::kDelivered},
      {OrderStatus::kPending, OrderStatus::kCancelled},
      {OrderStatus::kConfirmed, OrderStatus::kCancelled}};
  // How to reach each status from PENDING.
  const auto path_to = [](OrderStatus status) -> std::vector<OrderStatus> {
    switch (status) {
      case OrderStatus::kPending:
        return {};
      case OrderStatus::kConfirmed:
        return {OrderStatus::kConfirmed};
      case OrderStatus::kShipped:
        return {OrderStatus::kConfirmed, OrderStatus::kShipped};
      case OrderStatus::kDelivered:
        return {OrderStatus::kConfirmed, OrderStatus::kShipped, OrderStatus::kDelivered};
      case OrderStatus::kCancelled:
        return {OrderStatus::kCancelled};
    }
    return {};
  };
  const std::vector<std::string> names = {"",        "PENDING",   "CONFIRMED",
                                          "SHIPPED", "DELIVERED", "CANCELLED"};
  for (OrderStatus from : kAll) {
    for (OrderStatus to : kAll) {
      SCOPED_TRACE(
          absl::StrCat(names[static_cast<size_t>(from)], " -> ", names[static_cast<size_t>(to)]));
      const Order order = CreateOrDie();
      for (OrderStatus step : path_to(from)) ASSERT_TRUE(Move(order.id, step, "first").ok());
      const Order before = *store_->Get(order.id);
      const size_t events_before = Events().size();
      Advance(absl::Seconds(1));
      absl::StatusOr<Order> after = Move(order.id, to, "changed my mind");
      if (allowed.contains({from, to})) {
        ASSERT_TRUE(after.ok()) << after.status();
        EXPECT_EQ(after->status, to);
        EXPECT_EQ(after->updated_at, Now());
        EXPECT_EQ(after->cancel_reason, to == OrderStatus::kCancelled ? "changed my mind" : "");
        EXPECT_EQ(Fields(*store_->Get(order.id)), Fields(*after));
        ASSERT_THAT(Events(), SizeIs(events_before + 1));
        EXPECT_EQ(Fields(Events().back()),
                  Fields(OrderEvent{.sequence = static_cast<int64_t>(events_before + 1),
                                    .order_id = order.id,
                                    .status = to,
                                    .updated_at = Now()}));
      } else {
        EXPECT_EQ(after.status().code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_EQ(errors::FieldOf(after.status()), "new_status");
        EXPECT_TRUE(absl::StrContains(after.status().message(), names[static_cast<size_t>(from)]));
        EXPECT_TRUE(absl::StrContains(after.status().message(), names[static_cast<size_t>(to)]));
        EXPECT_EQ(Fields(*store_->Get(order.id)), Fields(before));
        EXPECT_THAT(Events(), SizeIs(events_before));
      }
    }
  }
}

TEST_F(SqliteOrderStoreTest, Transition_UnknownId_NotFoundWithTheGivenField) {
  absl::Status status =
      store_->Transition("nope", OrderStatus::kConfirmed, "", "order_id", "new_status").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(errors::FieldOf(status), "order_id");
  EXPECT_EQ(errors::FieldOf(
                store_->Transition("nope", OrderStatus::kCancelled, "r", "id", "status").status()),
            "id");
  EXPECT_THAT(Events(), SizeIs(0));
}

TEST_F(SqliteOrderStoreTest, Transition_ClockWentBackwards_UpdatedAtDoesNotDecrease) {
  const Order order = CreateOrDie();
  Advance(-absl::Hours(1));
  absl::StatusOr<Order> confirmed = Move(order.id, OrderStatus::kConfirmed);
  ASSERT_TRUE(confirmed.ok()) << confirmed.status();
  EXPECT_EQ(confirmed->updated_at, order.updated_at);
  EXPECT_EQ(Events().back().updated_at, order.updated_at);
}

// ---- Events and the listener ------------------------------------------------------------------

TEST_F(SqliteOrderStoreTest, EveryChange_OneEventWithIncreasingSequenceHeardInOrder) {
  const Order a = CreateOrDie();
  const Order b = CreateOrDie();
  ASSERT_TRUE(Move(a.id, OrderStatus::kConfirmed).ok());
  ASSERT_TRUE(Move(b.id, OrderStatus::kCancelled, "r").ok());
  EXPECT_FALSE(Move(b.id, OrderStatus::kConfirmed).ok());  // no event for a refusal
  const std::vector<OrderEvent> events = Events();
  const std::vector<OrderEvent> heard = listener_.events();
  ASSERT_THAT(events, SizeIs(4));
  ASSERT_THAT(heard, SizeIs(4));
  const std::vector<std::pair<std::string, OrderStatus>> expected = {
      {a.id, OrderStatus::kPending},
      {b.id, OrderStatus::kPending},
      {a.id, OrderStatus::kConfirmed},
      {b.id, OrderStatus::kCancelled}};
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence, static_cast<int64_t>(i + 1));
    EXPECT_EQ(std::make_pair(events[i].order_id, events[i].status), expected[i]);
    EXPECT_EQ(Fields(heard[i]), Fields(events[i]));
  }
}

// A listener that throws fails that write's answer alone (INTERNAL: the write is durable); the
// next write is neither held up behind it nor unheard.
TEST_F(SqliteOrderStoreTest, ListenerThrows_ThatWriteInternalButDurable_TheNextOneHeard) {
  std::function<void(const OrderEvent&)> record = listener_.AsListener();
  std::atomic<int> calls{0};
  store_->SetEventListener([&](const OrderEvent& event) {
    if (calls.fetch_add(1) == 0) throw std::runtime_error("the listener broke");
    record(event);
  });
  const absl::StatusOr<Order> failed = store_->Create(Sample());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  const Order next = CreateOrDie();
  ASSERT_THAT(Events(), SizeIs(2)) << "the first order and its event are durable";
  ASSERT_THAT(listener_.events(), SizeIs(1));
  EXPECT_EQ(listener_.events()[0].order_id, next.id);
}

// A write whose caller has gone by the time its batch runs is not made: CANCELLED, no order,
// no event.
TEST_F(SqliteOrderStoreTest, CreateThenAndTransitionThen_Abandoned_NothingWritten) {
  const Order order = CreateOrDie();
  absl::Notification created, moved;
  absl::StatusOr<Order> create_outcome = absl::UnknownError("not answered");
  absl::StatusOr<Order> move_outcome = absl::UnknownError("not answered");
  store_->CreateThen(
      Sample(), [] { return true; },
      [&](absl::StatusOr<Order> outcome) {
        create_outcome = std::move(outcome);
        created.Notify();
      });
  store_->TransitionThen(
      order.id, OrderStatus::kCancelled, "gone", "id", "new_status", [] { return true; },
      [&](absl::StatusOr<Order> outcome) {
        move_outcome = std::move(outcome);
        moved.Notify();
      });
  ASSERT_TRUE(created.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(moved.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(create_outcome.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(move_outcome.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(Events(), SizeIs(1));
  EXPECT_EQ(store_->Get(order.id)->status, OrderStatus::kPending);
  EXPECT_EQ(store_->List({.user_id = "u1"})->total, 1);
}

TEST_F(SqliteOrderStoreTest,
       ConcurrentWrites_GroupCommitted_RefusalsAlone_ListenerInCommitOrderNeverOverlapping) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10;
  listener_.set_hold(absl::Microseconds(300));
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<Order> order = store_->Create(Sample(absl::StrCat("u", t)));
        ASSERT_TRUE(order.ok()) << order.status();
        ASSERT_TRUE(Move(order->id, OrderStatus::kConfirmed).ok());
        // Refused inside a shared group commit: rolled back alone, no event, no gap.
        EXPECT_FALSE(Move(order->id, OrderStatus::kDelivered).ok());
        EXPECT_TRUE(store_->Get(order->id).ok());  // reads alongside the writes
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<OrderEvent> events = Events();
  const std::vector<OrderEvent> heard = listener_.events();
  ASSERT_THAT(events, SizeIs(2 * kThreads * kPerThread));
  ASSERT_THAT(heard, SizeIs(events.size()));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence, static_cast<int64_t>(i + 1));
    EXPECT_EQ(Fields(heard[i]), Fields(events[i]));
  }
  EXPECT_FALSE(listener_.overlapped());
}

// ---- Pruning the event log (--event_retention) ------------------------------------------------

std::vector<int64_t> Sequences(const std::vector<OrderEvent>& events) {
  std::vector<int64_t> sequences;
  for (const OrderEvent& event : events) sequences.push_back(event.sequence);
  return sequences;
}

TEST_F(SqliteOrderStoreTest, PruneEvents_KeepsTheNewestOrdersStayAndSequencesContinue) {
  std::vector<Order> orders;
  for (int i = 0; i < 10; ++i) orders.push_back(CreateOrDie());
  absl::StatusOr<storage::EventsPruned> deleted = store_->PruneEvents(4);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->deleted, 6);
  EXPECT_TRUE(deleted->complete);
  EXPECT_THAT(Sequences(Events()), ElementsAre(7, 8, 9, 10));
  EXPECT_EQ(store_->PruneEvents(4)->deleted, 0);  // nothing more to do
  EXPECT_EQ(store_->PruneEvents(100)->deleted, 0);
  // Only the log is pruned: the orders whose events went are all there.
  for (const Order& order : orders) EXPECT_TRUE(store_->Get(order.id).ok()) << order.id;

  ASSERT_TRUE(Move(orders[0].id, OrderStatus::kConfirmed).ok());
  EXPECT_EQ(Events().back().sequence, 11);
}

TEST_F(SqliteOrderStoreTest, PruneEvents_InSmallBatches_DeletesThemAll) {
  store_.reset();  // one store on a file at a time
  store_ = OpenStore(/*prune_batch_size=*/3);
  ASSERT_NE(store_, nullptr);
  for (int i = 0; i < 10; ++i) CreateOrDie();
  EXPECT_EQ(store_->PruneEvents(1)->deleted, 9);
  EXPECT_THAT(Sequences(Events()), ElementsAre(10));
}

TEST_F(SqliteOrderStoreTest, PruneEvents_Everything_ASequenceIsNeverIssuedAgain) {
  for (int i = 0; i < 3; ++i) CreateOrDie();
  EXPECT_EQ(store_->PruneEvents(0)->deleted, 3);
  EXPECT_THAT(Events(), IsEmpty());

  Reopen();  // the highest sequence is kept in the file, not in memory
  CreateOrDie();
  EXPECT_THAT(Sequences(Events()), ElementsAre(4));
}

TEST_F(SqliteOrderStoreTest, PruneEvents_NegativeKeep_InvalidArgumentAndNothingDeleted) {
  CreateOrDie();
  EXPECT_EQ(store_->PruneEvents(-1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Events(), SizeIs(1));
}

// ---- Persistence ------------------------------------------------------------------------------

// One store per file at a time (libs/storage/store_file.h): held for the store's whole life.
TEST_F(SqliteOrderStoreTest, SecondStoreOnTheFile_FailedPrecondition_UntilTheFirstCloses) {
  CreateOrDie();
  absl::StatusOr<std::unique_ptr<SqliteOrderStore>> second = SqliteOrderStore::Open(path_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  CreateOrDie();  // the first one is unharmed

  store_.reset();
  second = SqliteOrderStore::Open(path_);
  EXPECT_TRUE(second.ok()) << second.status();
}

// A COMMIT that fails (the disk full, an I/O error) after the writes ran in their savepoints:
// nothing of them may show, and a create's request_id stays free, so that its retry creates the
// order rather than answering with one that was never written.
TEST_F(SqliteOrderStoreTest, FailedCommit_NothingHeardSequencedOrWritten_TheRetryCreates) {
  const Order first = CreateOrDie();
  {
    // The WAL cannot grow, so the next COMMIT, which appends to it, fails.
    testing::FileSizeLimit limit(std::filesystem::file_size(path_ + "-wal"));
    absl::StatusOr<Order> created = store_->Create(Sample("u1", "req"));
    EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable) << created.status();
    absl::StatusOr<Order> confirmed = Move(first.id, OrderStatus::kConfirmed);
    EXPECT_EQ(confirmed.status().code(), absl::StatusCode::kUnavailable) << confirmed.status();
  }
  EXPECT_EQ(Fields(*store_->Get(first.id)), Fields(first));
  EXPECT_THAT(listener_.events(), SizeIs(1));  // the first order's creation alone
  EXPECT_THAT(Events(), SizeIs(1));

  const Order retried = CreateOrDie(Sample("u1", "req"));
  EXPECT_NE(retried.id, first.id);
  EXPECT_EQ(CreateOrDie(Sample("u1", "req")).id, retried.id);  // idempotent from now on
  ASSERT_THAT(Events(), SizeIs(2));
  EXPECT_EQ(Events().back().sequence, 2);
  EXPECT_EQ(listener_.events().back().sequence, 2);
  EXPECT_EQ(Move(first.id, OrderStatus::kConfirmed)->status, OrderStatus::kConfirmed);
}

TEST_F(SqliteOrderStoreTest, Reopen_OrdersAndEventsSurviveAndSequencesContinue) {
  const Order a = CreateOrDie(Sample("u1", "req"));
  const Order cancelled = *Move(a.id, OrderStatus::kCancelled, "too slow");
  const std::vector<OrderEvent> before = Events();
  Reopen();
  EXPECT_EQ(Fields(*store_->Get(a.id)), Fields(cancelled));
  EXPECT_EQ(Fields(CreateOrDie(Sample("u1", "req"))), Fields(cancelled));  // still idempotent
  EXPECT_THAT(Events(), SizeIs(before.size()));
  CreateOrDie();
  EXPECT_EQ(Events().back().sequence, 3);
  EXPECT_EQ(listener_.events().back().sequence, 3);
  absl::StatusOr<std::unique_ptr<storage::SqliteDatabase>> db =
      storage::SqliteDatabase::Open(path_, {});
  EXPECT_EQ(*storage::SchemaVersion(**db), 2);
}

TEST_F(SqliteOrderStoreTest, OpenUrl_AbsolutePathOpensThatFileElseInvalidArgument) {
  const Order order = CreateOrDie();
  store_.reset();
  absl::StatusOr<std::unique_ptr<SqliteOrderStore>> store =
      SqliteOrderStore::OpenUrl("sqlite://" + path_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Get(order.id).ok());
  EXPECT_EQ(SqliteOrderStore::OpenUrl("postgres://x/y").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hermes::order
