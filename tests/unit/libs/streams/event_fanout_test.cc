#include "libs/streams/event_fanout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "libs/streams/delivery_thread.h"

namespace hermes::streams {
namespace {

using Fanout = EventFanout<int>;

int PopValue(Fanout::Handle& handle) {
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.Pop(absl::Seconds(5), &event), Fanout::Next::kEvent);
  return event == nullptr ? -1 : *event;
}

TEST(EventFanoutTest, EverySubscriber_GetsEveryEventInOrder) {
  Fanout fanout;
  auto a = fanout.Subscribe(16);
  auto b = fanout.Subscribe(16);
  for (int i = 1; i <= 3; ++i) fanout.Publish(i);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(PopValue(a), i);
    EXPECT_EQ(PopValue(b), i);
  }
}

TEST(EventFanoutTest, EventsBeforeSubscribing_AreNotDelivered) {
  Fanout fanout;
  fanout.Publish(1);
  auto late = fanout.Subscribe(16);
  fanout.Publish(2);
  EXPECT_EQ(PopValue(late), 2);
}

TEST(EventFanoutTest, NothingPublished_PopTimesOut) {
  Fanout fanout;
  auto handle = fanout.Subscribe(4);
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.Pop(absl::Milliseconds(20), &event), Fanout::Next::kTimeout);
}

TEST(EventFanoutTest, SlowSubscriber_OverflowsWithoutBlockingPublisherOrOthers) {
  Fanout fanout;
  auto slow = fanout.Subscribe(2);
  auto fast = fanout.Subscribe(100);
  for (int i = 1; i <= 10; ++i) fanout.Publish(i);  // returns although `slow` never reads
  std::shared_ptr<const int> event;
  EXPECT_EQ(slow.Pop(absl::Seconds(1), &event), Fanout::Next::kOverflow);
  EXPECT_EQ(slow.Pop(absl::Seconds(1), &event), Fanout::Next::kOverflow) << "final";
  for (int i = 1; i <= 10; ++i) EXPECT_EQ(PopValue(fast), i);
}

// A shutdown must not wait for a slow client to read its backlog: what it has not read is
// durable, and it resumes by sequence elsewhere.
TEST(EventFanoutTest, Close_EndsSubscribersAtOnceDroppingTheirBacklog_AndRefusesNewOnes) {
  Fanout fanout;
  auto handle = fanout.Subscribe(8);
  fanout.Publish(7);
  handle.Inject(8);
  EXPECT_FALSE(handle.Closed());
  fanout.Close();
  EXPECT_TRUE(handle.Closed());
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.Pop(absl::Seconds(1), &event), Fanout::Next::kClosed);
  EXPECT_EQ(handle.Pop(absl::Seconds(1), &event), Fanout::Next::kClosed) << "final";
  auto late = fanout.Subscribe(8);
  EXPECT_EQ(late.Pop(absl::Seconds(1), &event), Fanout::Next::kClosed);
}

TEST(EventFanoutTest, Close_WakesAWaitingSubscriberAtOnce) {
  Fanout fanout;
  auto handle = fanout.Subscribe(8);
  std::thread closer([&] { fanout.Close(); });
  std::shared_ptr<const int> event;
  const absl::Time start = absl::Now();
  EXPECT_EQ(handle.Pop(absl::Seconds(30), &event), Fanout::Next::kClosed);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  closer.join();
}

TEST(EventFanoutTest, Inject_ReachesOnlyThatSubscriberInOrderWithPublished) {
  Fanout fanout;
  auto mine = fanout.Subscribe(8);
  auto other = fanout.Subscribe(8);
  fanout.Publish(1);
  mine.Inject(100);
  fanout.Publish(2);
  EXPECT_EQ(PopValue(mine), 1);
  EXPECT_EQ(PopValue(mine), 100);
  EXPECT_EQ(PopValue(mine), 2);
  EXPECT_EQ(PopValue(other), 1);
  EXPECT_EQ(PopValue(other), 2);
}

TEST(EventFanoutTest, DestroyedHandle_Unsubscribes) {
  Fanout fanout;
  {
    auto handle = fanout.Subscribe(8);
    EXPECT_EQ(fanout.subscribers(), 1u);
  }
  EXPECT_EQ(fanout.subscribers(), 0u);
  fanout.Publish(1);  // no one to deliver to
}

