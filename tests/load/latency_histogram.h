// LatencyHistogram: a log-linear (HDR-style) histogram of durations in nanoseconds, for a load
// generator that records millions of calls and must not keep them all.
//
// Values below 256 ns are kept exactly; above, every power of two is split into 128 equal
// buckets, so a bucket is never wider than 1/128 (0.8 %) of its lower bound. A percentile is
// reported as its bucket's midpoint clamped to the exact minimum and maximum, which is within
// 0.4 % of the true sample. Recording is an index computation and an increment (no allocation),
// so each worker thread owns one histogram and they are merged once at the end:
//
//   LatencyHistogram latency;            // one per worker thread
//   latency.Record(elapsed_ns);
//   total.Merge(latency);                // after the threads joined
//   double p99_ms = total.Percentile(99.0) / 1e6;
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hermes::load {

class LatencyHistogram {
 public:
  LatencyHistogram();

  // Records one duration; negative values count as 0, values beyond ~18 minutes as the maximum.
  void Record(int64_t nanos);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  int64_t min() const { return count_ == 0 ? 0 : min_; }  // exact
  int64_t max() const { return max_; }                    // exact
  double mean() const;                                    // exact

  // The sample at rank ceil(p/100 * count) (nearest rank), p in [0, 100]; 0 when empty.
  int64_t Percentile(double p) const;

  // `bounds` ascending (nanoseconds); returns, for each bound, the samples above the previous
  // bound and at most this one (the first bound takes everything up to it). Samples above the
  // last bound go into the last entry. A sample is placed by its bucket's representative value.
  std::vector<uint64_t> CountsUpTo(const std::vector<int64_t>& bounds) const;

 private:
  static size_t BucketOf(uint64_t value);
  static uint64_t LowestIn(size_t bucket);
  static uint64_t HighestIn(size_t bucket);
  int64_t Representative(size_t bucket) const;

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace hermes::load
