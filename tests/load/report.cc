#include "tests/load/report.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/errors/app_error.h"

namespace hermes::load {
namespace {

constexpr int kHistogramBuckets = 10;
constexpr int kBarWidth = 40;
constexpr std::pair<double, const char*> kPercentiles[] = {
    {10, "p10_ms"}, {25, "p25_ms"}, {50, "p50_ms"}, {75, "p75_ms"},
    {90, "p90_ms"}, {95, "p95_ms"}, {99, "p99_ms"}, {99.9, "p999_ms"}};

constexpr std::pair<double, const char*> kDeliveryPercentiles[] = {
    {50, "p50_ms"}, {90, "p90_ms"}, {99, "p99_ms"}, {99.9, "p999_ms"}};

double Ms(int64_t nanos) { return static_cast<double>(nanos) / 1e6; }
double Ms(double nanos) { return nanos / 1e6; }

std::string Number(double value) { return absl::StrFormat("%.3f", value); }

std::string Quoted(absl::string_view text) {
  std::string out = "\"";
  for (const unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

const char* Mode(const RunReport& report) {
  if (IsLongLivedStream(report.kind)) return "streams";
  return report.target_rps > 0 ? "open_loop" : "closed_loop";
}

// "1 connection", "2 connections"
std::string Counted(uint64_t count, absl::string_view noun) {
  return absl::StrCat(count, " ", noun, count == 1 ? "" : "s");
}

double Rate(double count, double seconds) { return seconds > 0 ? count / seconds : 0; }

// Ten equal-width buckets from the fastest to the slowest sample: (upper bound, count).
std::vector<std::pair<int64_t, uint64_t>> Buckets(const LatencyHistogram& latency) {
  std::vector<std::pair<int64_t, uint64_t>> buckets;
  if (latency.count() == 0) return buckets;
  const int64_t low = latency.min();
  const int64_t high = latency.max();
  if (low == high) return {{high, latency.count()}};
  std::vector<int64_t> bounds;
  for (int i = 1; i <= kHistogramBuckets; ++i) {
    bounds.push_back(low + (high - low) * i / kHistogramBuckets);
  }
  const std::vector<uint64_t> counts = latency.CountsUpTo(bounds);
  for (size_t i = 0; i < bounds.size(); ++i) buckets.emplace_back(bounds[i], counts[i]);
  return buckets;
}

std::string StatusObject(const StatusTally& status) {
  std::string out = "{";
  for (const auto& [code, count] : status.by_code()) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, Quoted(errors::GoCodeName(code)), ":", count);
  }
  return out + "}";
}

std::string StreamsObject(const RunReport& report) {
  const StreamTally& streams = report.stats.streams;
  std::string out = absl::StrCat(
      "{\"requested\":", streams.requested, ",\"opened\":", streams.opened,
      ",\"failed\":", streams.ended_early, ",\"open_ms\":", Number(report.open_seconds * 1e3),
      ",\"window_s\":", Number(report.window_seconds), ",\"messages\":", streams.messages,
      ",\"messages_per_s\":",
      Number(Rate(static_cast<double>(streams.messages), report.window_seconds)),
      ",\"ended_early\":", StatusObject(streams.ended_early_status));
  // The delivery percentiles twice: flat (null without samples) for `jq .streams.delivery_p99_ms`,
  // and as an object with the field they were measured against.
  const LatencyHistogram& delivery = streams.delivery;
  const bool measured = !report.latency_field.empty() && delivery.count() > 0;
  for (const auto& [p, name] : kDeliveryPercentiles) {
    absl::StrAppend(&out, ",\"delivery_", name,
                    "\":", measured ? Number(Ms(delivery.Percentile(p))) : "null");
  }
  absl::StrAppend(&out, ",\"delivery_max_ms\":", measured ? Number(Ms(delivery.max())) : "null",
                  ",\"delivery\":");
  if (report.latency_field.empty()) return out + "null}";
  absl::StrAppend(&out, "{\"latency_field\":", Quoted(report.latency_field),
                  ",\"count\":", delivery.count(),
                  ",\"missing_timestamp\":", streams.messages_without_timestamp,
                  ",\"stamped_ahead\":", streams.messages_stamped_ahead,
                  ",\"average_ms\":", measured ? Number(Ms(delivery.mean())) : "null");
  for (const auto& [p, name] : kDeliveryPercentiles) {
    absl::StrAppend(&out, ",\"", name,
                    "\":", measured ? Number(Ms(delivery.Percentile(p))) : "null");
  }
  absl::StrAppend(&out, ",\"max_ms\":", measured ? Number(Ms(delivery.max())) : "null", "}}");
  return out;
}

std::string Bar(uint64_t count, uint64_t largest) {
  const auto width = largest == 0 ? 0 : static_cast<int>(count * kBarWidth / largest);
  std::string bar;
  for (int i = 0; i < width; ++i) bar += "\u220e";
  return bar;
}

void AppendLatencyText(const LatencyHistogram& latency, std::string* out) {
  const auto buckets = Buckets(latency);
  uint64_t largest = 0;
  for (const auto& [bound, count] : buckets) largest = std::max(largest, count);
  absl::StrAppend(out, "\nResponse time histogram (ms):\n");
  for (const auto& [bound, count] : buckets) {
    absl::StrAppendFormat(out, "  %10.3f [%d]\t|%s\n", Ms(bound), count, Bar(count, largest));
  }
  absl::StrAppend(out, "\nLatency distribution:\n");
  for (const auto& [p, name] : kPercentiles) {
    absl::StrAppendFormat(out, "  %g %% in %.3f ms\n", p, Ms(latency.Percentile(p)));
  }
}

void AppendStatusText(const char* title, const StatusTally& status, const char* unit,
                      std::string* out) {
  absl::StrAppend(out, "\n", title, ":\n");
  for (const auto& [code, count] : status.by_code()) {
    absl::StrAppendFormat(out, "  [%s]\t%d %s\n", errors::GoCodeName(code), count, unit);
  }
}

void AppendErrorsText(const StatusTally& status, std::string* out) {
  if (status.samples().empty()) return;
  absl::StrAppend(out, "\nError distribution:\n");
  for (const ErrorSample& sample : status.samples()) {
    absl::StrAppendFormat(out, "  [%d]\t%s: %s\n", sample.count, errors::GoCodeName(sample.code),
                          sample.message);
  }
  if (status.unsampled_errors() > 0) {
    absl::StrAppendFormat(out, "  [%d]\twith other messages\n", status.unsampled_errors());
  }
}

}  // namespace

std::string JsonReport(const RunReport& report) {
  const RunStats& stats = report.stats;
  const LatencyHistogram& latency = stats.latency;
  const double count = static_cast<double>(stats.status.total());
  std::string out = absl::StrCat(
      "{\"call\":", Quoted(report.call), ",\"kind\":", Quoted(RpcKindName(report.kind)),
      ",\"mode\":", Quoted(Mode(report)), ",\"connections\":", report.connections,
      ",\"concurrency\":", report.concurrency, ",\"target_rps\":", Number(report.target_rps),
      ",\"count\":", stats.status.total(), ",\"total_s\":", Number(report.total_seconds),
      ",\"rps\":", Number(Rate(count, report.total_seconds)),
      ",\"fastest_ms\":", Number(Ms(latency.min())), ",\"slowest_ms\":", Number(Ms(latency.max())),
      ",\"average_ms\":", Number(Ms(latency.mean())));
  for (const auto& [p, name] : kPercentiles) {
    absl::StrAppend(&out, ",\"", name, "\":", Number(Ms(latency.Percentile(p))));
  }
  absl::StrAppend(&out, ",\"status\":", StatusObject(stats.status),
                  ",\"errors\":", stats.status.errors(), ",\"error_messages\":[");
  for (size_t i = 0; i < stats.status.samples().size(); ++i) {
    const ErrorSample& sample = stats.status.samples()[i];
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"code\":", Quoted(errors::GoCodeName(sample.code)),
                    ",\"message\":", Quoted(sample.message), ",\"count\":", sample.count, "}");
  }
  absl::StrAppend(&out, "],\"unlisted_errors\":", stats.status.unsampled_errors(),
                  ",\"unsent\":", stats.unsent, ",\"histogram\":[");
  const auto buckets = Buckets(latency);
  for (size_t i = 0; i < buckets.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"le_ms\":", Number(Ms(buckets[i].first)),
                    ",\"count\":", buckets[i].second, "}");
  }
  absl::StrAppend(&out,
                  "],\"streams\":", IsLongLivedStream(report.kind) ? StreamsObject(report) : "null",
                  "}\n");
  return out;
}

