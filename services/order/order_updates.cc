#include "services/order/order_updates.h"

#include "libs/api/timestamps.h"
#include "services/order/order_proto.h"

namespace hermes::order {

OrderUpdate ChangeFor(const OrderEvent& event) {
  OrderUpdate update{.kind = OrderUpdate::Kind::kChange, .status = event.status};
  update.response.set_order_id(event.order_id);
  update.response.set_status(ToProto(event.status));
  api::SetTimestamp(event.updated_at, update.response.mutable_updated_at());
  return update;
}

::order::v1::StreamOrderUpdatesResponse CurrentStatus(const Order& order) {
  ::order::v1::StreamOrderUpdatesResponse response;
  response.set_order_id(order.id);
  response.set_status(ToProto(order.status));
  api::SetTimestamp(order.updated_at, response.mutable_updated_at());
  return response;
}

}  // namespace hermes::order
