#include "libs/runtime/periodic_task.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace hermes::runtime {
namespace {

TEST(PeriodicTaskTest, RunsEveryInterval) {
  std::atomic<int> runs{0};
  absl::Notification third;
  PeriodicTask task(absl::Milliseconds(10), [&] {
    if (++runs == 3) third.Notify();
  });
  EXPECT_TRUE(third.WaitForNotificationWithTimeout(absl::Seconds(10)));
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
