#include "libs/streams/delivery_thread.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace hermes::streams {
namespace {

TEST(DeliveryThreadTest, Post_RunsTasksInOrder_OffTheCallersThread) {
  DeliveryThread delivery;
  std::vector<int> order;
  std::thread::id ran_on;
  absl::Notification done;
  for (int i = 0; i < 100; ++i) {
    delivery.Post([&order, &ran_on, i] {
      order.push_back(i);
      ran_on = std::this_thread::get_id();
    });
  }
  delivery.Post([&done] { done.Notify(); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(DeliveryThreadTest, Destructor_RunsWhatIsStillQueued) {
  int ran = 0;
  {
    DeliveryThread delivery;
    absl::Notification release;
    delivery.Post([&release] { release.WaitForNotification(); });  // holds the thread
    for (int i = 0; i < 10; ++i) delivery.Post([&ran] { ++ran; });
    release.Notify();
  }  // a task may hold the last reference to a reactor: none is dropped unrun
  EXPECT_EQ(ran, 10);
}

TEST(DeliveryThreadTest, ATaskMayPostAnother) {
  DeliveryThread delivery;
  absl::Notification second_ran;
  delivery.Post([&] { delivery.Post([&second_ran] { second_ran.Notify(); }); });
  EXPECT_TRUE(second_ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

}  // namespace
}  // namespace hermes::streams
