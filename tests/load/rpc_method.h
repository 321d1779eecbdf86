// RpcMethod: the method a run drives, found by its full name among the protobuf descriptors
// linked into hermes-load (user.v1, order.v1, common.v1, grpc.health.v1), with what the runners
// need to know about it: the HTTP/2 path, the request and response types, and its kind.
//
//   absl::StatusOr<RpcMethod> method = FindRpcMethod("user.v1.UserService/GetUser");
//   // method->path == "/user.v1.UserService/GetUser", method->kind == RpcKind::kUnary
#pragma once

#include <google/protobuf/descriptor.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tests/load/options.h"

namespace hermes::load {

enum class RpcKind { kUnary, kClientStreaming, kServerStreaming, kBidiStreaming };

// "unary", "client_streaming", "server_streaming", "bidi_streaming"
absl::string_view RpcKindName(RpcKind kind);

// Server-streaming and bidi calls are held open as long-lived streams (--streams); unary and
// client-streaming calls are repeated (--concurrency, --rps).
inline bool IsLongLivedStream(RpcKind kind) {
  return kind == RpcKind::kServerStreaming || kind == RpcKind::kBidiStreaming;
}

struct RpcMethod {
  std::string display_name;  // "user.v1.UserService/GetUser"
  std::string path;          // "/user.v1.UserService/GetUser", what goes on the wire
  const google::protobuf::MethodDescriptor* descriptor = nullptr;
  RpcKind kind = RpcKind::kUnary;
};

// Accepts "pkg.Service/Method", "/pkg.Service/Method" and "pkg.Service.Method". NotFound names
// the method and lists the services that are known.
absl::StatusOr<RpcMethod> FindRpcMethod(absl::string_view name);

// The flags that only make sense for some kinds of method (--streams, --latency_field, --rps,
// --total, a JSON array body, ...), checked against `method`.
absl::Status CheckOptionsForMethod(const LoadOptions& options, const RpcMethod& method);

}  // namespace hermes::load
