#include "libs/interceptor/chain.h"

#include <grpcpp/server_context.h>

#include <iterator>
#include <optional>
#include <utility>

#include "grpc/health/v1/health.pb.h"
#include "libs/interceptor/auth.h"
#include "libs/interceptor/logging.h"
#include "libs/interceptor/metrics.h"
#include "libs/interceptor/recovery.h"
#include "libs/interceptor/request_id.h"
#include "libs/interceptor/tracing.h"

namespace hermes::interceptor {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Services every Hermes server runs besides its own (GrpcServer registers them).
constexpr const char* kPlatformServices[] = {"grpc.health.v1.Health",
                                             "grpc.reflection.v1alpha.ServerReflection"};

// The gRPC-facing driver: one per call, mapping gRPC's hook points onto the ChainedCall.
class ChainInterceptor final : public grpc::experimental::Interceptor {
 public:
  ChainInterceptor(std::shared_ptr<const ServerChain> chain,
                   grpc::experimental::ServerRpcInfo* info)
      : chained_(std::move(chain), info->method(), info->server_context()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      chained_.Start(*methods->GetRecvInitialMetadata());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      chained_.MessageReceived();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kRequestIdHeader, chained_.request_id());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      chained_.MessageSent();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      const grpc::Status original = status;
      chained_.Finish(status);
      if (status.error_code() != original.error_code() ||
          status.error_message() != original.error_message()) {
        methods->ModifySendStatus(status);
      }
    }
    methods->Proceed();
  }

 private:
  ChainedCall chained_;
};

class ChainInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ChainInterceptorFactory(std::shared_ptr<const ServerChain> chain)
      : chain_(std::move(chain)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // A call whose driver runs the stages itself: no interceptor (chain.h).
    if (auto* chained = dynamic_cast<ChainedServerContext*>(info->server_context())) {
      chained->BeginChain(chain_, info->method());
      return nullptr;
    }
    if (chain_->IsDrivenByHandler(info->method())) return nullptr;
    return new ChainInterceptor(chain_, info);  // gRPC's API: the call takes ownership
  }

 private:
  std::shared_ptr<const ServerChain> chain_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<ServerChain>> ServerChain::Create(
    const ServerChainOptions& options) {
  // Referencing a generated message links health.pb.cc in, which registers the health
  // service's descriptor; without it the static library's object would be dropped.
  grpc::health::v1::HealthCheckRequest::descriptor();
  std::vector<std::string> services = options.services;
  services.insert(services.end(), std::begin(kPlatformServices), std::end(kPlatformServices));
  absl::StatusOr<MethodTable> methods = MethodTable::ForServices(services);
  if (!methods.ok()) return methods.status();

  std::shared_ptr<ServerChain> chain(new ServerChain(*std::move(methods)));
  const MethodTable& table = chain->methods_;
  chain->driven_by_handlers_.insert(options.driven_by_handlers.begin(),
                                    options.driven_by_handlers.end());
  // The order of the chain. Tracing comes last: its span covers what the client sees, after
  // recovery has settled the status.
  chain->stages_.push_back(
      std::make_unique<RecoveryStage>(RecoveryOptions{.registry = options.registry}, table));
  chain->stages_.push_back(std::make_unique<AuthStage>());
  chain->stages_.push_back(std::make_unique<LoggingStage>());
  chain->stages_.push_back(
      std::make_unique<MetricsStage>(MetricsOptions{.registry = options.registry}, table));
  if (options.tracer != nullptr) {
    auto tracing = std::make_unique<TracingStage>(TracingOptions{
        .provider = options.tracer,
        .server_address = options.server_address,
        .server_port = options.server_port,
    });
    chain->tracing_ = tracing.get();
    chain->stages_.push_back(std::move(tracing));
  }
  return chain;
}

ChainedCall::ChainedCall(std::shared_ptr<const ServerChain> chain, absl::string_view path,
                         grpc::ServerContextBase* context)
    : chain_(std::move(chain)) {
  call_.method = &chain_->methods().Find(path);
  // A registered method's path lives in the table; an unknown one is copied, because the
  // string gRPC gives us dies with the call's context, which may go before this object.
  if (call_.method == &chain_->methods().Unknown()) unknown_path_ = std::string(path);
  call_.path = unknown_path_.empty() ? call_.method->path.c_str() : unknown_path_.c_str();
  call_.context = context;
}