TEST(EventFanoutTest, ConcurrentReaders_EachSeeTheFullSequence) {
  Fanout fanout;
  constexpr int kEvents = 2000;
  std::vector<Fanout::Handle> handles;
  for (int i = 0; i < 4; ++i) handles.push_back(fanout.Subscribe(kEvents));
  std::vector<std::thread> readers;
  std::vector<int> last(4, 0);
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      for (int i = 1; i <= kEvents; ++i) {
        std::shared_ptr<const int> event;
        if (handles[r].Pop(absl::Seconds(10), &event) != Fanout::Next::kEvent) return;
        if (*event != last[r] + 1) return;
        last[r] = *event;
      }
    });
  }
  for (int i = 1; i <= kEvents; ++i) fanout.Publish(i);
  for (auto& reader : readers) reader.join();
  for (int r = 0; r < 4; ++r) EXPECT_EQ(last[r], kEvents);
}

TEST(EventFanoutTest, SubscriberFurtherBehindThanItsCapacity_OverflowsRatherThanSkipping) {
  Fanout fanout;
  auto handle = fanout.Subscribe(4);
  for (int i = 1; i <= 10; ++i) fanout.Publish(i);  // 1..6 are gone from the log of 4
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.Pop(absl::Seconds(1), &event), Fanout::Next::kOverflow);
}

TEST(EventFanoutTest, InjectedItems_CountAgainstTheCapacity) {
  Fanout fanout;
  auto handle = fanout.Subscribe(2);
  for (int i = 1; i <= 3; ++i) handle.Inject(i);
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.Pop(absl::Seconds(1), &event), Fanout::Next::kOverflow);
}

// The log keeps as many events as the largest capacity asked for; a subscriber asking for more
// than there was keeps what the others have not read yet.
TEST(EventFanoutTest, LargerSubscriberLater_OthersLoseNothing) {
  Fanout fanout;
  auto small = fanout.Subscribe(2);
  fanout.Publish(1);
  EXPECT_EQ(PopValue(small), 1);
  fanout.Publish(2);
  fanout.Publish(3);                 // the log of 2 has wrapped: 3 sits where 1 was
  auto large = fanout.Subscribe(8);  // the log grows to 8, keeping 2 and 3 at their positions
  EXPECT_EQ(PopValue(small), 2);
  EXPECT_EQ(PopValue(small), 3);
  for (int i = 4; i <= 11; ++i) fanout.Publish(i);
  for (int i = 4; i <= 11; ++i) EXPECT_EQ(PopValue(large), i);
  std::shared_ptr<const int> event;
  EXPECT_EQ(small.Pop(absl::Seconds(1), &event), Fanout::Next::kOverflow);
}

TEST(EventFanoutTest, AfterClose_PublishedAndInjectedItemsAreDropped) {
  Fanout fanout;
  auto handle = fanout.Subscribe(8);
  fanout.Close();
  fanout.Publish(1);
  handle.Inject(2);
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.Pop(absl::Seconds(1), &event), Fanout::Next::kClosed);
}

// The callback API's way: no thread waits. TryPop takes what is there; when it found nothing,
// the waker runs once something arrives (once, however much arrives before the next TryPop),
// and on Close.
TEST(EventFanoutTest, Waker_RunsWhenSomethingArrivesForAnIdleSubscriber_AndOnClose) {
  Fanout fanout;
  int wakes = 0;
  Fanout::Handle handle = fanout.Subscribe(8, [&] { ++wakes; });
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kTimeout);
  fanout.Publish(1);
  fanout.Publish(2);
  EXPECT_EQ(wakes, 1);
  std::vector<int> seen;
  while (handle.TryPop(&event) == Fanout::Next::kEvent) seen.push_back(*event);
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
  handle.Inject(3);
  EXPECT_EQ(wakes, 2);
  ASSERT_EQ(handle.TryPop(&event), Fanout::Next::kEvent);
  EXPECT_EQ(*event, 3);
  fanout.Close();
  EXPECT_EQ(wakes, 3);
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kClosed);
}

