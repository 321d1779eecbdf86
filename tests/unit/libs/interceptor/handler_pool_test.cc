// HandlerPool: every task runs, tasks that wait run side by side up to the pool's size, threads
// are started only when no idle one can take a task, the destructor runs what is queued, and a
// new task is refused (TryPost) only when every thread is busy and the queue is full.
#include "libs/interceptor/handler_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hermes::interceptor {
namespace {

constexpr absl::Duration kWait = absl::Seconds(10);

TEST(HandlerPoolTest, Destructor_RunsEveryQueuedTaskBeforeItReturns) {
  std::atomic<int> ran{0};
  absl::Notification release;
  {
    HandlerPool pool(1);
    absl::Notification started;
    pool.Post([&] {
      started.Notify();
      release.WaitForNotificationWithTimeout(kWait);
    });
    ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
    // The only thread is busy: every one of these is still queued when they are posted.
    for (int i = 0; i < 200; ++i) pool.Post([&ran] { ran.fetch_add(1); });
    release.Notify();
  }
  EXPECT_EQ(ran.load(), 200);
}

TEST(HandlerPoolTest, WaitingTasks_RunSideBySideUpToMaxThreads_TheRestQueue) {
  constexpr int kMax = 4;
  absl::Mutex mu;
  int running = 0;
  int most_running = 0;
  int finished = 0;
  absl::Notification release;
  HandlerPool pool(kMax);  // destroyed first: its threads use the above
  for (int i = 0; i < 2 * kMax; ++i) {
    pool.Post([&] {
      {
        absl::MutexLock lock(&mu);
        most_running = std::max(most_running, ++running);
      }
      release.WaitForNotificationWithTimeout(kWait);
      absl::MutexLock lock(&mu);
      --running;
      ++finished;
    });
  }
  {
    // All kMax threads are busy at once: a pool that ran one task at a time would never get here.
    absl::MutexLock lock(&mu);
    auto all_busy = [&] { return running == kMax; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all_busy), kWait)) << running;
  }
  EXPECT_EQ(pool.threads(), static_cast<size_t>(kMax));
  release.Notify();
  absl::MutexLock lock(&mu);
  auto all_done = [&] { return finished == 2 * kMax; };
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all_done), kWait)) << finished;
  EXPECT_EQ(most_running, kMax);
}

TEST(HandlerPoolTest, TryPost_RefusedOnlyWhenEveryThreadIsBusyAndMaxWaitingWait_PostAlwaysQueues) {
  constexpr int kThreads = 2;
  constexpr size_t kMaxWaiting = 3;
  std::atomic<int> ran{0};
  std::atomic<int> refused_ran{0};
  absl::Notification release;
  absl::Mutex mu;
  int started = 0;
  HandlerPool pool(kThreads, kMaxWaiting);  // destroyed first: its threads use the above
  auto blocker = [&] {
    {
      absl::MutexLock lock(&mu);
      ++started;
    }
    release.WaitForNotificationWithTimeout(kWait);
    ran.fetch_add(1);
  };
  // A thread is started for each while there are fewer than kThreads: never refused.
  for (int i = 0; i < kThreads; ++i) EXPECT_TRUE(pool.TryPost(blocker));
  {
    absl::MutexLock lock(&mu);
    auto all_busy = [&] { return started == kThreads; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all_busy), kWait)) << started;
  }
  for (size_t i = 0; i < kMaxWaiting; ++i) {
    EXPECT_TRUE(pool.TryPost([&ran] { ran.fetch_add(1); })) << i;
  }
  EXPECT_EQ(pool.waiting(), kMaxWaiting);
  EXPECT_FALSE(pool.TryPost([&refused_ran] { refused_ran.fetch_add(1); }));
  pool.Post([&ran] { ran.fetch_add(1); });  // work of an admitted call: queued regardless
  EXPECT_EQ(pool.waiting(), kMaxWaiting + 1);
  release.Notify();
  const absl::Time deadline = absl::Now() + kWait;
  while (ran.load() < kThreads + static_cast<int>(kMaxWaiting) + 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(ran.load(), kThreads + static_cast<int>(kMaxWaiting) + 1);
  EXPECT_EQ(refused_ran.load(), 0);
  // Room again once the queue has drained.
  absl::Notification after;
  EXPECT_TRUE(pool.TryPost([&after] { after.Notify(); }));
  EXPECT_TRUE(after.WaitForNotificationWithTimeout(kWait));
}

TEST(HandlerPoolTest, OneCallAtATime_ReusesOneThread) {
  HandlerPool pool(64);
  for (int i = 0; i < 20; ++i) {
    absl::Notification done;
    pool.Post([&done] { done.Notify(); });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
    // Once the thread waits again, the next call finds it idle.
    const absl::Time deadline = absl::Now() + kWait;
    while (pool.idle_threads() != pool.threads() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  EXPECT_EQ(pool.threads(), 1u);
}

TEST(HandlerPoolTest, MaxThreadsBelowOne_IsOne) {
  HandlerPool pool(0);
  absl::Notification done;
  pool.Post([&done] { done.Notify(); });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(pool.threads(), 1u);
}

}  // namespace
}  // namespace hermes::interceptor
