#include "libs/interceptor/method_table.h"

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"

namespace hermes::interceptor {

absl::string_view RpcTypeLabel(RpcType type) {
  switch (type) {
    case RpcType::kUnary:
      return "unary";
    case RpcType::kClientStream:
      return "client_stream";
    case RpcType::kServerStream:
      return "server_stream";
    case RpcType::kBidiStream:
      return "bidi_stream";
  }
  return "unary";
}

absl::StatusOr<MethodTable> MethodTable::ForServices(const std::vector<std::string>& services) {
  MethodTable table;
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    if (service == nullptr) {
      return absl::NotFoundError(absl::StrCat("service ", name, " has no generated descriptor"));
    }
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      MethodInfo info;
      info.service = service->full_name();
      info.method = method->name();
      info.path = absl::StrCat("/", info.service, "/", info.method);
      info.type = method->client_streaming()
                      ? (method->server_streaming() ? RpcType::kBidiStream : RpcType::kClientStream)
                      : (method->server_streaming() ? RpcType::kServerStream : RpcType::kUnary);
      info.is_health = info.service == "grpc.health.v1.Health";
      const std::string path = info.path;
      table.by_path_.try_emplace(path, std::move(info));
    }
  }
  for (const auto& [path, info] : table.by_path_) table.all_.push_back(&info);
  return table;
}

const MethodInfo& MethodTable::Find(absl::string_view path) const {
  auto it = by_path_.find(path);
  return it == by_path_.end() ? unknown_ : it->second;
}

}  // namespace hermes::interceptor
