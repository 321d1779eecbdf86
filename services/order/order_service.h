// OrderServiceImpl: order.v1.OrderService. Translates between the protos and the domain.
//
// The RPCs answer UNIMPLEMENTED (the generated base class) until the order service lands;
// the executable already serves health and reflection so that operators and tests can see it.
#pragma once

#include "order/v1/order.grpc.pb.h"

namespace hermes::order {

class OrderServiceImpl final : public ::order::v1::OrderService::Service {};

}  // namespace hermes::order
