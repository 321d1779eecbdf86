#include "libs/streams/event_fanout.h"

#include <gtest/gtest.h>

#include <optional>
#include <thread>

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

TEST(EventFanoutTest, Close_EndsSubscribersAfterTheirQueueAndRefusesNewOnes) {
  Fanout fanout;
  auto handle = fanout.Subscribe(8);
  fanout.Publish(7);
  fanout.Close();
  EXPECT_EQ(PopValue(handle), 7);
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.Pop(absl::Seconds(1), &event), Fanout::Next::kClosed);
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

// The callback API's way: no thread waits; the waker runs after each queued event and on
// Close, and TryPop takes what is there.
TEST(EventFanoutTest, Waker_RunsPerQueuedEventAndOnClose_TryPopNeverWaits) {
  Fanout fanout;
  int wakes = 0;
  std::vector<int> seen;
  std::optional<Fanout::Handle> handle;
  handle.emplace(fanout.Subscribe(8, [&] {
    ++wakes;
    std::shared_ptr<const int> event;
    while (handle->TryPop(&event) == Fanout::Next::kEvent) seen.push_back(*event);
  }));
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle->TryPop(&event), Fanout::Next::kTimeout);
  fanout.Publish(1);
  fanout.Publish(2);
  handle->Inject(3);
  EXPECT_EQ(wakes, 3);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
  fanout.Close();
  EXPECT_EQ(wakes, 4);
  EXPECT_EQ(handle->TryPop(&event), Fanout::Next::kClosed);
}

TEST(EventFanoutTest, Waker_OverflowIsReportedOnce_QueueDropped) {
  Fanout fanout;
  int wakes = 0;
  Fanout::Handle handle = fanout.Subscribe(2, [&] { ++wakes; });
  for (int i = 1; i <= 3; ++i) fanout.Publish(i);  // the third overflows the queue of 2
  EXPECT_EQ(wakes, 3);
  std::shared_ptr<const int> event;
  EXPECT_EQ(handle.TryPop(&event), Fanout::Next::kOverflow);
  fanout.Publish(4);  // an overflowed subscriber is not woken again
  EXPECT_EQ(wakes, 3);
}

}  // namespace
}  // namespace hermes::streams
