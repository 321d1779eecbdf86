#include "tests/load/run_stats.h"

#include <algorithm>
#include <utility>

namespace hermes::load {

void StatusTally::Add(grpc::StatusCode code, const std::string& message, uint64_t count) {
  const int value = static_cast<int>(code);
  if (value >= 0 && value < static_cast<int>(standard_.size())) {
    standard_[static_cast<size_t>(value)] += count;
  } else {
    other_[value] += count;
  }
  if (code != grpc::StatusCode::OK) Sample(code, message, count);
}

void StatusTally::Sample(grpc::StatusCode code, const std::string& message, uint64_t count) {
  for (ErrorSample& sample : samples_) {
    if (sample.code == code && sample.message == message) {
      sample.count += count;
      return;
    }
  }
  if (samples_.size() < kMaxSamples) {
    samples_.push_back({code, message, count});
  } else {
    unsampled_errors_ += count;
  }
}

void StatusTally::Merge(const StatusTally& other) {
  for (size_t i = 0; i < standard_.size(); ++i) standard_[i] += other.standard_[i];
  for (const auto& [code, count] : other.other_) other_[code] += count;
  for (const ErrorSample& sample : other.samples_)
    Sample(sample.code, sample.message, sample.count);
  unsampled_errors_ += other.unsampled_errors_;
}

uint64_t StatusTally::total() const {
  uint64_t sum = 0;
  for (uint64_t count : standard_) sum += count;
  for (const auto& [code, count] : other_) sum += count;
  return sum;
}

uint64_t StatusTally::errors() const { return total() - standard_[0]; }

uint64_t StatusTally::count(grpc::StatusCode code) const {
  const int value = static_cast<int>(code);
  if (value >= 0 && value < static_cast<int>(standard_.size())) {
    return standard_[static_cast<size_t>(value)];
  }
  const auto it = other_.find(value);
  return it == other_.end() ? 0 : it->second;
}

std::vector<std::pair<grpc::StatusCode, uint64_t>> StatusTally::by_code() const {
  std::map<int, uint64_t> all(other_.begin(), other_.end());
  for (size_t i = 0; i < standard_.size(); ++i) {
    if (standard_[i] != 0) all[static_cast<int>(i)] += standard_[i];
  }
  std::vector<std::pair<grpc::StatusCode, uint64_t>> result;
  for (const auto& [code, count] : all) {
    if (count != 0) result.emplace_back(static_cast<grpc::StatusCode>(code), count);
  }
  return result;
}

void StreamTally::Merge(const StreamTally& other) {
  requested += other.requested;
  opened += other.opened;
  ended_early += other.ended_early;
  messages += other.messages;
  messages_without_timestamp += other.messages_without_timestamp;
  messages_stamped_ahead += other.messages_stamped_ahead;
  delivery.Merge(other.delivery);
  ended_early_status.Merge(other.ended_early_status);
}

void RunStats::Merge(const RunStats& other) {
  latency.Merge(other.latency);
  status.Merge(other.status);
  unsent += other.unsent;
  last_completion = std::max(last_completion, other.last_completion);
  streams.Merge(other.streams);
}

}  // namespace hermes::load
