// OrderStore: where orders and their status-change log live. Every write commits the change
// and its event in the same transaction, durably, before it returns.
//
// Errors are absl::Status built with libs/errors (AppError.field reaches the client):
//   NOT_FOUND "id" (or "order_id" for Transition, which UploadOrderEvents uses),
//   FAILED_PRECONDITION for a transition the status machine forbids ("new_status"),
//   UNAVAILABLE (busy, I/O) or INTERNAL otherwise, with messages free of SQL and paths.
// All methods are safe to call from many threads at once.
#pragma once

#include <functional>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/storage/events_pruned.h"
#include "libs/storage/write_then.h"
#include "services/order/order.h"

namespace hermes::order {

class OrderStore {
 public:
  virtual ~OrderStore() = default;

  // Called after every commit with its event, in commit order, never concurrently, with no
  // store lock held. It must not write to the store. Set once, before the first write.
  using EventListener = std::function<void(const OrderEvent&)>;
  virtual void SetEventListener(EventListener listener) = 0;

  // Creates a PENDING order. With a non-empty request_id, a repeat (same user) returns the order
  // the first call created and creates nothing (no event either).
  virtual absl::StatusOr<Order> Create(const NewOrder& order) = 0;
  virtual absl::StatusOr<Order> Get(absl::string_view id) = 0;
  // Get without waiting for a connection: std::nullopt when the read would have to wait for one
  // (or open one). The default is Get, for a store that has none to wait for.
  virtual std::optional<absl::StatusOr<Order>> TryGet(absl::string_view id) { return Get(id); }
  // The order `user_id` created with `request_id` (as it is now), or nullopt: lets a retry be
  // answered before anything else is checked.
  virtual absl::StatusOr<std::optional<Order>> FindByRequestId(absl::string_view user_id,
                                                               absl::string_view request_id) = 0;
  virtual absl::StatusOr<OrderPage> List(const ListOrdersQuery& query) = 0;
  // Moves an order to `to` if the status machine allows it from its current status
  // (FAILED_PRECONDITION otherwise, field `field_for_status`); `reason` is stored as the
  // cancel_reason when `to` is CANCELLED. `id_field` names the id in NOT_FOUND errors.
  virtual absl::StatusOr<Order> Transition(absl::string_view id, OrderStatus to,
                                           absl::string_view reason, absl::string_view id_field,
                                           absl::string_view field_for_status) = 0;
  // Deletes all but the newest `keep` events of the status-change log (--event_retention), or as
  // many of them as a run allows; says how many were deleted and whether that was all.
  // INVALID_ARGUMENT for a negative `keep`.
  virtual absl::StatusOr<storage::EventsPruned> PruneEvents(int64_t keep) = 0;

  // Create and Transition with their outcome handed to `done` instead of returned.
  // SqliteOrderStore queues the write and returns at once; `done` runs on its commit thread once
  // the write is durable (or failed), so it must not wait for another write of this store.
  // `abandoned` (may be null) is asked right before the write: true, and nothing is written and
  // `done` gets storage::WriteAbandoned() (a caller that has gone is not committed for). The
  // defaults run the write on the caller's thread, for a store with no commit thread: the order
  // service calls these where a thread must not wait (a completion queue's), which such a store
  // would hold for the write.
  using OrderDone = std::function<void(absl::StatusOr<Order>)>;
  using Abandoned = storage::Abandoned;
  virtual void CreateThen(const NewOrder& order, Abandoned abandoned, OrderDone done) {
    done(abandoned && abandoned() ? storage::WriteAbandoned() : Create(order));
  }
  virtual void TransitionThen(absl::string_view id, OrderStatus to, absl::string_view reason,
                              absl::string_view id_field, absl::string_view field_for_status,
                              Abandoned abandoned, OrderDone done) {
    done(abandoned && abandoned() ? storage::WriteAbandoned()
                                  : Transition(id, to, reason, id_field, field_for_status));
  }
};

}  // namespace hermes::order
