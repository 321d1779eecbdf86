#include "libs/runtime/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hermes::runtime {

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(ServerOptions options) {
  // A process-wide switch that must be set before a builder is created. gRPC's default health
  // service stays off (its default): HealthService is ours (health_service.h says why).
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address, options.credentials, &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.max_concurrent_streams_per_connection);
  const auto milliseconds = [](absl::Duration duration) {
    return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(duration), 1,
                                                std::numeric_limits<int>::max()));
  };
  if (options.max_connection_age != absl::InfiniteDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               milliseconds(options.max_connection_age));
  }
  if (options.max_connection_age_grace != absl::InfiniteDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               milliseconds(options.max_connection_age_grace));
  }
  // gRPC's sync server keeps between MIN_POLLERS and MAX_POLLERS threads waiting for calls:
  // when more are idle than the maximum (default 2), the surplus threads exit, and new ones
  // are created for the next burst. Under load that is a thread created and destroyed every
  // few calls (mmap, page faults, malloc arenas); keeping the unary reserve alive avoids it.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              kUnaryThreadReserve);
  if (options.max_streams > 0) {
    grpc::ResourceQuota quota("hermes");
    quota.SetMaxThreads(options.max_streams + kUnaryThreadReserve);
    builder.SetResourceQuota(quota);
  }
  if (!options.interceptors.empty()) {
    builder.experimental().SetInterceptorCreators(std::move(options.interceptors));
  }
  std::unique_ptr<GrpcServer> result(new GrpcServer);
  std::vector<std::string> names;
  for (const ServiceRegistration& registration : options.services) {
    builder.RegisterService(registration.service);
    names.push_back(registration.name);
    if (auto* serves = dynamic_cast<interceptor::ServesUnaryMethods*>(registration.service)) {
      result->unary_methods_.push_back(&serves->unary_methods());
    }
  }
  result->health_ = std::make_unique<HealthService>(
      names, options.max_streams > 0 ? options.max_streams : std::numeric_limits<int>::max());
  builder.RegisterService(result->health_.get());
  if (!result->unary_methods_.empty()) {
    for (int i = 0; i < kUnaryQueues; ++i) result->queues_.push_back(builder.AddCompletionQueue());
  }
  result->server_ = builder.BuildAndStart();
  result->port_ = port;
  if (result->server_ == nullptr || port == 0) {
    if (result->server_ != nullptr) result->server_->Shutdown();
    result->StopUnaryQueues();
    result->shut_down_ = true;
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address,
                     ": the address is taken, malformed, or not an address of this host"));
  }
  result->StartUnaryQueues();
  result->health_->SetServing(true);
  return result;
}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::StartUnaryQueues() {
  for (const std::unique_ptr<grpc::ServerCompletionQueue>& queue : queues_) {
    for (interceptor::UnaryMethods* methods : unary_methods_) methods->RequestCalls(queue.get());
    queue_threads_.emplace_back([queue = queue.get()] { interceptor::ServeQueue(*queue); });
  }
}

void GrpcServer::StopUnaryQueues() {
  for (interceptor::UnaryMethods* methods : unary_methods_) methods->Stop();
  for (const std::unique_ptr<grpc::ServerCompletionQueue>& queue : queues_) queue->Shutdown();
  if (queue_threads_.empty()) {  // the server did not start: no thread drains them
    for (const std::unique_ptr<grpc::ServerCompletionQueue>& queue : queues_) {
      interceptor::ServeQueue(*queue);
    }
  }
  for (std::thread& thread : queue_threads_) thread.join();
  queue_threads_.clear();
}

void GrpcServer::MarkNotServing() { health_->SetServing(false); }

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  health_->Shutdown();  // its Watch streams end now, not after the grace period
  // The unary queues' threads keep running meanwhile: the calls that finish in the grace
  // period complete on them, and Shutdown returns once every call has ended.
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  StopUnaryQueues();
}

}  // namespace hermes::runtime
