#include "services/order/order.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

namespace hermes::order {
namespace {

constexpr OrderStatus kAll[] = {OrderStatus::kPending, OrderStatus::kConfirmed,
                                OrderStatus::kShipped, OrderStatus::kDelivered,
                                OrderStatus::kCancelled};

TEST(IsAllowedTransitionTest, EveryPair_OnlyTheStatusMachinesStepsAreAllowed) {
  const std::set<std::pair<OrderStatus, OrderStatus>> allowed = {
      {OrderStatus::kPending, OrderStatus::kConfirmed},
      {OrderStatus::kConfirmed, OrderStatus::kShipped},
      {OrderStatus::kShipped, OrderStatus::kDelivered},
      {OrderStatus::kPending, OrderStatus::kCancelled},
      {OrderStatus::kConfirmed, OrderStatus::kCancelled},
  };
  for (OrderStatus from : kAll) {
    for (OrderStatus to : kAll) {
      EXPECT_EQ(IsAllowedTransition(from, to), allowed.contains({from, to}))
          << static_cast<int>(from) << " -> " << static_cast<int>(to);
    }
  }
}

TEST(IsAllowedTransitionTest, ValueOutsideTheEnum_NotAllowed) {
  const auto unspecified = static_cast<OrderStatus>(0);
  for (OrderStatus status : kAll) {
    EXPECT_FALSE(IsAllowedTransition(unspecified, status));
    EXPECT_FALSE(IsAllowedTransition(status, unspecified));
  }
}

}  // namespace
}  // namespace hermes::order