TEST(EventFanoutTest, Waker_BusySubscriberIsNotWoken_FindsTheEventsItself) {
  Fanout fanout;
  int wakes = 0;
  Fanout::Handle handle = fanout.Subscribe(8, [&] { ++wakes; });
  fanout.Publish(1);  // never found nothing yet: busy, as while its write is in flight
  fanout.Publish(2);
  EXPECT_EQ(wakes, 0);
  EXPECT_EQ(PopValue(handle), 1);
  EXPECT_EQ(PopValue(handle), 2);
}

TEST(EventFanoutTest, Waker_OverflowIsReportedOnce_NotWokenAfter) {
  Fanout fanout;
  int wakes = 0;
  Fanout::Handle handle = fanout.Subscribe(2, [&] { ++wakes; });
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kTimeout);
  for (int i = 1; i <= 3; ++i) fanout.Publish(i);  // the third is one too many
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kOverflow);
  fanout.Publish(4);
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kOverflow) << "final";
}

// A writer's Publish wakes nobody itself when there is an executor: it hands over one task,
// however many subscribers wait, and the task wakes each of them once.
TEST(EventFanoutTest, WithWakeExecutor_PublishHandsTheWakingToIt) {
  Fanout fanout;
  std::vector<std::function<void()>> tasks;
  fanout.SetWakeExecutor([&](std::function<void()> task) { tasks.push_back(std::move(task)); });
  std::vector<int> wakes(3, 0);
  std::vector<Fanout::Handle> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(fanout.Subscribe(8, [&wakes, i] { ++wakes[i]; }));
  std::shared_ptr<const int> event;
  for (auto& handle : handles) EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kTimeout);
  fanout.Publish(1);
  fanout.Publish(2);
  EXPECT_EQ(wakes, (std::vector<int>{0, 0, 0}));
  ASSERT_EQ(tasks.size(), 1u) << "one wake for both events";
  tasks.front()();
  EXPECT_EQ(wakes, (std::vector<int>{1, 1, 1}));
  for (auto& handle : handles) EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kEvent);
  fanout.SetWakeExecutor(nullptr);
}

// An executor that cannot take the task (it throws: no memory to queue it) fails that Publish
// alone: the next Publish posts again, and the parked subscriber gets both events.
TEST(EventFanoutTest, WakeExecutorThrows_TheNextPublishPostsAgain) {
  Fanout fanout;
  bool refuse = true;
  std::vector<std::function<void()>> tasks;
  fanout.SetWakeExecutor([&](std::function<void()> task) {
    if (refuse) throw std::bad_alloc();
    tasks.push_back(std::move(task));
  });
  int wakes = 0;
  Fanout::Handle handle = fanout.Subscribe(8, [&] { ++wakes; });
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kTimeout);  // parked
  EXPECT_THROW(fanout.Publish(1), std::bad_alloc);
  refuse = false;
  fanout.Publish(2);
  ASSERT_EQ(tasks.size(), 1u);
  tasks.front()();
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(PopValue(handle), 1);
  EXPECT_EQ(PopValue(handle), 2);
  fanout.SetWakeExecutor(nullptr);
}

// A reactor looking ahead while its write is in flight: finding nothing must not ask for a
// wake (the write's completion pumps it anyway).
TEST(EventFanoutTest, TryPopWhileBusy_FindingNothing_DoesNotPark) {
  Fanout fanout;
  int wakes = 0;
  Fanout::Handle handle = fanout.Subscribe(8, [&] { ++wakes; });
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.TryPopWhileBusy(&event), Fanout::Next::kTimeout);
  fanout.Publish(1);
  EXPECT_EQ(wakes, 0);
  ASSERT_EQ(handle.TryPop(&event), Fanout::Next::kEvent);
  EXPECT_EQ(*event, 1);
}

// A subscriber that reads before its pending wake runs (pumped for another reason) is not
// woken for nothing afterwards.
TEST(EventFanoutTest, ReadBeforeItsWakeRan_NotWokenAfter) {
  Fanout fanout;
  std::vector<std::function<void()>> tasks;
  fanout.SetWakeExecutor([&](std::function<void()> task) { tasks.push_back(std::move(task)); });
  int wakes = 0;
  Fanout::Handle handle = fanout.Subscribe(8, [&] { ++wakes; });
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kTimeout);  // parked
  fanout.Publish(1);
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kEvent);
  ASSERT_EQ(tasks.size(), 1u);
  tasks.front()();
  EXPECT_EQ(wakes, 0);
  fanout.SetWakeExecutor(nullptr);
}

