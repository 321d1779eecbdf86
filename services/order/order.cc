#include "services/order/order.h"

namespace hermes::order {

bool IsAllowedTransition(OrderStatus from, OrderStatus to) {
  switch (to) {
    case OrderStatus::kConfirmed:
      return from == OrderStatus::kPending;
    case OrderStatus::kShipped:
      return from == OrderStatus::kConfirmed;
    case OrderStatus::kDelivered:
      return from == OrderStatus::kShipped;
    case OrderStatus::kCancelled:
      return from == OrderStatus::kPending || from == OrderStatus::kConfirmed;
    case OrderStatus::kPending:
      return false;  // only creation makes an order PENDING
  }
  return false;  // a value outside the enum
}

}  // namespace hermes::order
