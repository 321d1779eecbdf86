#include "tests/load/rpc_method.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/v1/common.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "order/v1/order.grpc.pb.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::load {
namespace {

// hermes_proto is a static library: an object file is linked, and its descriptors registered
// in the generated pool, only when something refers to it. These references keep every file a
// run may name; the list of services in the NotFound message comes from here too.
std::vector<const google::protobuf::FileDescriptor*> LinkedProtoFiles() {
  return {::user::v1::GetUserRequest::descriptor()->file(),
          ::order::v1::GetOrderRequest::descriptor()->file(),
          ::common::v1::PageRequest::descriptor()->file(),
          ::grpc::health::v1::HealthCheckRequest::descriptor()->file()};
}

std::vector<std::string> KnownServices() {
  // The services by their generated names, which the references above keep linked.
  std::vector<std::string> names = {::user::v1::UserService::service_full_name(),
                                    ::order::v1::OrderService::service_full_name(),
                                    ::grpc::health::v1::Health::service_full_name()};
  return names;
}

RpcKind KindOf(const google::protobuf::MethodDescriptor& method) {
  if (method.client_streaming() && method.server_streaming()) return RpcKind::kBidiStreaming;
  if (method.client_streaming()) return RpcKind::kClientStreaming;
  if (method.server_streaming()) return RpcKind::kServerStreaming;
  return RpcKind::kUnary;
}

absl::Status NotFor(absl::string_view flag, const RpcMethod& method, absl::string_view use) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " does not apply to ",
                                                 method.display_name, ", a ",
                                                 RpcKindName(method.kind), " method; ", use));
}

}  // namespace

absl::string_view RpcKindName(RpcKind kind) {
  switch (kind) {
    case RpcKind::kUnary:
      return "unary";
    case RpcKind::kClientStreaming:
      return "client_streaming";
    case RpcKind::kServerStreaming:
      return "server_streaming";
    case RpcKind::kBidiStreaming:
      return "bidi_streaming";
  }
  return "unknown";
}

absl::StatusOr<RpcMethod> FindRpcMethod(absl::string_view name) {
  (void)LinkedProtoFiles();
  std::string full_name(absl::StripPrefix(name, "/"));
  if (const size_t slash = full_name.rfind('/'); slash != std::string::npos) {
    full_name[slash] = '.';
  }
  const google::protobuf::MethodDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
  if (descriptor == nullptr) {
    return absl::NotFoundError(absl::StrCat("--call=", name, ": no such method; known services: ",
                                            absl::StrJoin(KnownServices(), ", ")));
  }
  RpcMethod method;
  method.display_name = absl::StrCat(descriptor->service()->full_name(), "/", descriptor->name());
  method.path = absl::StrCat("/", method.display_name);
  method.descriptor = descriptor;
  method.kind = KindOf(*descriptor);
  return method;
}

absl::Status CheckOptionsForMethod(const LoadOptions& options, const RpcMethod& method) {
  if (IsLongLivedStream(method.kind)) {
    for (const char* flag : {"rps", "total", "concurrency"}) {
      if (options.Given(flag)) {
        return NotFor(flag, method, "it runs --streams streams for --duration");
      }
    }
    return absl::OkStatus();
  }
  for (const char* flag :
       {"streams", "stream_open_rate", "latency_field", "streams_ready_file", "stream_messages"}) {
    if (options.Given(flag)) {
      return NotFor(flag, method,
                    "it is for server-streaming and bidi methods (unary and client-streaming "
                    "calls take --concurrency or --rps)");
    }
  }
  return absl::OkStatus();
}

}  // namespace hermes::load
