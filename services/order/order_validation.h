// Validation of order.v1 requests: API.md's rules, turned into domain values or into
// INVALID_ARGUMENT errors naming the offending field (`items[2].quantity`, `reason`, ...).
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/api/pagination.h"
#include "order/v1/order.pb.h"
#include "services/order/order.h"

namespace hermes::order {

absl::Status ValidateId(absl::string_view id, absl::string_view field);

// What names a create for its retries: user_id (required) and request_id (at most 128 code
// points of valid UTF-8). A retry is looked up with these alone, before the rest is checked.
absl::Status ValidateCreateKey(const ::order::v1::CreateOrderRequest& request);
// The key, the items and the exact total (overflow of int64 cents is INVALID_ARGUMENT on the
// price of the item that made it overflow, `items[i].price_cents`).
absl::StatusOr<NewOrder> ValidateCreate(const ::order::v1::CreateOrderRequest& request);
absl::StatusOr<ListOrdersQuery> ValidateList(const ::order::v1::ListOrdersRequest& request,
                                             api::Page* page);
// A cancel reason / UploadOrderEvents note that cancels: 1–500 code points of valid UTF-8.
absl::Status ValidateReason(absl::string_view reason, absl::string_view field);

// UNSPECIFIED = any (nullopt); a value outside the enum is INVALID_ARGUMENT on `field`.
absl::StatusOr<std::optional<OrderStatus>> StatusFilter(int value, absl::string_view field);
// A target status: must be a real status (not UNSPECIFIED).
absl::StatusOr<OrderStatus> TargetStatus(int value, absl::string_view field);

}  // namespace hermes::order
