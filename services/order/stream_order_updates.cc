#include "services/order/stream_order_updates.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/api/parse_request.h"
#include "libs/errors/app_error.h"
#include "order/v1/order.grpc.pb.h"
#include "services/order/order_validation.h"

namespace hermes::order {

const std::string& StreamOrderUpdatesPath() {
  static const std::string* const path = new std::string(
      absl::StrCat("/", ::order::v1::OrderService::service_full_name(), "/StreamOrderUpdates"));
  return *path;
}

StreamOrderUpdatesReactor* StreamOrderUpdatesReactor::Start(
    OrderStore& store, OrderUpdateFanout& fanout, streams::DeliveryThread& delivery,
    interceptor::HandlerPool& pool, const StreamOptions& options, streams::StreamSlots& streams,
    grpc::CallbackServerContext* context,
    const std::shared_ptr<const interceptor::ServerChain>& chain) {
  auto* reactor = new StreamOrderUpdatesReactor(store, delivery, pool, options, context);
  reactor->BeginChain(chain, StreamOrderUpdatesPath());
  reactor->slot_ = streams.TryTake();
  if (!reactor->slot_.has_value()) {
    reactor->FinishOnce(
        errors::GrpcError(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "too many concurrent update streams on this instance; retry later"));
    return reactor;
  }
  try {
    reactor->Subscribe(fanout, options.buffer_updates);
  } catch (...) {
    reactor->FinishOnce(errors::HandlerThrew());  // as a handler that throws (recovery: INTERNAL)
    return reactor;
  }
  reactor->StartSendInitialMetadata();
  reactor->StartRead(&reactor->received_);
  reactor->MarkStarted();
  reactor->Pump();
  return reactor;
}

StreamOrderUpdatesReactor::StreamOrderUpdatesReactor(OrderStore& store,
                                                     streams::DeliveryThread& delivery,
                                                     interceptor::HandlerPool& pool,
                                                     const StreamOptions& options,
                                                     grpc::CallbackServerContext* context)
    : StreamPump(delivery, context, options.stuck_write_grace),
      store_(store),
      pool_(pool),
      options_(options) {}

void StreamOrderUpdatesReactor::OnReadDone(bool ok) {
  if (!ok) {  // half-close (or the call is over): end after every reply queued so far
    subscription_->Inject({.kind = OrderUpdate::Kind::kEnd});
    return;
  }
  ChainReceived();
  std::optional<OrderUpdate> to_read;  // a reply still to be completed on the pool
  bool replying = false;
  try {
    const absl::Status parsed = api::ParseRequest(received_, &request_);
    // Nothing of the raw bytes, nor of fields we do not know, is needed from here: a request of
    // up to 4 MiB kept until the stream's next message would hold megabytes per idle stream.
    received_.Clear();
    request_.DiscardUnknownFields();
    if (!parsed.ok()) {
      request_.Clear();
      replying = Refuse(parsed);
    } else if (absl::Status id = request_.unsubscribe()
                                     ? absl::OkStatus()
                                     : ValidateId(request_.order_id(), "order_id");
               !id.ok()) {
      // As GetOrder answers: an empty id is INVALID_ARGUMENT, one longer than any order's is
      // NOT_FOUND without a read. The reply does not echo it (it may be megabytes, and a client
      // that does not read would have the server hold a queue of them).
      request_.Clear();
      replying = Refuse(id);
    } else if ((to_read = Begin(request_, &replying))) {
      if (std::optional<bool> queued = Complete(request_, *to_read, /*may_wait=*/false)) {
        replying = *queued;
        to_read.reset();
      }
    }
  } catch (...) {
    // As a handler that throws ends its call (the recovery stage makes it INTERNAL); this runs
    // on a gRPC thread, which an escaping exception would take down with the process.
    Abort(errors::HandlerThrew());
    return;
  }
  if (!to_read.has_value()) {
    ReadNext(replying);
    return;
  }
  // The read would wait for a store connection, which gRPC's callback threads must not do: it
  // runs on the pool, and the next request is read only once its reply is queued, so replies
  // keep the order of the requests. The task holds the reactor: the stream may end meanwhile.
  Hold();
  pool_.Post([this, reply = *std::move(to_read)]() mutable {
    try {
      ReadNext(Complete(request_, reply, /*may_wait=*/true).value_or(false));
    } catch (...) {
      Abort(errors::HandlerThrew());
    }
    Release();
  });
}

void StreamOrderUpdatesReactor::ReadNext(bool replying) {
  absl::MutexLock lock(&mutex_);
  // Never after Finish: the reactor may be gone once the finished call has no read pending.
  // Nor once the replies overflowed (a client that sends requests and does not read the
  // replies): the stream is ending, and reading more would only cost a store read each.
  if (!finished() && replying) StartRead(&received_);
}

bool StreamOrderUpdatesReactor::Refuse(const absl::Status& why) {
  OrderUpdate reply{.kind = OrderUpdate::Kind::kReply};
  *reply.response.mutable_error() = errors::ToAppError(why);
  return subscription_->Inject(std::move(reply));
}

std::optional<OrderUpdate> StreamOrderUpdatesReactor::Begin(
    const ::order::v1::StreamOrderUpdatesRequest& request, bool* replying) {
  OrderUpdate reply{.kind = OrderUpdate::Kind::kReply};
  reply.response.set_order_id(request.order_id());
  absl::MutexLock lock(&mutex_);
  if (request.unsubscribe()) {
    tracked_.erase(request.order_id());
    *replying = true;
    return std::nullopt;
  }
  if (tracked_.size() >= options_.max_orders_per_stream && !tracked_.contains(request.order_id())) {
    *reply.response.mutable_error() = errors::ToAppError(errors::Error(
        absl::StatusCode::kResourceExhausted, "this stream tracks too many orders", "order_id"));
    *replying = subscription_->Inject(std::move(reply));
    return std::nullopt;
  }
  // Tracked, and marked in the queue, before the read: no change committed after the read is
  // dropped, and those queued before the marker (older than what the read finds) are.
  // Subscribing again to an order already tracked is a refresh: its reply goes out even if
  // that status was sent before (API.md: "on subscribe the server at once sends the order's
  // current status"), but never after a newer one.
  auto [it, fresh] = tracked_.try_emplace(request.order_id());
  reply.refresh = !fresh;
  if (fresh && !subscription_->Behind()) {
    it->second.caught_up = true;  // nothing from before the subscription waits to be read
  } else if (fresh) {
    it->second.subscription = ++subscriptions_;
    OrderUpdate marker{.kind = OrderUpdate::Kind::kSubscribed,
                       .subscription = it->second.subscription};
    marker.response.set_order_id(request.order_id());
    if (!subscription_->Inject(std::move(marker))) {  // the stream is ending
      *replying = false;
      return std::nullopt;
    }
  }
  return reply;
}

std::optional<bool> StreamOrderUpdatesReactor::Complete(
    const ::order::v1::StreamOrderUpdatesRequest& request, OrderUpdate& reply, bool may_wait) {
  std::optional<absl::StatusOr<Order>> order =
      may_wait ? store_.Get(request.order_id()) : store_.TryGet(request.order_id());
  if (!order.has_value()) return std::nullopt;
  absl::MutexLock lock(&mutex_);
  if (order->ok()) {
    reply.response = CurrentStatus(**order);
    reply.status = (*order)->status;
  } else {
    if (!reply.refresh) tracked_.erase(request.order_id());  // a refresh leaves it tracked
    absl::Status status = order->status();
    if (status.code() == absl::StatusCode::kNotFound) {
      status = errors::NotFound("order_id", "no order has this id");
    }
    *reply.response.mutable_error() = errors::ToAppError(status);
  }
  // On the pool, the stream may have finished meanwhile, and its subscription be gone.
  if (finished()) return false;
  return subscription_->Inject(std::move(reply));
}

StreamOrderUpdatesReactor::Step StreamOrderUpdatesReactor::Next(
    ::order::v1::StreamOrderUpdatesResponse* out, bool looking_ahead) {
  if (looking_ahead) looked_ahead_.reset();
  while (true) {
    if (ended_early_.has_value()) {
      if (!last_message_sent_) {
        last_message_sent_ = true;
        out->Clear();
        *out->mutable_error() = errors::ToAppError(*ended_early_);
        return Step::kWrite;
      }
      finish_status_ = errors::ToGrpcStatus(*ended_early_);
      return Step::kFinish;
    }
    std::shared_ptr<const OrderUpdate> update;
    switch (TryPopNext(looking_ahead, &update)) {
      case OrderUpdateFanout::Next::kTimeout:
        return Step::kIdle;
      case OrderUpdateFanout::Next::kOverflow:
        ended_early_ = absl::ResourceExhaustedError(
            "this stream fell too far behind; subscribe again for the current statuses");
        continue;
      case OrderUpdateFanout::Next::kClosed:
        ended_early_ =
            absl::UnavailableError("the server is shutting down; subscribe again elsewhere");
        continue;
      case OrderUpdateFanout::Next::kEvent:
        break;
    }
    if (update->kind == OrderUpdate::Kind::kEnd) {  // every reply queued before it was sent
      finish_status_ = grpc::Status::OK;
      return Step::kFinish;
    }
    if (update->kind == OrderUpdate::Kind::kSubscribed) {  // nothing to send: see Tracked
      auto it = tracked_.find(update->response.order_id());
      if (it != tracked_.end() && it->second.subscription == update->subscription) {
        it->second.caught_up = true;
      }
      continue;
    }
    if (!update->response.has_error()) {  // a change or a current status
      auto it = tracked_.find(update->response.order_id());
      const int status = static_cast<int>(update->status);
      if (it == tracked_.end() || !IsNews(status, it->second, update->refresh)) continue;
      if (looking_ahead) {
        looked_ahead_ =
            LookedAhead{.status = status, .refresh = update->refresh};  // see StillToSend
      } else {
        it->second.sent = status;
      }
    }
    *out = update->response;
    return Step::kWrite;
  }
}

bool StreamOrderUpdatesReactor::StillToSend(
    const ::order::v1::StreamOrderUpdatesResponse& looked_ahead) {
  if (!looked_ahead_.has_value()) return true;  // an error reply
  const LookedAhead ahead = *std::exchange(looked_ahead_, std::nullopt);
  const int status = ahead.status;
  auto it = tracked_.find(looked_ahead.order_id());
  if (it == tracked_.end() || !IsNews(status, it->second, ahead.refresh)) return false;
  it->second.sent = status;
  return true;
}

}  // namespace hermes::order
