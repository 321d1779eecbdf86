// StreamWorker: one worker thread's share of a run of long-lived streams (server-streaming or
// bidi), on gRPC's generic stub and a completion queue of its own (see call_runner.h for why).
//
// A run has three phases, shared by all workers through StreamWorkload:
//   opening   streams open at --stream_open_rate (stream i at start + i/rate, workers take every
//             W-th); each sends its request messages (server streaming: then half-closes; bidi:
//             keeps writing open). A stream is open once its response headers arrive (the
//             services send them when the subscription is live). The phase ends when every
//             stream is open or has failed, or at the latest `timeout` after the last was due;
//             streams still waiting then are cancelled and count as failed (DeadlineExceeded).
//             Whoever ends the phase touches --streams_ready_file and logs "streams ready".
//   window    warm-up, then --duration: messages received are counted, with their delivery
//             latency (receive time minus --latency_field) when there is one. With
//             --stream_messages, it ends (within 10 ms) once that many messages have arrived
//             since the first stream opened.
//   closing   bidi streams half-close and get `timeout` to finish (the server ends them with
//             OK); server streams are cancelled. Whatever is left is cancelled.
// A stream's status: ended before the closing phase (by the server, or never open) → its own
// status, counted as ended early; ended in the closing phase → its own status, except that a
// server stream cancelled by us counts as OK.
//
//   StreamWorkload workload{...};
//   StreamWorker worker(workload, index, count);   // one per thread
//   worker.Run();
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/load/request_template.h"
#include "tests/load/rpc_method.h"
#include "tests/load/run_stats.h"
#include "tests/load/timestamp_field.h"

namespace hermes::load {

struct StreamWorkload {
  const RpcMethod* method = nullptr;
  const RequestTemplate* request = nullptr;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::optional<TimestampField> latency_field;
  int streams = 1;
  double open_rate = 2000;
  absl::Duration warmup;
  absl::Duration duration;
  absl::Duration timeout;        // for headers once due, and for the closing phase
  std::string ready_file;        // touched when the opening phase ends; empty: none
  uint64_t expect_messages = 0;  // > 0: the window ends once `received` reaches it
  Clock::time_point start;

  std::atomic<uint64_t> next_n{0};  // {{n}}: one per stream
  std::atomic<int> settled{0};      // streams open or failed in the opening phase
  std::atomic<int> opened{0};
  std::atomic<uint64_t> received{0};  // with expect_messages: every stream's, opening included
  std::atomic<int64_t> window_start_ns{0};  // Clock ticks since its epoch; 0 while opening
  std::atomic<int64_t> window_end_ns{0};    // the latest end of a worker's window; 0: none yet

  // Ends the opening phase once (at `now`): the first caller wins, writes the ready file and
  // logs. Returns the start of the window either way.
  Clock::time_point EndOpening(Clock::time_point now);
  std::optional<Clock::time_point> window_start() const;
  // A worker's window ended at `end` (its duration, a signal, or every stream gone early).
  void EndWindow(Clock::time_point end);
  std::optional<Clock::time_point> window_end() const;
  Clock::time_point opening_deadline() const;  // the last stream due + timeout
  bool AllExpectedReceived() const {
    return expect_messages > 0 && received.load(std::memory_order_relaxed) >= expect_messages;
  }
};

class StreamWorker {
 public:
  StreamWorker(StreamWorkload& workload, int index, int count);
  ~StreamWorker();
  StreamWorker(const StreamWorker&) = delete;
  StreamWorker& operator=(const StreamWorker&) = delete;

  void Run();
  const RunStats& stats() const { return stats_; }

 private:
  struct Stream;
  struct Tag;

  void Open(Clock::time_point due);
  void OnEvent(Tag* tag, bool ok);
  void WriteNext(Stream* stream);
  void OnMessage(Stream* stream);
  void Settle(Stream* stream, bool open);
  void Finished(Stream* stream);
  void MaybeFinish(Stream* stream);
  void Close(Clock::time_point now);
  // kUnopenedTimedOut, kUnopenedStopped: the streams still without headers (at the opening
  // deadline: counted as failed to open, DEADLINE_EXCEEDED; at a stop: Canceled); kAll: every
  // stream not yet finished (the close's deadline).
  enum class Cancel { kUnopenedTimedOut, kUnopenedStopped, kAll };
  void CancelRemaining(Cancel which);

  StreamWorkload& workload_;
  const int index_;
  const int count_;
  const int my_streams_;  // how many this worker opens
  grpc::CompletionQueue queue_;
  std::vector<grpc::GenericStub> stubs_;
  RequestRenderer renderer_;
  std::vector<std::unique_ptr<Stream>> streams_;
  int live_ = 0;  // streams with operations pending
  bool closing_ = false;
  bool cancelled_ = false;
  Clock::time_point close_deadline_;
  std::optional<Clock::time_point> window_start_;
  Clock::time_point measure_start_;
  Clock::time_point end_;
  RunStats stats_;
};

}  // namespace hermes::load