ChainedCall::~ChainedCall() { EndIfUnfinished(); }

void ChainedCall::EndIfUnfinished() {
  if (!started_ || finished_) return;
  finished_ = true;
  // Without asking the context: in the interceptor's destructor it is being destroyed.
  grpc::Status cancelled(grpc::StatusCode::CANCELLED, "call ended without a status");
  RunStages([&](ServerStage& stage) { stage.OnFinish(call_, cancelled); });
}

void ChainedCall::Start(std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  call_.start = std::chrono::steady_clock::now();
  const auto [first, last] = metadata.equal_range(kRequestIdHeader);
  const bool kept = first != last && IsValidRequestId({first->second.data(), first->second.size()});
  if (kept) {
    call_.request_id.assign(first->second.data(), first->second.size());
  } else {
    call_.request_id = NewRequestId();
  }
  // The handler (and a call it makes, OutgoingContext) sees exactly one id, the one in force,
  // as if the caller had sent only that: never a second value it sent unchecked. The string
  // lives in call_, which outlives the handler.
  if (!kept || std::next(first) != last) {
    metadata.erase(first, last);
    metadata.emplace(kRequestIdHeader, call_.request_id);
  }
  started_ = true;
  call_.recv_metadata = &metadata;
  RunStages([this](ServerStage& stage) { stage.OnStart(call_); });
  call_.recv_metadata = nullptr;
}

void ChainedCall::StartOnContext() {
  Start(const_cast<std::multimap<grpc::string_ref, grpc::string_ref>&>(
      call_.context->client_metadata()));
  call_.context->AddInitialMetadata(kRequestIdHeader, call_.request_id);
}

void ChainedCall::BeginIfDriven(std::optional<ChainedCall>& call,
                                std::shared_ptr<const ServerChain> chain, absl::string_view path,
                                grpc::ServerContextBase* context) {
  if (chain == nullptr || context == nullptr || !chain->IsDrivenByHandler(path)) return;
  call.emplace(std::move(chain), path, context);
  call->StartOnContext();
}

void ChainedCall::MessageReceived() {
  call_.messages_received.fetch_add(1, std::memory_order_relaxed);
  RunStages([this](ServerStage& stage) { stage.OnMessageReceived(call_); });
}

void ChainedCall::MessageSent() {
  call_.messages_sent.fetch_add(1, std::memory_order_relaxed);
  RunStages([this](ServerStage& stage) { stage.OnMessageSent(call_); });
}

void ChainedCall::Finish(grpc::Status& status) {
  if (!started_ || finished_) return;
  finished_ = true;
  // Unary calls report what the handler returned, as go-grpc-prometheus does: on a sync call
  // IsCancelled() plucks the call's completion queue (a poll, locks and wake-ups), which cost
  // more than half of the server's unary throughput (tests/bench/RESULTS.md).
  if (call_.method->type != RpcType::kUnary && call_.context->IsCancelled()) {
    // A stream whose caller went away (or whose server is stopping): whatever the handler says
    // now (a reactor's OnCancel answers CANCELLED, but another may not) nobody receives.
    // Report what happened, so cancellations do not inflate error rates.
    grpc::Status cancelled(grpc::StatusCode::CANCELLED, "cancelled");
    RunStages([&](ServerStage& stage) { stage.OnFinish(call_, cancelled); });
    return;
  }
  // A stage may rewrite an error (recovery does), never make one OK: overruled at once, so that
  // the stages after it see what the client will get, and once more at the end (for a stage
  // that made it OK and then threw, which RunStages skips past).
  std::optional<grpc::Status> error;  // the error in force; copied only when there is one
  RunStages([&](ServerStage& stage) {
    if (!status.ok()) error = status;
    stage.OnFinish(call_, status);
    if (error.has_value() && status.ok()) status = *error;
  });
  if (error.has_value() && status.ok()) status = *std::move(error);
}

void ServerChain::SetServerPort(int port) {
  if (tracing_ != nullptr) tracing_->SetServerPort(port);
}

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
ServerChain::InterceptorFactories() {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<ChainInterceptorFactory>(shared_from_this()));
  return factories;
}

}  // namespace hermes::interceptor
