#include "tests/load/load_run.h"

#include <algorithm>
#include <thread>

#include "tests/load/call_runner.h"
#include "tests/load/stream_runner.h"

namespace hermes::load {
namespace {

// Runs worker.Run() for each worker on a thread of its own (the first on this thread).
template <typename Worker>
RunStats RunAll(std::vector<std::unique_ptr<Worker>>& workers) {
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers.size(); ++i) {
    threads.emplace_back([worker = workers[i].get()] { worker->Run(); });
  }
  workers[0]->Run();
  for (std::thread& thread : threads) thread.join();
  RunStats merged;
  for (const auto& worker : workers) merged.Merge(worker->stats());
  return merged;
}

double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

}  // namespace

RunReport RunRepeatedCalls(const LoadOptions& options, const RpcMethod& method,
                           const RequestTemplate& request,
                           const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  CallWorkload workload;
  workload.method = &method;
  workload.request = &request;
  workload.channels = channels;
  CallSchedule& schedule = workload.schedule;
  schedule.start = Clock::now();
  schedule.measure_start = schedule.start + absl::ToChronoNanoseconds(options.warmup);
  schedule.end = options.duration == absl::InfiniteDuration()
                     ? Clock::time_point::max()
                     : schedule.measure_start + absl::ToChronoNanoseconds(options.duration);
  schedule.total = options.total;
  schedule.rps = options.rps;
  schedule.concurrency = options.concurrency;
  schedule.timeout = options.timeout;

  const int count = std::min(options.workers, options.concurrency);
  std::vector<std::unique_ptr<CallWorker>> workers;
  for (int i = 0; i < count; ++i)
    workers.push_back(std::make_unique<CallWorker>(workload, i, count));

  RunReport report;
  report.stats = RunAll(workers);
  report.call = method.display_name;
  report.kind = method.kind;
  report.connections = options.connections;
  report.concurrency = options.concurrency;
  report.target_rps = options.rps;
  if (report.stats.status.total() > 0) {
    report.total_seconds = Seconds(report.stats.last_completion - schedule.measure_start);
  }
  return report;
}

RunReport RunLongLivedStreams(const LoadOptions& options, const RpcMethod& method,
                              const RequestTemplate& request,
                              const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                              std::optional<TimestampField> latency_field) {
  StreamWorkload workload;
  workload.method = &method;
  workload.request = &request;
  workload.channels = channels;
  workload.latency_field = std::move(latency_field);
  workload.streams = options.streams;
  workload.open_rate = options.stream_open_rate;
  workload.warmup = options.warmup;
  workload.duration = options.duration;
  workload.timeout = options.timeout;
  workload.ready_file = options.streams_ready_file;
  workload.expect_messages = options.stream_messages;
  workload.start = Clock::now();

  const int count = std::min(options.workers, options.streams);
  std::vector<std::unique_ptr<StreamWorker>> workers;
  for (int i = 0; i < count; ++i) {
    workers.push_back(std::make_unique<StreamWorker>(workload, i, count));
  }

  RunReport report;
  report.stats = RunAll(workers);
  report.call = method.display_name;
  report.kind = method.kind;
  report.connections = options.connections;
  report.latency_field = options.latency_field;
  if (const std::optional<Clock::time_point> window_start = workload.window_start()) {
    report.open_seconds = Seconds(*window_start - workload.start);
    // As long as it lasted: a signal, or every stream ending early, cuts it short.
    const Clock::time_point measure_start =
        *window_start + absl::ToChronoNanoseconds(options.warmup);
    const std::optional<Clock::time_point> window_end = workload.window_end();
    report.window_seconds = workload.opened.load() == 0 || !window_end.has_value()
                                ? 0
                                : std::max(0.0, Seconds(*window_end - measure_start));
  }
  return report;
}

}  // namespace hermes::load
