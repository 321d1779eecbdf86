#include "libs/streams/stream_slots.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

namespace hermes::streams {
namespace {

TEST(StreamSlotsTest, TryTake_UpToTheLimit_ThenNothingUntilOneIsGivenBack) {
  StreamSlots slots(2);
  std::optional<StreamSlots::Slot> first = slots.TryTake();
  std::optional<StreamSlots::Slot> second = slots.TryTake();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(slots.TryTake().has_value());
  EXPECT_EQ(slots.open(), 2);  // a refusal takes nothing

  first.reset();  // the stream is done
  EXPECT_EQ(slots.open(), 1);
  EXPECT_TRUE(slots.TryTake().has_value());  // taken, and given back at the end of the statement
  EXPECT_EQ(slots.open(), 1);
}

TEST(StreamSlotsTest, SlotAssignedOver_GivesBackTheOneItHeld) {
  StreamSlots slots(2);
  std::optional<StreamSlots::Slot> slot = slots.TryTake();
  ASSERT_TRUE(slot.has_value());
  slot = slots.TryTake();  // the first goes back, the second is held
  EXPECT_EQ(slots.open(), 1);
  slot.reset();
  EXPECT_EQ(slots.open(), 0);
}

TEST(StreamSlotsTest, MovedSlot_IsGivenBackOnce) {
  StreamSlots slots(1);
  std::optional<StreamSlots::Slot> slot = slots.TryTake();
  ASSERT_TRUE(slot.has_value());
  {
    StreamSlots::Slot moved = *std::move(slot);
    slot.reset();  // the moved-from slot holds nothing
    EXPECT_EQ(slots.open(), 1);
  }
  EXPECT_EQ(slots.open(), 0);
}

TEST(StreamSlotsTest, ThreadsRacingForFewSlots_NeverHoldMoreThanTheLimit) {
  constexpr int kLimit = 3;
  constexpr int kThreads = 8;
  constexpr int kTriesEach = 5000;
  StreamSlots slots(kLimit);
  std::atomic<int> held{0};
  std::atomic<int> most_held{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kTriesEach; ++i) {
        if (std::optional<StreamSlots::Slot> slot = slots.TryTake()) {
          const int now = held.fetch_add(1) + 1;
          int most = most_held.load();
          while (now > most && !most_held.compare_exchange_weak(most, now)) {
          }
          held.fetch_sub(1);  // before the slot goes back at the end of this scope
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_GE(most_held.load(), 1);
  EXPECT_LE(most_held.load(), kLimit);
  EXPECT_EQ(slots.open(), 0);  // every slot given back
}

}  // namespace
}  // namespace hermes::streams
