// Domain <-> order.v1 protos.
#pragma once

#include "order/v1/order.pb.h"
#include "services/order/order.h"

namespace hermes::order {

inline ::order::v1::OrderStatus ToProto(OrderStatus status) {
  return static_cast<::order::v1::OrderStatus>(status);  // same numbers by construction
}
void ToProto(const Order& order, ::order::v1::Order* proto);

}  // namespace hermes::order
