#include "libs/interceptor/client_chain.h"

#include <grpcpp/create_channel.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/errors/app_error.h"
#include "libs/interceptor/logging.h"
#include "libs/interceptor/request_id.h"
#include "libs/interceptor/tracing.h"
#include "libs/telemetry/log.h"
#include "libs/tracing/span_context.h"

namespace hermes::interceptor {
namespace {

using grpc::experimental::InterceptionHookPoints;

RpcType TypeOf(grpc::experimental::ClientRpcInfo::Type type) {
  using Type = grpc::experimental::ClientRpcInfo::Type;
  switch (type) {
    case Type::CLIENT_STREAMING:
      return RpcType::kClientStream;
    case Type::SERVER_STREAMING:
      return RpcType::kServerStream;
    case Type::BIDI_STREAMING:
      return RpcType::kBidiStream;
    default:
      return RpcType::kUnary;
  }
}

class ClientChainInterceptor final : public grpc::experimental::Interceptor {
 public:
  ClientChainInterceptor(std::shared_ptr<ClientChain> chain, const std::string* target,
                         grpc::experimental::ClientRpcInfo* info)
      : chain_(std::move(chain)),
        target_(target),
        method_(info->method()),
        series_(chain_->metrics().SeriesFor(method_, TypeOf(info->type()))) {}

  ~ClientChainInterceptor() override {
    // A stream abandoned without Finish() never reaches POST_RECV_STATUS: count it as
    // cancelled so the in-flight gauge returns to zero.
    if (started_ && !finished_) Finish(grpc::Status(grpc::StatusCode::CANCELLED, "abandoned"));
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      start_ = std::chrono::steady_clock::now();
      started_ = true;
      series_.started->Increment();
      series_.in_flight->Increment();
      auto* metadata = methods->GetSendInitialMetadata();
      auto it = metadata->find(kRequestIdHeader);
      if (it == metadata->end()) {
        request_id_ = NewRequestId();  // a call not made on behalf of an incoming one
        metadata->emplace(kRequestIdHeader, request_id_);
      } else {
        request_id_ = it->second;
      }
      span_ = StartClientSpan(chain_->tracer(), method_, *target_, metadata);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      series_.sent->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      series_.received->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      Finish(*methods->GetRecvStatus());
    }
    methods->Proceed();
  }

 private:
  void Finish(const grpc::Status& status) {
    if (!started_ || finished_) return;
    finished_ = true;
    const tracing::SpanContext trace = span_.context();  // ending the span hands it off
    EndClientSpan(span_, status);
    const std::chrono::nanoseconds elapsed = std::chrono::steady_clock::now() - start_;
    series_.Finish(status.error_code(), std::chrono::duration<double>(elapsed).count());
    if (!status.ok()) {
      HERMES_LOG(LevelForCode(status.error_code()), "outgoing call failed")
          .Str("method", method_)
          .Str("code", errors::GoCodeName(status.error_code()))
          .Millis("duration_ms", elapsed)
          .Str("request_id", request_id_)
          .Str("trace_id", trace.IsValid() ? trace.trace_id.ToHex() : "")
          .Str("span_id", trace.IsValid() ? trace.span_id.ToHex() : "")
          .Str("error", status.error_message());
    }
  }

  std::shared_ptr<ClientChain> chain_;
  const std::string* target_;  // the factory's, which the channel keeps alive
  std::string method_;
  const MethodSeries& series_;
  tracing::Span span_;
  std::string request_id_;
  std::chrono::steady_clock::time_point start_;
  bool started_ = false;
  bool finished_ = false;
};

class ClientChainFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  ClientChainFactory(std::shared_ptr<ClientChain> chain, std::string target)
      : chain_(std::move(chain)), target_(std::move(target)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new ClientChainInterceptor(chain_, &target_, info);  // gRPC's API: the call owns it
  }

 private:
  std::shared_ptr<ClientChain> chain_;
  std::string target_;
};

std::string Seconds(absl::Duration d) { return absl::StrFormat("%.3fs", absl::ToDoubleSeconds(d)); }

}  // namespace

std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
ClientChain::InterceptorFactories(const std::string& target) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<ClientChainFactory>(shared_from_this(), target));
  return factories;
}

std::string ServiceConfigJson(const ChannelOptions& options) {
  return absl::StrCat(R"({"loadBalancingConfig":[{"round_robin":{}}],)",
                      R"("methodConfig":[{"name":[{"service":")", options.service, R"("}],)",
                      R"("retryPolicy":{"maxAttempts":)", options.max_attempts,
                      R"(,"initialBackoff":")", Seconds(options.initial_backoff),
                      R"(","maxBackoff":")", Seconds(options.max_backoff),
                      R"(","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]})");
}

std::shared_ptr<grpc::Channel> CreateServiceChannel(const ChannelOptions& options,
                                                    const std::shared_ptr<ClientChain>& chain) {
  grpc::ChannelArguments arguments;
  arguments.SetServiceConfigJSON(ServiceConfigJson(options));
  arguments.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  const int max_reconnect_ms = static_cast<int>(
      std::clamp<int64_t>(absl::ToInt64Milliseconds(options.max_reconnect_backoff), 100, 120'000));
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_reconnect_ms);
  // gRPC's first wait is 1 s; a cap below that shortens the first one too.
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(1000, max_reconnect_ms));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      options.target, options.credentials, arguments, chain->InterceptorFactories(options.target));
}

std::unique_ptr<grpc::ClientContext> OutgoingContext(const grpc::ServerContextBase& incoming,
                                                     absl::Duration max_deadline) {
  // FromServerContext propagates the incoming deadline and cancellation; the effective deadline
  // is the sooner of that and the one set here.
  std::unique_ptr<grpc::ClientContext> context = grpc::ClientContext::FromServerContext(incoming);
  context->set_deadline(absl::ToChronoTime(absl::Now() + max_deadline));
  // Only values checked here go out: they come from the caller, and one gRPC refuses to send
  // (a tab, a byte above 0x7e) would abort the process at the call (call_op_set.h asserts).
  const auto& metadata = incoming.client_metadata();
  // x-request-id: the server chain leaves exactly one, valid; anything else is not forwarded
  // (the client chain then makes one).
  if (auto [first, last] = metadata.equal_range(kRequestIdHeader);
      first != last && std::next(first) == last &&
      IsValidRequestId({first->second.data(), first->second.size()})) {
    context->AddMetadata(kRequestIdHeader, std::string(first->second.data(), first->second.size()));
  }
  // traceparent/tracestate: the server span's (the tracing stage rewrote them), the parent of the
  // client chain's CLIENT span; with tracing off, the caller's, passed on if well-formed, as
  // parsed (the canonical form: never the caller's bytes).
  const tracing::SpanContext parent = tracing::ExtractSpanContextFrom(metadata);
  if (parent.IsValid()) {
    context->AddMetadata(tracing::kTraceparentHeader, parent.Traceparent());
    if (!parent.trace_state.empty()) {
      context->AddMetadata(tracing::kTracestateHeader, parent.trace_state);
    }
  }
  return context;
}

}  // namespace hermes::interceptor
