// RunStats: what one worker thread observed during a run, merged across workers at the end
// into what the report prints. Workers never share one: recording is plain increments.
//
//   RunStats stats;                                   // one per worker thread
//   stats.latency.Record(elapsed_ns);
//   stats.status.Add(status);
//   total.Merge(stats);                               // after the workers joined
#pragma once

#include <grpcpp/support/status.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/load/latency_histogram.h"

namespace hermes::load {

using Clock = std::chrono::steady_clock;

// One distinct (code, message) pair of the failed calls, and how often it was seen.
struct ErrorSample {
  grpc::StatusCode code;
  std::string message;
  uint64_t count = 0;
};

// Every status counted by code (never dropped); the first kMaxSamples distinct error messages.
class StatusTally {
 public:
  static constexpr size_t kMaxSamples = 10;

  void Add(const grpc::Status& status) { Add(status.error_code(), status.error_message()); }
  void Add(grpc::StatusCode code, const std::string& message, uint64_t count = 1);
  void Merge(const StatusTally& other);

  uint64_t total() const;
  uint64_t errors() const;  // all but OK
  uint64_t count(grpc::StatusCode code) const;
  // (code, count) for every code seen, ordered by code.
  std::vector<std::pair<grpc::StatusCode, uint64_t>> by_code() const;
  const std::vector<ErrorSample>& samples() const { return samples_; }
  uint64_t unsampled_errors() const { return unsampled_errors_; }  // beyond kMaxSamples messages

 private:
  void Sample(grpc::StatusCode code, const std::string& message, uint64_t count);

  std::array<uint64_t, 17> standard_{};  // OK..UNAUTHENTICATED
  std::map<int, uint64_t> other_;        // a code outside them
  std::vector<ErrorSample> samples_;
  uint64_t unsampled_errors_ = 0;
};

// Long-lived streams (server-streaming and bidi runs).
struct StreamTally {
  uint64_t requested = 0;
  uint64_t opened = 0;       // received their response headers
  uint64_t ended_early = 0;  // ended (any status) before the run ended, or never got headers
  uint64_t messages = 0;     // received after the warm-up, before the end
  uint64_t messages_without_timestamp = 0;  // of those, without the --latency_field
  // Of those, stamped later than they were received (the server's clock ahead of ours): not in
  // `delivery`, where they would pass for instant deliveries.
  uint64_t messages_stamped_ahead = 0;
  LatencyHistogram delivery;       // receive time - the message's timestamp
  StatusTally ended_early_status;  // how the early ones ended

  void Merge(const StreamTally& other);
};

struct RunStats {
  LatencyHistogram latency;  // counted calls; for long-lived streams, the time to headers
  StatusTally status;        // one per counted call (or stream)
  uint64_t unsent = 0;       // open loop: due in the window but never sent (the cap was full)
  Clock::time_point last_completion{};  // of a counted call
  StreamTally streams;

  void Merge(const RunStats& other);
};

}  // namespace hermes::load
