#include "tests/support/loopback_server.h"

#include <grpcpp/security/server_credentials.h>
#include <gtest/gtest.h>

#include <utility>

namespace hermes::testing {

std::unique_ptr<runtime::GrpcServer> StartLoopbackServer(
    grpc::Service* service, const std::string& name,
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors) {
  auto server = runtime::GrpcServer::Start({.listen_address = "127.0.0.1:0",
                                            .credentials = grpc::InsecureServerCredentials(),
                                            .services = {{service, name}},
                                            .interceptors = std::move(interceptors)});
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

}  // namespace hermes::testing
