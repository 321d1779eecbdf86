#include "services/order/order_proto.h"

#include "libs/api/timestamps.h"

namespace hermes::order {

void ToProto(const Order& order, ::order::v1::Order* proto) {
  proto->set_id(order.id);
  proto->set_user_id(order.user_id);
  for (const OrderItem& item : order.items) {
    ::order::v1::OrderItem* out = proto->add_items();
    out->set_product_id(item.product_id);
    out->set_quantity(item.quantity);
    out->set_price_cents(item.price_cents);
  }
  proto->set_status(ToProto(order.status));
  proto->set_total_cents(order.total_cents);
  api::SetTimestamp(order.created_at, proto->mutable_created_at());
  api::SetTimestamp(order.updated_at, proto->mutable_updated_at());
  proto->set_cancel_reason(order.cancel_reason);
}

}  // namespace hermes::order
