// Micro-benchmarks of the per-call hot paths, each in isolation (no network, no gRPC server):
//   BM_Log_*          one access-log line, "rpc finished" with the fields LoggingStage writes,
//                     through the real logger (level off; async and sync to /dev/null; built
//                     only, to a null sink)
//   BM_Metrics_*      what MetricsStage does per unary call, on 1 and 2 threads, plus its two
//                     prometheus-cpp primitives alone (counter increment, histogram observe)
//   BM_Traceparent_*  W3C trace context: parsing a valid / invalid traceparent, with tracestate,
//                     and formatting ours for the next hop
//   BM_Validate*      request validation: CreateUser (ASCII and non-ASCII display name),
//                     CreateOrder with 1 and 100 items
//   BM_Error_*        the rejected-call path: an absl::Status with a field becoming a grpc::Status
//                     with its AppError detail
//   BM_Fanout_*       what a committed write pays to publish its event to 10, 1,000 and 10,000
//                     idle stream subscribers: with the waking handed to the delivery thread
//                     (what the services do), and woken by the publisher itself
// The whole chain per call, over loopback, is chain_bench. Run with the release build:
//   make bench
//   build/release/tests/bench/hot_path_bench --benchmark_filter=Metrics --benchmark_min_time=0.2
#include <benchmark/benchmark.h>
#include <grpcpp/support/status.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/null_sink.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libs/errors/app_error.h"
#include "libs/interceptor/method_table.h"
#include "libs/interceptor/metrics.h"
#include "libs/interceptor/server_call.h"
#include "libs/streams/event_fanout.h"
#include "libs/telemetry/log.h"
#include "libs/tracing/span_context.h"
#include "order/v1/order.pb.h"
#include "services/order/order_validation.h"
#include "services/user/user_validation.h"
#include "user/v1/user.pb.h"

