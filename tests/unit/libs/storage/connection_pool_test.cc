#include "libs/storage/connection_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "libs/errors/app_error.h"
#include "tests/unit/libs/storage/temp_database.h"

namespace hermes::storage {
namespace {

class ConnectionPoolTest : public TempDatabaseTest {
 protected:
  ConnectionPool::Opener Opener() {
    return [this]() -> absl::StatusOr<std::unique_ptr<SqliteDatabase>> {
      ++opened_;
      if (fail_) return errors::Error(absl::StatusCode::kUnavailable, "no");
      return SqliteDatabase::Open(Path(), {});
    };
  }

  std::atomic<int> opened_{0};
  std::atomic<bool> fail_{false};
};

TEST_F(ConnectionPoolTest, Acquire_AfterGiveBack_ReusesTheConnection) {
  ConnectionPool pool(Opener(), 4);
  SqliteDatabase* first = nullptr;
  {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    ASSERT_TRUE(lease.ok());
    first = &**lease;
  }
  absl::StatusOr<ConnectionPool::Lease> again = pool.Acquire();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(&**again, first);
  EXPECT_EQ(opened_, 1);
  EXPECT_EQ(pool.size(), 1);
}

// A connection given back inside a transaction would hand its next user a frozen snapshot (and
// refuse its BEGIN): it is closed instead, and the next lease is a fresh connection.
TEST_F(ConnectionPoolTest, GiveBack_InATransaction_ClosedNotReused) {
  ConnectionPool pool(Opener(), 1);
  {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    ASSERT_TRUE(lease.ok());
    ASSERT_TRUE((*lease)->Execute("BEGIN").ok());
    ASSERT_TRUE((*lease)->InTransaction());
  }
  EXPECT_EQ(pool.size(), 0);
  absl::StatusOr<ConnectionPool::Lease> again = pool.Acquire();  // would wait forever if leaked
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE((*again)->InTransaction());
  EXPECT_EQ(opened_, 2);
  EXPECT_EQ(pool.size(), 1);
}

TEST_F(ConnectionPoolTest, Acquire_WhileAllAreLent_OpensUpToTheLimitThenWaits) {
  ConnectionPool pool(Opener(), 2);
  std::optional<absl::StatusOr<ConnectionPool::Lease>> a(pool.Acquire());
  absl::StatusOr<ConnectionPool::Lease> b = pool.Acquire();
  ASSERT_TRUE(a->ok() && b.ok());
  EXPECT_NE(&***a, &**b);
  EXPECT_EQ(pool.size(), 2);

  absl::Notification got_third;
  std::thread third([&] {
    absl::StatusOr<ConnectionPool::Lease> c = pool.Acquire();
    EXPECT_TRUE(c.ok());
    got_third.Notify();
  });
  EXPECT_FALSE(got_third.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  a.reset();  // give one back
  EXPECT_TRUE(got_third.WaitForNotificationWithTimeout(absl::Seconds(10)));
  third.join();
  EXPECT_EQ(opened_, 2);
}

// TryAcquire only ever hands out an idle connection: it opens none and waits for none (the
// queue thread that asks has a pool to go to instead).
TEST_F(ConnectionPoolTest, TryAcquire_OnlyAnIdleConnection_NeverOpensNorWaits) {
  ConnectionPool pool(Opener(), 2);
  EXPECT_FALSE(pool.TryAcquire().has_value());  // none opened yet
  EXPECT_EQ(opened_, 0);
  SqliteDatabase* first = nullptr;
  {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    ASSERT_TRUE(lease.ok());
    first = &**lease;
    EXPECT_FALSE(pool.TryAcquire().has_value());  // the only one is lent out
  }
  std::optional<ConnectionPool::Lease> idle = pool.TryAcquire();
  ASSERT_TRUE(idle.has_value());
  EXPECT_EQ(&**idle, first);
  EXPECT_FALSE(pool.TryAcquire().has_value());
  idle.reset();  // given back: idle again
  EXPECT_TRUE(pool.TryAcquire().has_value());
  EXPECT_EQ(opened_, 1);
}

// A connection given back while an Acquire() waits is the waiter's: a TryAcquire in between
// (a queue thread's GetUser) does not take it first, leaving the waiter to wait on.
TEST_F(ConnectionPoolTest, TryAcquire_WhileAnAcquireWaits_LeavesTheConnectionToTheWaiter) {
  ConnectionPool pool(Opener(), 1);
  std::optional<absl::StatusOr<ConnectionPool::Lease>> held(pool.Acquire());
  ASSERT_TRUE(held->ok());
  SqliteDatabase* const only = &***held;

  absl::Notification waiter_got_it;
  absl::Notification release_waiter;
  std::thread waiter([&] {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    EXPECT_TRUE(lease.ok() && &**lease == only);
    waiter_got_it.Notify();
    release_waiter.WaitForNotification();
  });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (pool.waiting() == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  // No ASSERT while the thread runs: it must be given the connection and joined.
  const bool waited = pool.waiting() == 1;
  EXPECT_TRUE(waited) << "the waiter never waited";

  held.reset();  // given back, with the waiter not yet woken (or already holding it)
  if (waited) {
    EXPECT_FALSE(pool.TryAcquire().has_value());
  }
  EXPECT_TRUE(waiter_got_it.WaitForNotificationWithTimeout(absl::Seconds(10)));
  release_waiter.Notify();
  waiter.join();
  EXPECT_EQ(pool.waiting(), 0);
  EXPECT_TRUE(pool.TryAcquire().has_value());  // nobody waits: the idle one is anyone's
  EXPECT_EQ(opened_, 1);
}

// Waiters are served in the order they came, and a connection given back while some wait is
// the first one's: an Acquire() that comes later (here the thread that gave it back, asking at
// once, before any waiter has woken) queues behind them instead of taking it.
TEST_F(ConnectionPoolTest, Acquire_WhileOthersWait_ServedInTheOrderTheyCame) {
  ConnectionPool pool(Opener(), 1);
  std::optional<absl::StatusOr<ConnectionPool::Lease>> held(pool.Acquire());
  ASSERT_TRUE(held->ok());

  absl::Mutex mu;
  std::vector<std::string> order;
  const auto take_and_give_back = [&](const std::string& name) {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    EXPECT_TRUE(lease.ok()) << name;
    absl::MutexLock lock(&mu);
    order.push_back(name);
  };  // the lease is given back here
  std::vector<std::thread> waiters;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (const std::string name : {"first", "second", "third"}) {
    const int before = pool.waiting();
    waiters.emplace_back(take_and_give_back, name);
    // The next one starts only once this one waits, so that the order they came in is known.
    while (pool.waiting() == before && absl::Now() < deadline)
      absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(pool.waiting(), 3) << "the waiters never all waited";

  held.reset();
  take_and_give_back("newcomer");
  for (std::thread& waiter : waiters) waiter.join();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "third", "newcomer"}));
  EXPECT_EQ(opened_, 1);
}

TEST_F(ConnectionPoolTest, Acquire_OpenFails_ReturnsErrorAndFreesTheSlot) {
  ConnectionPool pool(Opener(), 1);
  fail_ = true;
  EXPECT_EQ(pool.Acquire().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pool.size(), 0);
  fail_ = false;
  EXPECT_TRUE(pool.Acquire().ok());  // does not wait for the failed slot
  EXPECT_EQ(opened_, 2);
}

TEST_F(ConnectionPoolTest, Acquire_ManyThreads_NeverMoreThanTheLimit) {
  ConnectionPool pool(Opener(), 3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
        ASSERT_TRUE(lease.ok());
        absl::StatusOr<CachedStatement> stmt = (*lease)->Prepare("SELECT 1");
        ASSERT_TRUE(stmt.ok());  // never shared: the cached statement is never in use
        ASSERT_TRUE(*(*stmt)->Step());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_LE(opened_, 3);
  EXPECT_EQ(pool.size(), opened_);
}

}  // namespace
}  // namespace hermes::storage
