#include "libs/runtime/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/server_builder.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace hermes::runtime {
namespace {

void SetHealth(grpc::Server& server, const std::vector<std::string>& names, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);  // every name at once, "" included
  for (const std::string& name : names) health->SetServingStatus(name, serving);
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(ServerOptions options) {
  // Both are process-wide switches that must be set before a builder is created.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address, options.credentials, &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.max_concurrent_streams_per_connection);
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
  std::vector<std::string> names;
  if (!options.interceptors.empty()) {
    builder.experimental().SetInterceptorCreators(std::move(options.interceptors));
  }
  for (const ServiceRegistration& registration : options.services) {
    builder.RegisterService(registration.service);
    names.push_back(registration.name);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    if (server != nullptr) server->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address,
                     ": the address is taken, malformed, or not an address of this host"));
  }
  SetHealth(*server, names, true);
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(server), port, std::move(names)));
}

GrpcServer::GrpcServer(std::unique_ptr<grpc::Server> server, int port,
                       std::vector<std::string> names)
    : server_(std::move(server)), port_(port), service_names_(std::move(names)) {}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::MarkNotServing() { SetHealth(*server_, service_names_, false); }

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  SetHealth(*server_, service_names_, false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

}  // namespace hermes::runtime