// An executor that lost a task (or was replaced with one pending) does not leave the
// subscribers without wakes: the next executor gets the next one.
TEST(EventFanoutTest, NewWakeExecutor_GetsTheNextWake_EvenWithOnePendingOnTheOld) {
  Fanout fanout;
  fanout.SetWakeExecutor([](std::function<void()>) {});  // drops its tasks
  int wakes = 0;
  Fanout::Handle handle = fanout.Subscribe(8, [&] { ++wakes; });
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kTimeout);
  fanout.Publish(1);  // its wake is lost
  std::vector<std::function<void()>> tasks;
  fanout.SetWakeExecutor([&](std::function<void()> task) { tasks.push_back(std::move(task)); });
  fanout.Publish(2);
  ASSERT_EQ(tasks.size(), 1u);
  tasks.front()();
  EXPECT_EQ(wakes, 1);
  fanout.SetWakeExecutor(nullptr);
}

// The services' arrangement, with real threads: a writer publishes while subscribers drain on
// a DeliveryThread whenever woken (WakesOnDeliveryThread). No wake is lost: every subscriber
// gets every event, in order, once the delivery thread has run what was posted.
TEST(EventFanoutTest, WithDeliveryThread_ConcurrentPublishing_EverySubscriberGetsEverything) {
  constexpr int kSubscribers = 300;  // more than one chunk of wakes (256)
  constexpr int kEvents = 2000;
  struct Reader {
    std::optional<Fanout::Handle> handle;
    std::vector<int> seen;  // on the delivery thread only
    void Drain() {
      std::shared_ptr<const int> event;
      while (handle->TryPop(&event) == Fanout::Next::kEvent) seen.push_back(*event);
    }
  };
  Fanout fanout;
  std::vector<std::unique_ptr<Reader>> readers;
  {
    DeliveryThread delivery;
    WakesOnDeliveryThread<Fanout> wakes(fanout, delivery);
    for (int i = 0; i < kSubscribers; ++i) {
      auto reader = std::make_unique<Reader>();
      Reader* r = reader.get();
      r->handle.emplace(
          fanout.Subscribe(kEvents, [r, &delivery] { delivery.Post([r] { r->Drain(); }); }));
      delivery.Post([r] { r->Drain(); });  // finds nothing yet, or the first events
      readers.push_back(std::move(reader));
    }
    std::thread writer([&] {
      for (int i = 1; i <= kEvents; ++i) fanout.Publish(i);
    });
    writer.join();
  }  // the delivery thread runs everything still posted, then stops
  std::vector<int> expected(kEvents);
  for (int i = 0; i < kEvents; ++i) expected[i] = i + 1;
  for (const auto& reader : readers) EXPECT_EQ(reader->seen, expected);
}

// Idle subscribers leaving in any order: the others are still woken, the gone ones not.
TEST(EventFanoutTest, UnsubscribedWhileIdle_OthersStillWoken) {
  Fanout fanout;
  std::vector<int> wakes(4, 0);
  std::vector<std::optional<Fanout::Handle>> handles(4);
  std::shared_ptr<const int> event;
  for (int i = 0; i < 4; ++i) {
    handles[i].emplace(fanout.Subscribe(8, [&wakes, i] { ++wakes[i]; }));
    EXPECT_EQ(handles[i]->TryPop(&event), Fanout::Next::kTimeout);
  }
  handles[1].reset();
  handles[3].reset();
  EXPECT_EQ(fanout.subscribers(), 2u);
  fanout.Publish(1);
  EXPECT_EQ(wakes, (std::vector<int>{1, 0, 1, 0}));
  EXPECT_EQ(PopValue(*handles[0]), 1);
  EXPECT_EQ(PopValue(*handles[2]), 1);
}