namespace hermes {
namespace {

// ---- A log line ---------------------------------------------------------------------------

enum class LoggerMode { kNone, kAsync, kSync, kSyncNullSink };

// Installs the process-wide logger at info, writing to /dev/null (formatted, as a service's
// would be) or to a null sink (nothing formatted), only when the mode changes: InitLogging
// retires the previous logger each time.
void UseLogger(LoggerMode mode) {
  static LoggerMode current = LoggerMode::kNone;
  if (mode == current) return;
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (mode == LoggerMode::kSyncNullSink) {
    sink = std::make_shared<spdlog::sinks::null_sink_mt>();
  } else {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>("/dev/null");
  }
  telemetry::InitLogging({.service = "user",
                          .level = spdlog::level::info,
                          .sink = std::move(sink),
                          .async = mode == LoggerMode::kAsync});
  current = mode;
}
void AsyncLogger(const benchmark::State&) { UseLogger(LoggerMode::kAsync); }
void SyncLogger(const benchmark::State&) { UseLogger(LoggerMode::kSync); }
void SyncNullSinkLogger(const benchmark::State&) { UseLogger(LoggerMode::kSyncNullSink); }

// A finished GetUser as the logging stage sees it: mTLS identity, generated request id, traced.
void FillFinishedGetUser(const interceptor::MethodInfo& method, interceptor::ServerCall& call) {
  call.method = &method;
  call.path = "/user.v1.UserService/GetUser";
  call.start = std::chrono::steady_clock::now();
  call.request_id = "3f2b8c1e-9a4d-4e7b-8c2f-5d6e7f8a9b0c";
  call.identity = "spiffe://hermes/client";
  call.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}

// The line of LoggingStage::OnFinish (libs/interceptor/logging.cc), field for field.
// `peer_address` stands in for ServerCall::PeerAddress(), fetched once per call for logging
// and tracing (the fetch itself is not part of the line).
void LogRpcFinished(spdlog::level::level_enum level, const interceptor::ServerCall& call,
                    const grpc::Status& status, const std::string& peer_address) {
  HERMES_LOG(level, "rpc finished")
      .Str("method", call.path)
      .Str("grpc_type", interceptor::RpcTypeLabel(call.method->type))
      .Str("code", errors::GoCodeName(status.error_code()))
      .Millis("duration_ms", call.Elapsed())
      .Str("peer", call.identity)
      .Str("peer_address", peer_address)
      .Str("request_id", call.request_id)
      .Str("trace_id", call.TraceId())
      .Str("span_id", call.SpanId());
}

void RunLogLine(benchmark::State& state, spdlog::level::level_enum level) {
  const interceptor::MethodInfo method{"/user.v1.UserService/GetUser", "user.v1.UserService",
                                       "GetUser", interceptor::RpcType::kUnary, false};
  interceptor::ServerCall call;
  FillFinishedGetUser(method, call);
  const grpc::Status status = grpc::Status::OK;
  const std::string peer_address = "ipv4:10.42.0.17:53412";
  for (auto _ : state) {
    LogRpcFinished(level, call, status, peer_address);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

// A line below the logger's level (a health check's debug line at info): must cost ~nothing,
// since every call of a busy service goes through it.
void BM_Log_LevelOff(benchmark::State& state) { RunLogLine(state, spdlog::level::debug); }
BENCHMARK(BM_Log_LevelOff)->Setup(SyncLogger);

// The access line of every successful call, through spdlog's async logger (LogOptions::async,
// not what the services run): the caller builds the fields and queues the line; the writer
// thread formats the JSON envelope and writes. The CPU column is the caller-side cost; Time
// also counts waiting for room when the writer falls behind. Neither column shows the thread
// hand-off's cost to a saturated core, which is why the services log synchronously (log.h).
void BM_Log_RpcFinished_Async(benchmark::State& state) { RunLogLine(state, spdlog::level::info); }
BENCHMARK(BM_Log_RpcFinished_Async)->Setup(AsyncLogger);

// The same line with the synchronous logger the services run: the caller also formats and
// writes (into stdio's buffer: a write(2) per few kilobytes).
void BM_Log_RpcFinished_Sync(benchmark::State& state) { RunLogLine(state, spdlog::level::info); }
BENCHMARK(BM_Log_RpcFinished_Sync)->Setup(SyncLogger);

// The same line built and handed to spdlog, which drops it (null sink, synchronous): what the
// fields cost the caller before any queueing, formatting or writing; the baseline for the two
// above.
void BM_Log_RpcFinished_BuildOnly(benchmark::State& state) {
  RunLogLine(state, spdlog::level::info);
}
BENCHMARK(BM_Log_RpcFinished_BuildOnly)->Setup(SyncNullSinkLogger);

// ---- A metrics update ---------------------------------------------------------------------

// The user service's metrics stage on its own registry (not the process-wide one).
struct MetricsFixture {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  interceptor::MethodTable methods =
      *interceptor::MethodTable::ForServices({"user.v1.UserService"});
  interceptor::MetricsStage stage{{.registry = registry.get()}, methods};
};

MetricsFixture& Metrics() {
  static MetricsFixture fixture;  // shared by the threads of one run, as by a server's
  return fixture;
}

// Every metrics hook of one unary GetUser (started, in-flight up, one message each way,
// handled{OK}, handling seconds, in-flight down): runs on every call; the 2-thread run shows
// what the shared series cost when two calls finish at once.
void BM_Metrics_UnaryCall(benchmark::State& state) {
  MetricsFixture& metrics = Metrics();
  interceptor::ServerCall call;
  call.method = &metrics.methods.Find("/user.v1.UserService/GetUser");
  call.path = "/user.v1.UserService/GetUser";
  call.start = std::chrono::steady_clock::now();
  grpc::Status status = grpc::Status::OK;
  for (auto _ : state) {
    metrics.stage.OnStart(call);
    metrics.stage.OnMessageReceived(call);
    metrics.stage.OnMessageSent(call);
    metrics.stage.OnFinish(call, status);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Metrics_UnaryCall)->Threads(1)->Threads(2)->UseRealTime();

// One counter increment (prometheus-cpp: a CAS loop on an atomic double), 5 of them per call.
void BM_Metrics_CounterIncrement(benchmark::State& state) {
  static prometheus::Registry registry;
  static prometheus::Counter& counter =
      prometheus::BuildCounter().Name("bench_total").Register(registry).Add({});
  for (auto _ : state) counter.Increment();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Metrics_CounterIncrement)->Threads(1)->Threads(2)->UseRealTime();

// One histogram observation with the handling-seconds buckets (prometheus-cpp 1.0 takes a
// mutex per observation): once per call, on one series per method shared by every call.
void BM_Metrics_HistogramObserve(benchmark::State& state) {
  static prometheus::Registry registry;
  static prometheus::Histogram& histogram =
      prometheus::BuildHistogram()
          .Name("bench_seconds")
          .Register(registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{.005, .01, .025, .05, .1, .25, .5, 1,
                                                           2.5, 5, 10});
  for (auto _ : state) histogram.Observe(0.0004);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Metrics_HistogramObserve)->Threads(1)->Threads(2)->UseRealTime();

// ---- traceparent --------------------------------------------------------------------------

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr char kTracestate[] = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

// Parsing a caller's valid traceparent: every traced call that has a parent.
void BM_Traceparent_ParseValid(benchmark::State& state) {
  for (auto _ : state) {
    auto context = tracing::ParseTraceparent(kTraceparent);
    benchmark::DoNotOptimize(context);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Traceparent_ParseValid);

// An upper-case trace id (malformed per W3C, a common client bug): rejected late, after the
// version and length checks, so this is the expensive invalid case.
void BM_Traceparent_ParseInvalid(benchmark::State& state) {
  constexpr char kUpperCase[] = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
  for (auto _ : state) {
    auto context = tracing::ParseTraceparent(kUpperCase);
    benchmark::DoNotOptimize(context);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Traceparent_ParseInvalid);

// Both headers, as the tracing stage reads them: the tracestate is checked and copied.
void BM_Traceparent_ExtractWithTracestate(benchmark::State& state) {
  for (auto _ : state) {
    tracing::SpanContext context = tracing::ExtractSpanContext(kTraceparent, kTracestate);
    benchmark::DoNotOptimize(context);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Traceparent_ExtractWithTracestate);

// Formatting our span's traceparent: once per traced call (server span into the metadata) and
// once per outgoing call of the client chain.
void BM_Traceparent_Format(benchmark::State& state) {
  const tracing::SpanContext context = *tracing::ParseTraceparent(kTraceparent);
  for (auto _ : state) {
    std::string header = context.Traceparent();
    benchmark::DoNotOptimize(header);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Traceparent_Format);

// ---- Request validation -------------------------------------------------------------------

void RunValidateCreateUser(benchmark::State& state, const char* display_name) {
  ::user::v1::CreateUserRequest request;
  request.set_email("Ada.Lovelace@Example.com");
  request.set_display_name(display_name);
  for (auto _ : state) {
    absl::StatusOr<user::NewUser> user = user::ValidateCreate(request);
    benchmark::DoNotOptimize(user);
  }
  state.SetItemsProcessed(state.iterations());
}

// A valid CreateUser (email syntax + lower-casing, display name code points): every CreateUser.
void BM_ValidateCreateUser_Ascii(benchmark::State& state) {
  RunValidateCreateUser(state, "Ada Lovelace");
}
BENCHMARK(BM_ValidateCreateUser_Ascii);

// The same with a non-ASCII display name (2- and 3-byte sequences): the UTF-8 decoding path.
void BM_ValidateCreateUser_Unicode(benchmark::State& state) {
  RunValidateCreateUser(state, "Zoë Łukasiewicz-Ångström 李小龍");
}
BENCHMARK(BM_ValidateCreateUser_Unicode);

// A valid CreateOrder with N items (1 = typical, 100 = the limit): per-item checks, the exact
// total and the copy into the domain value. items/s counts order items.
void BM_ValidateCreateOrder(benchmark::State& state) {
  ::order::v1::CreateOrderRequest request;
  request.set_user_id("01m7z77fczv7hcjgbx2t1z2qxa");
  request.set_request_id("checkout-7f3a9c21-0001");
  for (int64_t i = 0; i < state.range(0); ++i) {
    ::order::v1::OrderItem* item = request.add_items();
    item->set_product_id("sku-" + std::to_string(100000 + i));
    item->set_quantity(static_cast<int32_t>(1 + i % 5));
    item->set_price_cents(1999 + 100 * i);
  }
  for (auto _ : state) {
    absl::StatusOr<order::NewOrder> order = order::ValidateCreate(request);
    benchmark::DoNotOptimize(order);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ValidateCreateOrder)->Arg(1)->Arg(100);

// ---- The error path -----------------------------------------------------------------------

// The handler edge of a rejected call: an INVALID_ARGUMENT naming its field becomes a
// grpc::Status with the google.rpc.Status / AppError detail. Runs on every rejected call.
void BM_Error_ToGrpcStatus(benchmark::State& state) {
  const absl::Status error =
      errors::InvalidArgument("email", "email is not a valid address, e.g. ada@example.com");
  for (auto _ : state) {
    grpc::Status status = errors::ToGrpcStatus(error);
    benchmark::DoNotOptimize(status);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Error_ToGrpcStatus);

// A whole rejected CreateUser: validation fails (building the absl::Status with its field
// payload) and the edge converts it. What a client sending bad input costs the server.
void BM_Error_RejectedCreateUser(benchmark::State& state) {
  ::user::v1::CreateUserRequest request;
  request.set_email("ada.lovelace@example");  // no dot in the domain
  request.set_display_name("Ada Lovelace");
  for (auto _ : state) {
    absl::StatusOr<user::NewUser> user = user::ValidateCreate(request);
    grpc::Status status = errors::ToGrpcStatus(user.status());
    benchmark::DoNotOptimize(status);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Error_RejectedCreateUser);

// Publish with N subscribers that have read everything (parked: each waits for a wake), as
// WatchUsers watchers between events. Timed: Publish alone, what the committing writer pays.
// Untimed: what the delivery thread then does (run the wake, every subscriber reads the event
// and parks again). Wakers count, as SchedulePump would post.
void RunPublish(benchmark::State& state, bool executor) {
  using Fanout = streams::EventFanout<::user::v1::User>;
  Fanout fanout;
  std::vector<std::function<void()>> posted;
  if (executor) {
    fanout.SetWakeExecutor([&posted](std::function<void()> task) { posted.push_back(task); });
  }
  int64_t wakes = 0;
  std::vector<Fanout::Handle> subscribers;
  for (int64_t i = 0; i < state.range(0); ++i) {
    subscribers.push_back(fanout.Subscribe(1024, [&wakes] { ++wakes; }));
  }
  std::shared_ptr<const ::user::v1::User> event;
  for (auto& subscriber : subscribers) subscriber.TryPop(&event);  // parks
  ::user::v1::User user;
  user.set_id("01m7z77fczv7hcjgbx2t1z2qxa");
  user.set_email("ada@example.com");
  for (auto _ : state) {
    fanout.Publish(user);
    state.PauseTiming();
    // By index, and each task copied out first: a task posts the next chunk of a wake chain
    // (more than 256 parked), which appends to `posted`.
    for (size_t i = 0; i < posted.size(); ++i) {
      const std::function<void()> task = posted[i];
      task();
    }
    posted.clear();
    for (auto& subscriber : subscribers) {
      while (subscriber.TryPop(&event) == Fanout::Next::kEvent) {
      }
    }
    state.ResumeTiming();
  }
  fanout.SetWakeExecutor(nullptr);
  state.counters["wakes_per_publish"] =
      static_cast<double>(wakes) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
}
// A fixed count: the untimed part (every subscriber reads and parks again) costs up to a
// thousand times the timed Publish, and Google Benchmark picks the count from the timed part
// alone, which made the 10,000-subscriber cases run for many minutes each.
constexpr int64_t kPublishIterations = 4000;
void BM_Fanout_Publish_WakesOnExecutor(benchmark::State& state) { RunPublish(state, true); }
BENCHMARK(BM_Fanout_Publish_WakesOnExecutor)
    ->Arg(10)
    ->Arg(1000)
    ->Arg(10000)
    ->Iterations(kPublishIterations);
void BM_Fanout_Publish_WakesInline(benchmark::State& state) { RunPublish(state, false); }
BENCHMARK(BM_Fanout_Publish_WakesInline)
    ->Arg(10)
    ->Arg(1000)
    ->Arg(10000)
    ->Iterations(kPublishIterations);

}  // namespace
}  // namespace hermes

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  hermes::telemetry::ShutdownLogging();
  return 0;
}
