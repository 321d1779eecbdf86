// HeldRequestProbe: how much of a call's request the server still holds once the call has
// started answering.
//
// gRPC keeps a server-streaming call's request (parsed, or its bytes for a method registered
// raw) until the call ends; a handler that has read it may give its memory back
// (api::ReleaseRequest). The probe is an interceptor for the calls of one method: its
// POST_RECV_MESSAGE hook keeps the pointer gRPC hands it to the request, and at the call's
// first response (the handler has returned by then: a reactor's writes wait for it) it notes
// that request's size.
//
//   HeldRequestProbe<grpc::ByteBuffer> probe("/user.v1.UserService/WatchUsers");  // raw
//   server_ = StartLoopbackServer(&service_, "user.v1.UserService", probe.Interceptors());
//   ... a WatchUsers call whose request is large; read its first response ...
//   EXPECT_EQ(probe.sizes(), std::vector<size_t>{0});   // given back
//
// `Request`: the method's request message, or grpc::ByteBuffer for a method registered raw
// (gRPC then holds the request's bytes).
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace hermes::testing {

inline size_t HeldSize(const google::protobuf::Message& request) { return request.ByteSizeLong(); }
inline size_t HeldSize(const grpc::ByteBuffer& request) {
  return request.Valid() ? request.Length() : 0;
}

template <typename Request>
class HeldRequestProbe {
 public:
  explicit HeldRequestProbe(std::string path) : state_(std::make_shared<State>()) {
    state_->path = std::move(path);
  }

  // For the server's interceptors (runtime::ServerOptions::interceptors).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> Interceptors()
      const {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> list;
    list.push_back(std::make_unique<Factory>(state_));
    return list;
  }

  // For each call of the method that answered, in the order they did: the serialized size of
  // its request, as the server held it, when the first response went out.
  std::vector<size_t> sizes() const {
    absl::MutexLock lock(&state_->mutex);
    return state_->sizes;
  }

 private:
  struct State {
    std::string path;
    mutable absl::Mutex mutex;
    std::vector<size_t> sizes ABSL_GUARDED_BY(mutex);
  };

  class Probe final : public grpc::experimental::Interceptor {
   public:
    explicit Probe(std::shared_ptr<State> state) : state_(std::move(state)) {}
    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
      using grpc::experimental::InterceptionHookPoints;
      if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
        request_ = static_cast<const Request*>(methods->GetRecvMessage());
      }
      if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE) &&
          request_ != nullptr && !noted_) {
        noted_ = true;
        absl::MutexLock lock(&state_->mutex);
        state_->sizes.push_back(HeldSize(*request_));
      }
      methods->Proceed();
    }

   private:
    std::shared_ptr<State> state_;
    const Request* request_ = nullptr;  // gRPC's, alive until the call ends
    bool noted_ = false;
  };

  class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
   public:
    explicit Factory(std::shared_ptr<State> state) : state_(std::move(state)) {}
    grpc::experimental::Interceptor* CreateServerInterceptor(
        grpc::experimental::ServerRpcInfo* info) override {
      if (info->method() != state_->path) return nullptr;  // not probed
      return new Probe(state_);                            // gRPC's API: the call takes ownership
    }

   private:
    std::shared_ptr<State> state_;
  };

  std::shared_ptr<State> state_;
};

}  // namespace hermes::testing
