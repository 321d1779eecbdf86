#include "libs/runtime/periodic_task.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace hermes::runtime {
namespace {

// Runs again and again, an interval apart (never sooner: a task that spun would not wait).
TEST(PeriodicTaskTest, RunsEveryInterval) {
  constexpr absl::Duration kInterval = absl::Milliseconds(50);
  absl::Mutex mu;
  std::vector<absl::Time> runs;
  absl::Notification third;
  PeriodicTask task(kInterval, [&] {
    absl::MutexLock lock(&mu);
    runs.push_back(absl::Now());
    if (runs.size() == 3) third.Notify();
  });
  ASSERT_TRUE(third.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::MutexLock lock(&mu);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_GE(runs[i] - runs[i - 1], kInterval - absl::Milliseconds(1)) << "run " << i + 1;
  }
}

// A task with more to do (a prune that ran out of time) runs again at once, not an interval
// later: runs 2 to 4 come before an interval has passed since run 1.
TEST(PeriodicTaskTest, TaskWithMoreToDo_RunsAgainAtOnce) {
  constexpr absl::Duration kInterval = absl::Seconds(2);
  absl::Mutex mu;
  std::vector<absl::Time> runs;
  absl::Notification fourth;
  PeriodicTask task(kInterval, [&] {
    absl::MutexLock lock(&mu);
    runs.push_back(absl::Now());
    if (runs.size() == 4) fourth.Notify();
    return runs.size() < 4;  // more to do after runs 1-3
  });
  ASSERT_TRUE(fourth.WaitForNotificationWithTimeout(absl::Seconds(30)));
  absl::MutexLock lock(&mu);
  EXPECT_LT(runs[3] - runs[0], kInterval);
}

TEST(PeriodicTaskTest, Destructor_ReturnsPromptlyWithALongInterval) {
  std::atomic<int> runs{0};
  const absl::Time start = absl::Now();
  {
    PeriodicTask task(absl::Hours(1), [&] { ++runs; });
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(runs, 0);
}

// A prune that ran out of its time (incomplete) is followed by the next at once, not 10 s later,
// so a backlog is worked off.
TEST(EventLogPrunerTest, IncompletePrune_RunsAgainAtOnce) {
  absl::Mutex mu;
  std::vector<absl::Time> runs;
  absl::Notification third;
  const PeriodicTask pruner = EventLogPruner([&]() -> absl::StatusOr<storage::EventsPruned> {
    absl::MutexLock lock(&mu);
    runs.push_back(absl::Now());
    if (runs.size() == 3) third.Notify();
    return storage::EventsPruned{.deleted = 1000, .complete = runs.size() >= 3};
  });
  ASSERT_TRUE(third.WaitForNotificationWithTimeout(absl::Seconds(30)));
  absl::MutexLock lock(&mu);
  EXPECT_LT(runs[2] - runs[0], absl::Seconds(10));  // the pruner's interval
  EXPECT_EQ(runs.size(), 3u);                       // the failed one waits for it
}

}  // namespace
}  // namespace hermes::runtime
