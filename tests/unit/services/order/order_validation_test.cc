// API.md's limits on order requests, each at its edge: lengths count Unicode code points (not
// bytes), and every refusal names the field from the request's root.
#include "services/order/order_validation.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/services/invalid_argument.h"

namespace hermes::order {
namespace {

using ::hermes::testing::ExpectInvalid;
using ::hermes::testing::Repeat;

::order::v1::CreateOrderRequest Create(std::string product_id, int64_t price_cents = 100) {
  ::order::v1::CreateOrderRequest request;
  request.set_user_id("u1");
  ::order::v1::OrderItem* item = request.add_items();
  item->set_product_id(std::move(product_id));
  item->set_quantity(1);
  item->set_price_cents(price_cents);
  return request;
}

TEST(ValidateCreateTest, ProductIdCountsCodePoints_1To64) {
  EXPECT_TRUE(ValidateCreate(Create(Repeat("日", 64))).ok());  // 192 bytes
  ExpectInvalid(ValidateCreate(Create(Repeat("é", 65))).status(), "items[0].product_id");
  ExpectInvalid(ValidateCreate(Create("")).status(), "items[0].product_id");
}

TEST(ValidateCreateTest, RequestIdCountsCodePoints_UpTo128) {
  ::order::v1::CreateOrderRequest request = Create("sku");
  request.set_request_id(Repeat("日", 128));  // 384 bytes
  EXPECT_TRUE(ValidateCreate(request).ok());
  request.set_request_id(Repeat("a", 129));
  ExpectInvalid(ValidateCreate(request).status(), "request_id");
}

TEST(ValidateCreateTest, TotalOverflow_NamesTheItemThatOverflowedIt) {
  ::order::v1::CreateOrderRequest request = Create("a", INT64_MAX / 2);
  ::order::v1::OrderItem* second = request.add_items();
  second->set_product_id("b");
  second->set_quantity(3);
  second->set_price_cents(INT64_MAX / 4);
  ExpectInvalid(ValidateCreate(request).status(), "items[1].price_cents");
  request.mutable_items(1)->set_quantity(1);
  absl::StatusOr<NewOrder> order = ValidateCreate(request);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->total_cents, INT64_MAX / 2 + INT64_MAX / 4);
}

TEST(ValidateCreateTest, OneTo100Items) {
  ::order::v1::CreateOrderRequest request = Create("sku");
  request.clear_items();
  ExpectInvalid(ValidateCreate(request).status(), "items");
  for (int i = 0; i < 101; ++i) *request.add_items() = Create("sku").items(0);
  ExpectInvalid(ValidateCreate(request).status(), "items");
  request.mutable_items()->RemoveLast();
  EXPECT_TRUE(ValidateCreate(request).ok());
}

TEST(ValidateReasonTest, CountsCodePoints_1To500_OnTheFieldGiven) {
  EXPECT_TRUE(ValidateReason(Repeat("é", 500), "reason").ok());  // 1,000 bytes
  ExpectInvalid(ValidateReason(Repeat("é", 501), "reason"), "reason");
  ExpectInvalid(ValidateReason("", "note"), "note");  // UploadOrderEvents: the message's note
  ExpectInvalid(ValidateReason("bad \xC3", "note"), "note");
}

TEST(TargetStatusTest, UnspecifiedOrUnknown_InvalidOnTheFieldGiven) {
  ExpectInvalid(TargetStatus(::order::v1::ORDER_STATUS_UNSPECIFIED, "new_status").status(),
                "new_status");
  ExpectInvalid(TargetStatus(99, "new_status").status(), "new_status");
  // The message says which: missing, or a value this version does not know.
  EXPECT_EQ(TargetStatus(::order::v1::ORDER_STATUS_UNSPECIFIED, "new_status").status().message(),
            "new_status is required (not ORDER_STATUS_UNSPECIFIED)");
  EXPECT_EQ(TargetStatus(99, "new_status").status().message(),
            "new_status 99 is not a known OrderStatus");
  EXPECT_EQ(*TargetStatus(::order::v1::ORDER_STATUS_SHIPPED, "new_status"), OrderStatus::kShipped);
}

}  // namespace
}  // namespace hermes::order
