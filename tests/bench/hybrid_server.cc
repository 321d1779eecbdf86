// hybrid_server: the smallest server that shows why Hermes runs its unary methods on gRPC's
// async API (libs/interceptor/unary_methods.h). A UserService whose GetUser echoes the id,
// nothing else (no chain, no store), in one of five shapes:
//
//   sync    GetUser on the sync API, no callback method in the server
//   hybrid  GetUser on the sync API, WatchUsers (never called) on the callback API
//   inline  GetUser on the callback API, answered on the thread that received it
//   pool    GetUser on the callback API, answered on a HandlerPool thread
//   async   GetUser on the async API (interceptor::UnaryMethods, as the services run it),
//           answered on its completion queue's thread
//
// In the inline, pool and async shapes WatchUsers (callback API) holds every stream it is
// sent open and idle until its client goes: what open watchers cost the calls beside them.
//
// It prints {"msg":"serving","grpc_port":N} once serving on 127.0.0.1 (plaintext), and serves
// until killed.
// tests/bench/hybrid_server.sh loads each shape in turn with hermes-load.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "libs/interceptor/handler_pool.h"
#include "libs/interceptor/unary_methods.h"
#include "libs/runtime/grpc_server.h"
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

// WatchUsers holding every stream open, idle, until its client goes: what an open watcher costs
// the calls beside it.
class IdleWatch final : public grpc::ServerWriteReactor<::user::v1::WatchUsersResponse> {
 public:
  IdleWatch() { StartSendInitialMetadata(); }
  void OnSendInitialMetadataDone(bool) override {}
  void OnCancel() override { Finish(grpc::Status::CANCELLED); }
  void OnDone() override { delete this; }
};

template <typename Base>
class WithIdleWatch : public UserService::WithCallbackMethod_WatchUsers<Base> {
 public:
  grpc::ServerWriteReactor<::user::v1::WatchUsersResponse>* WatchUsers(
      grpc::CallbackServerContext*, const ::user::v1::WatchUsersRequest*) override {
    return new IdleWatch;
  }
};

class CallbackService final
    : public WithIdleWatch<UserService::WithCallbackMethod_GetUser<UserService::Service>> {
 public:
  explicit CallbackService(hermes::interceptor::HandlerPool* pool) : pool_(pool) {}

  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* context,
                                    const GetUserRequest* request,
                                    GetUserResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (pool_ == nullptr) {
      reactor->Finish(Echo(*request, response));
    } else {
      pool_->Post([reactor, request, response] { reactor->Finish(Echo(*request, response)); });
    }
    return reactor;
  }

 private:
  hermes::interceptor::HandlerPool* pool_;
};

class AsyncService final
    : public WithIdleWatch<UserService::WithRawMethod_GetUser<UserService::Service>> {
 public:
  AsyncService() {
    methods_.AddInline<GetUserRequest, GetUserResponse>(
        [this](auto... call) { RequestGetUser(call...); },
        [](const grpc::ServerContext&, const GetUserRequest& request, GetUserResponse* response) {
          return Echo(request, response);
        });
  }
  hermes::interceptor::UnaryMethods& methods() { return methods_; }

 private:
  hermes::interceptor::UnaryMethods methods_;
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
  } else if (shape == "async") {
    service = std::make_unique<AsyncService>();
  } else {
    std::fprintf(stderr, "usage: %s sync|hybrid|inline|pool|async\n", argv[0]);
    return 2;
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service.get());
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 1000);
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  if (shape == "async") {
    for (int i = 0; i < hermes::runtime::kUnaryQueues; ++i) {
      queues.push_back(builder.AddCompletionQueue());
    }
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "hybrid_server: cannot listen on 127.0.0.1\n");
    return 1;
  }
  std::printf("{\"msg\":\"serving\",\"grpc_port\":%d}\n", port);
  std::fflush(stdout);
  std::vector<std::thread> threads;  // runtime::GrpcServer's queue threads, as they run there
  for (const auto& queue : queues) {
    static_cast<AsyncService*>(service.get())->methods().RequestCalls(queue.get());
    threads.emplace_back([queue = queue.get()] { hermes::interceptor::ServeQueue(*queue); });
  }
  server->Wait();
}
