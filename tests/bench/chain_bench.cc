// What the interceptor chain costs per call: one unary GetUser over loopback, answered from
// memory, with a synchronous client (one call in flight), on
//   NoChainPlaintext  the bare gRPC server, no interceptors, plaintext (the ceiling)
//   FullChainMtls     what a Hermes service runs: mTLS with the authorization policy checked
//                     on every call, recovery, auth, JSON access log (to /dev/null),
//                     go-grpc-prometheus metrics
//   FullChainMtlsTraced/P  the same plus the tracing stage, sampling P % of calls (the bench
//                     client sends no traceparent: every call is a root), exported in
//                     batches over OTLP/gRPC to an in-process collector
// After the runs it prints µs per call for each and the ratios.
#include <benchmark/benchmark.h>
#include <grpcpp/create_channel.h>
#include <spdlog/sinks/basic_file_sink.h>

#include <cstdio>
#include <map>
#include <memory>

#include "libs/interceptor/chain.h"
#include "libs/runtime/grpc_server.h"
#include "libs/runtime/security.h"
#include "libs/telemetry/log.h"
#include "libs/tracing/batch_span_processor.h"
#include "libs/tracing/otlp_exporter.h"
#include "libs/tracing/sampler.h"
#include "libs/tracing/tracer.h"
#include "tests/support/certs.h"
#include "tests/support/network.h"
#include "tests/unit/libs/tracing/otlp_collector.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes {
namespace {

class InMemoryUserService final : public ::user::v1::UserService::Service {
 public:
  grpc::Status GetUser(grpc::ServerContext*, const ::user::v1::GetUserRequest* request,
                       ::user::v1::GetUserResponse* response) override {
    ::user::v1::User* user = response->mutable_user();
    user->set_id(request->id());
    user->set_email("ada@example.com");
    user->set_display_name("Ada Lovelace");
    user->set_status(::user::v1::USER_STATUS_ACTIVE);
    return grpc::Status::OK;
  }
};

struct Setup {
  InMemoryUserService service;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<interceptor::ServerChain> chain;
  std::unique_ptr<runtime::ServerSecurity> security;
  std::unique_ptr<runtime::GrpcServer> server;
  std::unique_ptr<::user::v1::UserService::Stub> stub;
};

std::unique_ptr<Setup> StartPlain() {
  auto setup = std::make_unique<Setup>();
  setup->server =
      *runtime::GrpcServer::Start({.listen_address = "127.0.0.1:0",
                                   .credentials = grpc::InsecureServerCredentials(),
                                   .services = {{&setup->service, "user.v1.UserService"}}});
  setup->stub = ::user::v1::UserService::NewStub(grpc::CreateChannel(
      testing::LoopbackAddress(setup->server->port()), grpc::InsecureChannelCredentials()));
  return setup;
}

std::unique_ptr<Setup> StartFull(const testing::CertificateAuthority& ca,
                                 tracing::TracerProvider* tracer = nullptr) {
  auto setup = std::make_unique<Setup>();
  setup->chain = *interceptor::ServerChain::Create({.services = {"user.v1.UserService"},
                                                    .registry = setup->registry.get(),
                                                    .tracer = tracer,
                                                    .server_address = "127.0.0.1"});
  runtime::ServerConfig config;
  const testing::IdentityFiles files = ca.Identity("user");
  config.tls = {.ca = files.ca, .cert = files.cert, .key = files.key};
  config.reload_interval = absl::Seconds(5);
  setup->security =
      *runtime::ServerSecurity::Create(config, config.tls, setup->chain, setup->registry);
  setup->server =
      *runtime::GrpcServer::Start({.listen_address = "127.0.0.1:0",
                                   .credentials = setup->security->credentials(),
                                   .services = {{&setup->service, "user.v1.UserService"}},
                                   .interceptors = setup->chain->InterceptorFactories()});
  grpc::ChannelArguments arguments;
  arguments.SetSslTargetNameOverride("localhost");
  setup->stub = ::user::v1::UserService::NewStub(grpc::CreateCustomChannel(
      testing::LoopbackAddress(setup->server->port()), ca.ClientCredentials("client"), arguments));
  return setup;
}

void CallGetUser(benchmark::State& state, Setup& setup) {
  ::user::v1::GetUserRequest request;
  request.set_id("01J9Z8Q4K7");
  ::user::v1::GetUserResponse response;
  for (auto _ : state) {
    grpc::ClientContext context;
    const grpc::Status status = setup.stub->GetUser(&context, request, &response);
    if (!status.ok()) {
      state.SkipWithError(status.error_message().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_GetUser_NoChainPlaintext(benchmark::State& state) {
  static std::unique_ptr<Setup> setup = StartPlain();
  CallGetUser(state, *setup);
}
BENCHMARK(BM_GetUser_NoChainPlaintext)->UseRealTime()->MinTime(3.0);

void BM_GetUser_FullChainMtls(benchmark::State& state) {
  static testing::CertificateAuthority ca;
  static std::unique_ptr<Setup> setup = StartFull(ca);
  CallGetUser(state, *setup);
}
BENCHMARK(BM_GetUser_FullChainMtls)->UseRealTime()->MinTime(3.0);

// A tracer exporting to an in-process OTLP collector, sampling `percent` % of root calls.
struct Tracing {
  explicit Tracing(int percent)
      : collector(testing::OtlpCollector::Start()),
        provider(tracing::Sampler::TraceIdRatio(percent / 100.0),
                 std::make_shared<tracing::BatchSpanProcessor>(
                     *tracing::OtlpExporter::Create({.endpoint = collector->endpoint()}),
                     tracing::BatchSpanProcessorOptions{}, *registry)) {}
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<testing::OtlpCollector> collector;
  tracing::TracerProvider provider;
};

void BM_GetUser_FullChainMtlsTraced(benchmark::State& state) {
  static testing::CertificateAuthority ca;
  static std::map<int64_t, std::pair<std::unique_ptr<Tracing>, std::unique_ptr<Setup>>> setups;
  auto& [tracing, setup] = setups[state.range(0)];
  if (setup == nullptr) {
    tracing = std::make_unique<Tracing>(static_cast<int>(state.range(0)));
    setup = StartFull(ca, &tracing->provider);
  }
  CallGetUser(state, *setup);
}
BENCHMARK(BM_GetUser_FullChainMtlsTraced)->Arg(100)->Arg(10)->UseRealTime()->MinTime(3.0);

// Collects the real time per call of every run, to print the ratio at the end.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && run.iterations > 0) {
        micros_[run.benchmark_name()] =
            run.GetAdjustedRealTime() * 1e6 / benchmark::GetTimeUnitMultiplier(run.time_unit);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void PrintRatio() const {
    auto plain = micros_.find("BM_GetUser_NoChainPlaintext/min_time:3.000/real_time");
    if (plain == micros_.end()) return;
    std::printf("\nGetUser, one call in flight, loopback (us per call, vs no chain):\n");
    const std::pair<const char*, const char*> rows[] = {
        {"no chain, plaintext", "BM_GetUser_NoChainPlaintext/min_time:3.000/real_time"},
        {"full chain, mTLS, no tracing", "BM_GetUser_FullChainMtls/min_time:3.000/real_time"},
        {"full chain, mTLS, tracing 1.0",
         "BM_GetUser_FullChainMtlsTraced/100/min_time:3.000/real_time"},
        {"full chain, mTLS, tracing 0.1",
         "BM_GetUser_FullChainMtlsTraced/10/min_time:3.000/real_time"}};
    for (const auto& [label, name] : rows) {
      auto row = micros_.find(name);
      if (row == micros_.end()) continue;
      std::printf("  %-32s %8.1f   %5.2fx  (%+.1f us)\n", label, row->second,
                  row->second / plain->second, row->second - plain->second);
    }
  }

 private:
  std::map<std::string, double> micros_;
};

}  // namespace
}  // namespace hermes

int main(int argc, char** argv) {
  // The access log goes through the logger a service installs, minus the terminal.
  hermes::telemetry::InitLogging(
      {.service = "bench",
       .level = spdlog::level::info,
       .sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>("/dev/null")});
  benchmark::Initialize(&argc, argv);
  hermes::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatio();
  benchmark::Shutdown();
  hermes::telemetry::ShutdownLogging();
  return 0;
}