// A client that sends requests and never reads the replies: its stream's write is held up, so
// the subscriber never pops. Its injected replies must not pile up past the capacity.
TEST(EventFanoutTest, Inject_BeyondTheCapacityWhileNotReading_OverflowsAtOnceAndKeepsNothing) {
  Fanout fanout;
  int wakes = 0;
  auto handle = fanout.Subscribe(2, [&wakes] { ++wakes; });
  EXPECT_TRUE(handle.Inject(1));
  EXPECT_TRUE(handle.Inject(2));
  EXPECT_FALSE(handle.Inject(3));
  EXPECT_FALSE(handle.Inject(4));  // dropped: nothing more is kept for it
  EXPECT_EQ(wakes, 0) << "it was never parked: it finds the overflow itself";
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kOverflow);
}

TEST(EventFanoutTest, Inject_OverflowingAParkedSubscriber_WakesIt) {
  Fanout fanout;
  std::vector<std::function<void()>> tasks;  // never run: the subscriber stays parked
  fanout.SetWakeExecutor([&](std::function<void()> task) { tasks.push_back(std::move(task)); });
  int wakes = 0;
  auto handle = fanout.Subscribe(1, [&wakes] { ++wakes; });
  std::shared_ptr<const int> event;
  ASSERT_EQ(handle.TryPop(&event), Fanout::Next::kTimeout);  // parked
  fanout.Publish(1);                                         // its one place is taken
  EXPECT_FALSE(handle.Inject(2));
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kOverflow);
  fanout.SetWakeExecutor(nullptr);
}

// Runs the executor's tasks in order, calling `between` after each, until none is left or
// `max_tasks` ran; returns how many ran.
size_t RunTasks(std::vector<std::function<void()>>& tasks, const std::function<void()>& between,
                size_t max_tasks = 100) {
  size_t run = 0;
  for (; run < tasks.size() && run < max_tasks; ++run) {
    tasks[run]();
    between();
  }
  return run;
}

// A chain of wake tasks wakes the subscribers parked when it began, a chunk (256) a task.
// Subscribers that park between two tasks (having read everything) must not take the place of
// those still waiting to be told of the event, and are not woken for nothing either.
TEST(EventFanoutTest, WakeChain_SubscribersParkingMeanwhile_NoEarlierOneIsLeftAsleep) {
  Fanout fanout;
  std::vector<std::function<void()>> tasks;
  fanout.SetWakeExecutor([&](std::function<void()> task) { tasks.push_back(std::move(task)); });
  constexpr int kParked = 600;  // three chunks
  std::vector<int> wakes(kParked, 0);
  std::vector<Fanout::Handle> parked;
  std::shared_ptr<const int> event;
  for (int i = 0; i < kParked; ++i) {
    parked.push_back(fanout.Subscribe(8, [&wakes, i] { ++wakes[i]; }));
    ASSERT_EQ(parked.back().TryPop(&event), Fanout::Next::kTimeout);
  }
  fanout.Publish(1);
  fanout.Publish(2);
  ASSERT_EQ(tasks.size(), 1u) << "one chain of wake tasks at a time";

  int later_wakes = 0;
  std::vector<Fanout::Handle> later;
  bool first = true;
  RunTasks(tasks, [&] {
    if (!std::exchange(first, false)) return;
    for (int i = 0; i < 300; ++i) {  // between the first two tasks, 300 subscribers park
      later.push_back(fanout.Subscribe(8, [&later_wakes] { ++later_wakes; }));
      ASSERT_EQ(later.back().TryPop(&event), Fanout::Next::kTimeout);
    }
  });
  EXPECT_EQ(std::count(wakes.begin(), wakes.end(), 1), kParked) << "each woken exactly once";
  EXPECT_EQ(later_wakes, 0) << "nothing was published for them";
  EXPECT_EQ(tasks.size(), 3u) << "600 in chunks of 256, then the chain ends";

  // The chain is over: the next Publish starts another, for those parked now.
  fanout.Publish(3);
  ASSERT_EQ(tasks.size(), 4u);
  RunTasks(tasks, [] {});
  EXPECT_EQ(later_wakes, 300);
  fanout.SetWakeExecutor(nullptr);
}