std::string TextReport(const RunReport& report) {
  const RunStats& stats = report.stats;
  const uint64_t count = stats.status.total();
  std::string out = "\nSummary:\n";
  if (IsLongLivedStream(report.kind)) {
    const StreamTally& streams = stats.streams;
    absl::StrAppendFormat(&out, "  Call:\t%s (%s, %s over %s)\n", report.call,
                          RpcKindName(report.kind), Counted(streams.requested, "stream"),
                          Counted(static_cast<uint64_t>(report.connections), "connection"));
    absl::StrAppendFormat(&out,
                          "  Streams:\t%d opened, %d failed or ended early; %.3f ms to open\n",
                          streams.opened, streams.ended_early, report.open_seconds * 1e3);
    absl::StrAppendFormat(&out, "  Messages:\t%d in %.3f s (%.2f/s)\n", streams.messages,
                          report.window_seconds,
                          Rate(static_cast<double>(streams.messages), report.window_seconds));
    if (!report.latency_field.empty()) {
      const LatencyHistogram& delivery = streams.delivery;
      absl::StrAppendFormat(&out, "\nDelivery latency (receive time - %s), %d messages",
                            report.latency_field, delivery.count());
      if (streams.messages_without_timestamp > 0) {
        absl::StrAppendFormat(&out, ", %d without it", streams.messages_without_timestamp);
      }
      if (streams.messages_stamped_ahead > 0) {
        absl::StrAppendFormat(&out, ", %d stamped after they arrived (the clocks differ; left out)",
                              streams.messages_stamped_ahead);
      }
      absl::StrAppend(&out, ":\n");
      for (double p : {50.0, 90.0, 99.0, 99.9}) {
        absl::StrAppendFormat(&out, "  %g %% in %.3f ms\n", p, Ms(delivery.Percentile(p)));
      }
      absl::StrAppendFormat(&out, "  max    %.3f ms\n", Ms(delivery.max()));
    }
    absl::StrAppend(&out, "\nStream open latency (to response headers):");
    AppendLatencyText(stats.latency, &out);
    AppendStatusText("Stream status distribution", stats.status, "streams", &out);
    AppendErrorsText(stats.status, &out);
    return out;
  }
  const char* mode = report.target_rps > 0 ? "open loop" : "closed loop";
  absl::StrAppendFormat(&out, "  Call:\t%s (%s, %s", report.call, RpcKindName(report.kind), mode);
  if (report.target_rps > 0) absl::StrAppendFormat(&out, " at %.2f/s", report.target_rps);
  absl::StrAppendFormat(&out, ", concurrency %d, %s)\n", report.concurrency,
                        Counted(static_cast<uint64_t>(report.connections), "connection"));
  absl::StrAppendFormat(&out, "  Count:\t%d\n", count);
  absl::StrAppendFormat(&out, "  Total:\t%.3f ms\n", report.total_seconds * 1e3);
  absl::StrAppendFormat(&out, "  Slowest:\t%.3f ms\n", Ms(stats.latency.max()));
  absl::StrAppendFormat(&out, "  Fastest:\t%.3f ms\n", Ms(stats.latency.min()));
  absl::StrAppendFormat(&out, "  Average:\t%.3f ms\n", Ms(stats.latency.mean()));
  absl::StrAppendFormat(&out, "  Requests/sec:\t%.2f\n",
                        Rate(static_cast<double>(count), report.total_seconds));
  if (stats.unsent > 0) {
    absl::StrAppendFormat(&out,
                          "  Unsent:\t%d calls were due but never sent (a worker had its share of "
                          "the %d in flight all along)\n",
                          stats.unsent, report.concurrency);
  }
  AppendLatencyText(stats.latency, &out);
  AppendStatusText("Status code distribution", stats.status, "responses", &out);
  AppendErrorsText(stats.status, &out);
  return out;
}

}  // namespace hermes::load
