#include "services/order/order_validation.h"

#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"
#include "libs/errors/utf8.h"

namespace hermes::order {
namespace {

constexpr int kMaxItems = 100;
constexpr size_t kMaxProductId = 64;
constexpr int32_t kMaxQuantity = 10000;
constexpr size_t kMaxReason = 500;
constexpr size_t kMaxRequestId = 128;

std::optional<OrderStatus> KnownStatus(int value) {
  if (value >= ::order::v1::ORDER_STATUS_PENDING && value <= ::order::v1::ORDER_STATUS_CANCELLED) {
    return static_cast<OrderStatus>(value);
  }
  return std::nullopt;
}

}  // namespace

absl::Status ValidateId(absl::string_view id, absl::string_view field) {
  if (id.empty()) return errors::InvalidArgument(field, absl::StrCat(field, " is required"));
  if (id.size() > 64) return errors::NotFound(field, "no order has this id");
  return absl::OkStatus();
}

absl::Status ValidateCreateKey(const ::order::v1::CreateOrderRequest& request) {
  if (request.user_id().empty()) return errors::InvalidArgument("user_id", "user_id is required");
  if (const std::optional<size_t> length = errors::CodePointCount(request.request_id());
      !length.has_value() || *length > kMaxRequestId) {
    return errors::InvalidArgument("request_id",
                                   "request_id must be at most 128 characters of valid UTF-8");
  }
  return absl::OkStatus();
}

absl::StatusOr<NewOrder> ValidateCreate(const ::order::v1::CreateOrderRequest& request) {
  if (absl::Status key = ValidateCreateKey(request); !key.ok()) return key;
  if (request.items_size() < 1 || request.items_size() > kMaxItems) {
    return errors::InvalidArgument("items", "an order has 1-100 items");
  }
  NewOrder order{.user_id = request.user_id(), .request_id = request.request_id()};
  for (int i = 0; i < request.items_size(); ++i) {
    const ::order::v1::OrderItem& item = request.items(i);
    const std::string at = absl::StrCat("items[", i, "]");
    const std::optional<size_t> length = errors::CodePointCount(item.product_id());
    if (!length.has_value() || *length < 1 || *length > kMaxProductId) {
      return errors::InvalidArgument(absl::StrCat(at, ".product_id"),
                                     "product_id must be 1-64 characters of valid UTF-8");
    }
    if (item.quantity() < 1 || item.quantity() > kMaxQuantity) {
      return errors::InvalidArgument(absl::StrCat(at, ".quantity"),
                                     "quantity must be between 1 and 10000");
    }
    if (item.price_cents() < 0) {
      return errors::InvalidArgument(absl::StrCat(at, ".price_cents"),
                                     "price_cents must not be negative");
    }
    int64_t line = 0;
    if (__builtin_mul_overflow(item.price_cents(), int64_t{item.quantity()}, &line) ||
        __builtin_add_overflow(order.total_cents, line, &order.total_cents)) {
      return errors::InvalidArgument(absl::StrCat(at, ".price_cents"),
                                     "the order total does not fit in 64-bit cents");
    }
    order.items.push_back({.product_id = item.product_id(),
                           .quantity = item.quantity(),
                           .price_cents = item.price_cents()});
  }
  return order;
}

absl::StatusOr<ListOrdersQuery> ValidateList(const ::order::v1::ListOrdersRequest& request,
                                             api::Page* page) {
  if (request.user_id().empty()) return errors::InvalidArgument("user_id", "user_id is required");
  absl::StatusOr<api::Page> resolved = api::ResolvePage(request.page());
  if (!resolved.ok()) return resolved.status();
  absl::StatusOr<std::optional<OrderStatus>> status =
      StatusFilter(request.status_filter(), "status_filter");
  if (!status.ok()) return status.status();
  *page = *resolved;
  return ListOrdersQuery{.user_id = request.user_id(),
                         .status = *status,
                         .offset = page->offset,
                         .limit = page->page_size};
}

absl::Status ValidateReason(absl::string_view reason, absl::string_view field) {
  const std::optional<size_t> length = errors::CodePointCount(reason);
  if (!length.has_value()) return errors::InvalidArgument(field, "not valid UTF-8");
  if (*length < 1 || *length > kMaxReason) {
    return errors::InvalidArgument(field, absl::StrCat(field, " must be 1-500 characters"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<OrderStatus>> StatusFilter(int value, absl::string_view field) {
  if (value == ::order::v1::ORDER_STATUS_UNSPECIFIED) return std::optional<OrderStatus>();
  std::optional<OrderStatus> status = KnownStatus(value);
  if (!status.has_value()) {
    return errors::InvalidArgument(field, absl::StrCat("unknown order status ", value));
  }
  return status;
}

absl::StatusOr<OrderStatus> TargetStatus(int value, absl::string_view field) {
  std::optional<OrderStatus> status = KnownStatus(value);
  if (!status.has_value()) {
    return errors::InvalidArgument(
        field, value == 0 ? "new_status is required (not ORDER_STATUS_UNSPECIFIED)"
                          : absl::StrCat("new_status ", value, " is not a known OrderStatus"));
  }
  return *status;
}

}  // namespace hermes::order
