#include "tests/load/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace hermes::load {
namespace {

// The nearest-rank percentile of `sorted`, as LatencyHistogram defines it (rank ceil(p% of the
// count), counted in integers).
int64_t ExactPercentile(const std::vector<int64_t>& sorted, double p) {
  const auto milli = static_cast<size_t>(std::llround(p * 1000));
  const size_t rank = std::max<size_t>(1, (milli * sorted.size() + 99'999) / 100'000);
  return sorted[rank - 1];
}

TEST(LatencyHistogram, Empty_ReportsZeros) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.Percentile(50), 0);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.max(), 0);
  EXPECT_EQ(histogram.mean(), 0.0);
}

TEST(LatencyHistogram, SmallValues_AreExact) {
  LatencyHistogram histogram;
  for (int64_t value = 0; value < 256; ++value) histogram.Record(value);
  EXPECT_EQ(histogram.Percentile(50), 127);
  EXPECT_EQ(histogram.Percentile(100), 255);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.max(), 255);
}

// p99.9 of 1,000 samples is the 999th: in doubles, 99.9 / 100 * 1000 is a hair above 999, and
// the rank came out as the 1,000th, the one slow outlier.
TEST(LatencyHistogram, P999OfAThousand_IsThe999thNotTheOutlier) {
  LatencyHistogram histogram;
  for (int i = 0; i < 999; ++i) histogram.Record(1'000'000);  // 1 ms
  histogram.Record(100'000'000);                              // 100 ms
  EXPECT_NEAR(static_cast<double>(histogram.Percentile(99.9)), 1e6, 1e6 * 0.005);
  EXPECT_NEAR(static_cast<double>(histogram.Percentile(100)), 1e8, 1e8 * 0.005);
}

TEST(LatencyHistogram, Percentiles_WithinHalfAPercentOfExactValues) {
  // Log-normal-ish latencies from 20 µs to ~1 s, as a real run has them.
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> distribution(std::log(300'000.0), 1.2);
  std::vector<int64_t> samples;
  LatencyHistogram histogram;
  for (int i = 0; i < 200'000; ++i) {
    const auto value = static_cast<int64_t>(std::clamp(distribution(random), 20'000.0, 1e9));
    samples.push_back(value);
    histogram.Record(value);
  }
  std::sort(samples.begin(), samples.end());
  for (double p : {1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = static_cast<double>(ExactPercentile(samples, p));
    EXPECT_NEAR(static_cast<double>(histogram.Percentile(p)), exact, exact * 0.005) << "p" << p;
  }
  EXPECT_EQ(histogram.min(), samples.front());
  EXPECT_EQ(histogram.max(), samples.back());
  double sum = 0;
  for (int64_t value : samples) sum += static_cast<double>(value);
  EXPECT_NEAR(histogram.mean(), sum / static_cast<double>(samples.size()), 1.0);
}

TEST(LatencyHistogram, Merge_EqualsRecordingEverythingInOne) {
  LatencyHistogram first;
  LatencyHistogram second;
  LatencyHistogram both;
  for (int64_t value = 1000; value < 50'000'000; value = value * 11 / 10) {
    (value % 2 == 0 ? first : second).Record(value);
    both.Record(value);
  }
  first.Merge(second);
  EXPECT_EQ(first.count(), both.count());
  EXPECT_EQ(first.min(), both.min());
  EXPECT_EQ(first.max(), both.max());
  for (double p : {50.0, 90.0, 99.0}) EXPECT_EQ(first.Percentile(p), both.Percentile(p));
}

TEST(LatencyHistogram, NegativeAndHugeValues_AreClamped) {
  LatencyHistogram histogram;
  histogram.Record(-5);
  histogram.Record(int64_t{1} << 50);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.max(), (int64_t{1} << 40) - 1);
  EXPECT_EQ(histogram.count(), 2u);
}

TEST(LatencyHistogram, CountsUpTo_SplitsSamplesByBound) {
  LatencyHistogram histogram;
  for (int i = 0; i < 10; ++i) histogram.Record(1'000'000);  // 1 ms
  for (int i = 0; i < 5; ++i) histogram.Record(5'000'000);   // 5 ms
  histogram.Record(20'000'000);                              // 20 ms, above the last bound
  const std::vector<uint64_t> counts = histogram.CountsUpTo({2'000'000, 10'000'000});
  EXPECT_EQ(counts, (std::vector<uint64_t>{10, 6}));
}

}  // namespace
}  // namespace hermes::load
