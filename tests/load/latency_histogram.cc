#include "tests/load/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace hermes::load {
namespace {

constexpr int kSubBucketBits = 7;  // 128 buckets per power of two
constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
constexpr uint64_t kExactBelow = kSubBuckets * 2;  // 256: kept exactly
constexpr int kMaxExponent = 39;                   // values up to 2^40 - 1 ns (~18 min)
constexpr uint64_t kMaxValue = (uint64_t{1} << (kMaxExponent + 1)) - 1;
constexpr size_t kBucketCount =
    kExactBelow + (kMaxExponent - kSubBucketBits) * kSubBuckets;  // exponents 8..39

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBucketCount, 0) {}

size_t LatencyHistogram::BucketOf(uint64_t value) {
  if (value < kExactBelow) return static_cast<size_t>(value);
  const int exponent = std::bit_width(value) - 1;                  // >= 8
  const uint64_t mantissa = value >> (exponent - kSubBucketBits);  // 128..255
  return static_cast<size_t>(kExactBelow + (exponent - kSubBucketBits - 1) * kSubBuckets +
                             (mantissa - kSubBuckets));
}

uint64_t LatencyHistogram::LowestIn(size_t bucket) {
  if (bucket < kExactBelow) return bucket;
  const uint64_t offset = bucket - kExactBelow;
  const int exponent = static_cast<int>(offset / kSubBuckets) + kSubBucketBits + 1;
  const uint64_t mantissa = kSubBuckets + offset % kSubBuckets;
  return mantissa << (exponent - kSubBucketBits);
}

uint64_t LatencyHistogram::HighestIn(size_t bucket) {
  if (bucket < kExactBelow) return bucket;
  return LowestIn(bucket + 1) - 1;  // the next bucket starts right after this one
}

int64_t LatencyHistogram::Representative(size_t bucket) const {
  const uint64_t low = LowestIn(bucket);
  const int64_t middle = static_cast<int64_t>(low + (HighestIn(bucket) - low) / 2);
  return std::clamp(middle, min_, max_);
}

void LatencyHistogram::Record(int64_t nanos) {
  const uint64_t value =
      std::min<uint64_t>(nanos < 0 ? 0 : static_cast<uint64_t>(nanos), kMaxValue);
  const auto clamped = static_cast<int64_t>(value);
  ++buckets_[BucketOf(value)];
  if (count_ == 0 || clamped < min_) min_ = clamped;
  if (clamped > max_) max_ = clamped;
  ++count_;
  sum_ += static_cast<long double>(clamped);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

int64_t LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  // Nearest rank, ceil(p% of count), in integers (p to a thousandth of a percent): in doubles,
  // 99.9 / 100 * 1000 is a hair above 999, and p99.9 of 1,000 samples came out as the maximum.
  const auto milli = static_cast<uint64_t>(std::llround(std::clamp(p, 0.0, 100.0) * 1000));
  const uint64_t rank = std::max<uint64_t>(1, (milli * count_ + 99'999) / 100'000);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return Representative(i);
  }
  return max_;
}

std::vector<uint64_t> LatencyHistogram::CountsUpTo(const std::vector<int64_t>& bounds) const {
  std::vector<uint64_t> counts(bounds.size(), 0);
  if (bounds.empty()) return counts;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i] == 0) continue;
    const int64_t value = Representative(i);
    const auto at = std::lower_bound(bounds.begin(), bounds.end(), value);
    const size_t slot =
        at == bounds.end() ? bounds.size() - 1 : static_cast<size_t>(at - bounds.begin());
    counts[slot] += buckets_[i];
  }
  return counts;
}

}  // namespace hermes::load
