// MethodTable: every gRPC method a server registers, known before the first call.
//
// Metric labels come only from this table, so a client calling made-up method names cannot
// grow the label space: anything not registered is the single "unknown" method (logged and
// traced under the path it was called by, not counted in metrics).
// Built from the generated descriptors of the registered service names; immutable afterwards,
// so lookups on the hot path need no lock.
#pragma once

#include <string>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hermes::interceptor {

enum class RpcType { kUnary, kClientStream, kServerStream, kBidiStream };

// go-grpc-prometheus's grpc_type label: unary, client_stream, server_stream, bidi_stream.
absl::string_view RpcTypeLabel(RpcType type);

struct MethodInfo {
  std::string path;     // "/user.v1.UserService/GetUser"
  std::string service;  // "user.v1.UserService"
  std::string method;   // "GetUser"
  RpcType type = RpcType::kUnary;
  bool is_health = false;  // grpc.health.v1.Health: logged at debug
};

class MethodTable {
 public:
  // Fails if a service name is not in the generated descriptor pool.
  static absl::StatusOr<MethodTable> ForServices(const std::vector<std::string>& services);

  // The method for a :path; Unknown() when it is not registered.
  const MethodInfo& Find(absl::string_view path) const;
  const MethodInfo& Unknown() const { return unknown_; }
  const std::vector<const MethodInfo*>& All() const { return all_; }

  MethodTable(MethodTable&&) = default;
  MethodTable& operator=(MethodTable&&) = default;

 private:
  MethodTable() = default;
  // node_hash_map: MethodInfo addresses stay stable, the chain keeps pointers to them.
  absl::node_hash_map<std::string, MethodInfo> by_path_;
  std::vector<const MethodInfo*> all_;
  MethodInfo unknown_{"unknown", "unknown", "unknown", RpcType::kUnary, false};
};

}  // namespace hermes::interceptor