// A fan-out whose wake tasks the test runs by hand, with `count` subscribers parked whose
// wakers record that they were woken and that their pump is due.
class WakeChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fanout_.SetWakeExecutor([this](std::function<void()> task) { tasks_.push_back(task); });
  }
  void TearDown() override { fanout_.SetWakeExecutor(nullptr); }

  void Park(int count) {
    wakes_.assign(static_cast<size_t>(count), 0);
    last_read_.assign(static_cast<size_t>(count), 0);
    std::shared_ptr<const int> event;
    for (int i = 0; i < count; ++i) {
      handles_.push_back(fanout_.Subscribe(8, [this, i] {
        ++wakes_[static_cast<size_t>(i)];
        to_pump_.push_back(i);
      }));
      ASSERT_EQ(handles_.back().TryPop(&event), Fanout::Next::kTimeout);
    }
  }

  // What each woken stream's pump does: reads everything there is, then parks again.
  void PumpTheWoken() {
    std::shared_ptr<const int> event;
    for (int i : std::exchange(to_pump_, {})) {
      const auto at = static_cast<size_t>(i);
      while (handles_[at].TryPop(&event) == Fanout::Next::kEvent) last_read_[at] = *event;
    }
  }

  Fanout fanout_;
  std::vector<std::function<void()>> tasks_;
  std::vector<int> wakes_;
  std::vector<int> last_read_;  // the last event each subscriber read
  std::vector<int> to_pump_;    // woken, not yet pumped
  std::vector<Fanout::Handle> handles_;
};

// What a StreamOrderUpdates stream does with an update for an order it does not track: woken,
// it reads the update, finds nothing else, and parks again. With more than one chunk of such
// streams, the chain must still reach every one of them once, and end.
TEST_F(WakeChainTest, WokenSubscribersParkAgain_EveryOneWokenOnce_ChainEnds) {
  Park(1000);
  fanout_.Publish(1);
  // Each task's wakes posted pumps, which run before the next task.
  const size_t ran = RunTasks(tasks_, [&] { PumpTheWoken(); });
  EXPECT_EQ(ran, tasks_.size()) << "the chain did not end";
  EXPECT_EQ(tasks_.size(), 4u);
  EXPECT_EQ(std::count(wakes_.begin(), wakes_.end(), 1), 1000) << "each woken exactly once";
}

// An event published while a chain runs posts no task of its own: the chain starts over for
// whoever is parked when it is done, so those who had already read the first event and parked
// again hear of the second.
TEST_F(WakeChainTest, PublishedDuringIt_ThoseParkedAgainAreWokenAgain) {
  Park(300);
  fanout_.Publish(1);
  bool first = true;
  RunTasks(tasks_, [&] {
    PumpTheWoken();
    if (std::exchange(first, false)) fanout_.Publish(2);  // while the chain runs
  });
  EXPECT_EQ(tasks_.size(), 4u) << "two chains of two tasks";
  EXPECT_EQ(std::count(last_read_.begin(), last_read_.end(), 2), 300)
      << "someone never heard of the second event";
}

// At shutdown the executor goes (set to nullptr) with a chain under way: its task still given
// to the executor wakes everyone left itself.
TEST(EventFanoutTest, WakeTask_ExecutorRemovedMidChain_WakesTheRestItself) {
  Fanout fanout;
  std::vector<std::function<void()>> tasks;
  fanout.SetWakeExecutor([&](std::function<void()> task) { tasks.push_back(std::move(task)); });
  constexpr int kParked = 600;
  int woken = 0;
  std::vector<Fanout::Handle> parked;
  std::shared_ptr<const int> event;
  for (int i = 0; i < kParked; ++i) {
    parked.push_back(fanout.Subscribe(8, [&woken] { ++woken; }));
    ASSERT_EQ(parked.back().TryPop(&event), Fanout::Next::kTimeout);
  }
  fanout.Publish(1);
  ASSERT_EQ(tasks.size(), 1u);
  tasks[0]();
  ASSERT_EQ(tasks.size(), 2u);
  fanout.SetWakeExecutor(nullptr);
  tasks[1]();
  EXPECT_EQ(woken, kParked);
  EXPECT_EQ(tasks.size(), 2u);
}

}  // namespace
}  // namespace hermes::streams
