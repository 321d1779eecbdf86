// CallWorker: one worker thread's share of a run of repeated calls, unary or client-streaming,
// on gRPC's generic stub and a completion queue of its own.
//
// Why a completion queue and not the callback API: the generator gets one core, and a thread
// looping on its own queue does the polling, the bookkeeping and the sends itself, with no
// hand-off to gRPC's callback threads (two of them, contending for that core), no
// std::function per call and no lock around the statistics (each worker owns its RunStats).
//
// Closed loop (rps == 0): `concurrency` calls stay in flight; each completion sends the next.
// Open loop: call i is due at start + i/rps (workers take every W-th i); its latency counts from
// that intended time, so a call held back because `concurrency` calls were in flight, or a
// server that falls behind, shows up in the latency instead of slowing the schedule down
// (coordinated omission). Calls due in the window that are still waiting for a place at its
// end may leave for one call timeout more (late, so their latency shows it); those that never
// left are counted as `unsent`.
//
//   CallWorkload workload{...};                   // shared, read-only but for its atomics
//   CallWorker worker(workload, index, count);    // one per thread
//   worker.Run();                                 // returns when the run is over
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "tests/load/request_template.h"
#include "tests/load/rpc_method.h"
#include "tests/load/run_stats.h"

namespace hermes::load {

// When calls are sent and counted. Calls that start (are due) before `measure_start` are the
// warm-up: sent but not counted.
struct CallSchedule {
  Clock::time_point start;
  Clock::time_point measure_start;  // start + warm-up
  Clock::time_point end;            // measure_start + duration; Clock::time_point::max(): none
  uint64_t total = 0;               // counted calls; 0 = no limit
  double rps = 0;                   // 0: closed loop
  int concurrency = 1;              // all workers together
  absl::Duration timeout;           // each call's deadline
};

struct CallWorkload {
  const RpcMethod* method = nullptr;
  const RequestTemplate* request = nullptr;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  CallSchedule schedule;
  std::atomic<uint64_t> next_n{0};   // {{n}}, unique across workers
  std::atomic<uint64_t> claimed{0};  // closed loop with a total: counted calls started
};

class CallWorker {
 public:
  CallWorker(CallWorkload& workload, int index, int count);
  ~CallWorker();
  CallWorker(const CallWorker&) = delete;
  CallWorker& operator=(const CallWorker&) = delete;

  void Run();
  const RunStats& stats() const { return stats_; }

 private:
  struct Call;

  Call* FreeCall();
  void Issue(Call* call, Clock::time_point intended, bool counted);
  void OnEvent(Call* call, bool ok);
  void Advance(Call* call, bool ok);  // client streaming: the next step
  void Complete(Call* call);
  void IssueClosedLoop(Clock::time_point now);
  void IssueOpenLoop(Clock::time_point now);
  void StopIssuing(Clock::time_point now);
  Clock::time_point Due(uint64_t i) const;  // open loop: when call i is due

  CallWorkload& workload_;
  const CallSchedule& schedule_;
  const int count_;
  const int cap_;  // this worker's share of the concurrency
  grpc::CompletionQueue queue_;
  std::vector<grpc::GenericStub> stubs_;
  size_t next_stub_;
  RequestRenderer renderer_;
  std::vector<std::unique_ptr<Call>> calls_;
  std::vector<Call*> free_;
  int in_flight_ = 0;
  bool issuing_ = true;
  bool cancelled_ = false;
  Clock::time_point drain_deadline_;
  // Open loop: the next call index of this worker, and the bounds of the counted ones.
  uint64_t next_index_;
  uint64_t first_counted_index_ = 0;
  uint64_t end_index_ = UINT64_MAX;  // first index not to send (the total)
  RunStats stats_;
};

}  // namespace hermes::load
