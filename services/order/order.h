// The order domain: orders, their items, the status machine, and status-change events.
// Plain values, independent of protobuf and of any store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace hermes::order {

enum class OrderStatus {
  kPending = 1,
  kConfirmed = 2,
  kShipped = 3,
  kDelivered = 4,
  kCancelled = 5
};

struct OrderItem {
  std::string product_id;   // 1–64 characters
  int32_t quantity = 0;     // 1–10,000
  int64_t price_cents = 0;  // >= 0
};

struct Order {
  std::string id;
  std::string user_id;
  std::vector<OrderItem> items;
  OrderStatus status = OrderStatus::kPending;
  int64_t total_cents = 0;  // sum of quantity * price_cents, computed exactly
  absl::Time created_at;
  absl::Time updated_at;
  std::string cancel_reason;  // set when cancelled
};

// A validated CreateOrder (the user was checked, the total computed without overflow).
struct NewOrder {
  std::string user_id;
  std::vector<OrderItem> items;
  int64_t total_cents = 0;
  std::string request_id;  // "" = not idempotent; else a repeat returns the first order
};

struct ListOrdersQuery {
  std::string user_id;
  std::optional<OrderStatus> status;  // nullopt = every status
  int64_t offset = 0;
  int32_t limit = 20;
};

struct OrderPage {
  std::vector<Order> orders;  // newest first: created_at descending, then id descending
  int64_t total = 0;
};

// One committed status change (creation included, as PENDING).
struct OrderEvent {
  int64_t sequence = 0;  // strictly increasing in commit order
  std::string order_id;
  OrderStatus status = OrderStatus::kPending;
  absl::Time updated_at;
};

// The status machine: PENDING → CONFIRMED → SHIPPED → DELIVERED one step at a time, or
// → CANCELLED from PENDING or CONFIRMED.
bool IsAllowedTransition(OrderStatus from, OrderStatus to);

}  // namespace hermes::order
