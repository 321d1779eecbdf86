// hybrid_server: the smallest server that shows why Hermes runs its unary methods on gRPC's
// callback API (libs/interceptor/unary_answer.h). A UserService whose GetUser echoes the id,
// nothing else (no chain, no store), in one of four shapes:
//
//   sync    GetUser on the sync API, no callback method in the server
//   hybrid  GetUser on the sync API, WatchUsers (never called) on the callback API
//   inline  GetUser on the callback API, answered on the thread that received it
//   pool    GetUser on the callback API, answered on a HandlerPool thread
//
// It prints {"msg":"serving","grpc_port":N} once serving on 127.0.0.1 (plaintext), and serves
// until killed.
// tests/bench/hybrid_server.sh loads each shape in turn with hermes-load.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <memory>
#include <string>

#include "libs/interceptor/handler_pool.h"
#include "libs/interceptor/unary_answer.h"
#include "user/v1/user.grpc.pb.h"

namespace {

using ::user::v1::GetUserRequest;
using ::user::v1::GetUserResponse;
using ::user::v1::UserService;

grpc::Status Echo(const GetUserRequest& request, GetUserResponse* response) {
  response->mutable_user()->set_id(request.id());
  return grpc::Status::OK;
}

class SyncService final : public UserService::Service {
  grpc::Status GetUser(grpc::ServerContext*, const GetUserRequest* request,
                       GetUserResponse* response) override {
    return Echo(*request, response);
  }
};

class HybridService final
    : public UserService::WithCallbackMethod_WatchUsers<UserService::Service> {
  grpc::Status GetUser(grpc::ServerContext*, const GetUserRequest* request,
                       GetUserResponse* response) override {
    return Echo(*request, response);
  }
  grpc::ServerWriteReactor<::user::v1::WatchUsersResponse>* WatchUsers(
      grpc::CallbackServerContext*, const ::user::v1::WatchUsersRequest*) override {
    return nullptr;  // never called: only its presence matters (gRPC answers UNIMPLEMENTED)
  }
};

class CallbackService final : public UserService::WithCallbackMethod_GetUser<UserService::Service> {
 public:
  explicit CallbackService(hermes::interceptor::HandlerPool* pool) : pool_(pool) {}

  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const GetUserRequest* request,
                                    GetUserResponse* response) override {
    auto handler = [request, response] { return Echo(*request, response); };
    if (pool_ != nullptr) return hermes::interceptor::AnswerOn(*pool_, context, handler);
    return hermes::interceptor::AnswerInline(context, handler);
  }

 private:
  hermes::interceptor::HandlerPool* pool_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string shape = argc == 2 ? argv[1] : "";
  hermes::interceptor::HandlerPool pool;
  std::unique_ptr<grpc::Service> service;
  if (shape == "sync") {
    service = std::make_unique<SyncService>();
  } else if (shape == "hybrid") {
    service = std::make_unique<HybridService>();
  } else if (shape == "inline" || shape == "pool") {
    service = std::make_unique<CallbackService>(shape == "pool" ? &pool : nullptr);
  } else {
    std::fprintf(stderr, "usage: %s sync|hybrid|inline|pool\n", argv[0]);
    return 2;
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "hybrid_server: cannot listen on 127.0.0.1\n");
    return 1;
  }
  std::printf("{\"msg\":\"serving\",\"grpc_port\":%d}\n", port);
  std::fflush(stdout);
  server->Wait();
}
