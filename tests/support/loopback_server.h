// A plaintext server on loopback for tests that put a service (and maybe a chain) behind a real
// socket, and a stub to it:
//
//   server_ = StartLoopbackServer(&service_, "user.v1.UserService");
//   ASSERT_NE(server_, nullptr);
//   stub_ = StubTo<::user::v1::UserService>(*server_);
#pragma once

#include <grpcpp/impl/service_type.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "libs/runtime/grpc_server.h"
#include "tests/support/network.h"

namespace hermes::testing {

// runtime::GrpcServer on 127.0.0.1, on a port the kernel picks, serving `service` (which must
// outlive it) as `name` ("user.v1.UserService") behind `interceptors`. nullptr, with a test
// failure recorded, when it cannot start.
std::unique_ptr<runtime::GrpcServer> StartLoopbackServer(
    grpc::Service* service, const std::string& name,
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors = {});

// A stub of `Service` on a plaintext channel to `server` (TestChannel).
template <typename Service>
std::unique_ptr<typename Service::Stub> StubTo(const runtime::GrpcServer& server) {
  return Service::NewStub(TestChannel(LoopbackAddress(server.port())));
}

}  // namespace hermes::testing
