#include "tests/load/report.h"

#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

namespace hermes::load {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;
using ::testing::HasSubstr;

Struct ParseJson(const std::string& json) {
  Struct parsed;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &parsed);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return parsed;
}

double NumberAt(const Struct& object, const std::string& key) {
  const auto it = object.fields().find(key);
  EXPECT_NE(it, object.fields().end()) << key;
  if (it == object.fields().end()) return -1;
  EXPECT_EQ(it->second.kind_case(), Value::kNumberValue) << key;
  return it->second.number_value();
}

RunReport UnaryReport() {
  RunReport report;
  report.call = "user.v1.UserService/GetUser";
  report.kind = RpcKind::kUnary;
  report.concurrency = 64;
  report.total_seconds = 2.0;
  for (int i = 1; i <= 1000; ++i) {
    report.stats.latency.Record(int64_t{i} * 1000);  // 1 µs .. 1 ms
    report.stats.status.Add(grpc::Status::OK);
  }
  report.stats.status.Add(grpc::StatusCode::NOT_FOUND, "user \"x\" not found", 3);
  report.stats.status.Add(grpc::StatusCode::CANCELLED, "cancelled \"\n\" here");
  return report;
}

TEST(JsonReport, UnaryRun_HasEveryFieldScriptsRead) {
  const Struct json = ParseJson(JsonReport(UnaryReport()));
  EXPECT_EQ(json.fields().at("call").string_value(), "user.v1.UserService/GetUser");
  EXPECT_EQ(json.fields().at("kind").string_value(), "unary");
  EXPECT_EQ(json.fields().at("mode").string_value(), "closed_loop");
  EXPECT_EQ(NumberAt(json, "count"), 1004);
  EXPECT_EQ(NumberAt(json, "total_s"), 2.0);
  EXPECT_EQ(NumberAt(json, "rps"), 502.0);
  EXPECT_EQ(NumberAt(json, "errors"), 4);
  EXPECT_EQ(NumberAt(json, "fastest_ms"), 0.001);
  EXPECT_EQ(NumberAt(json, "slowest_ms"), 1.0);
  EXPECT_NEAR(NumberAt(json, "average_ms"), 0.5005, 0.001);
  EXPECT_NEAR(NumberAt(json, "p50_ms"), 0.5, 0.005);
  EXPECT_NEAR(NumberAt(json, "p90_ms"), 0.9, 0.005);
  EXPECT_NEAR(NumberAt(json, "p99_ms"), 0.99, 0.005);
  for (const char* key : {"p10_ms", "p25_ms", "p75_ms", "p95_ms", "p999_ms", "unsent",
                          "unlisted_errors", "target_rps", "connections", "concurrency"}) {
    NumberAt(json, key);
  }
  const Struct& status = json.fields().at("status").struct_value();
  EXPECT_EQ(NumberAt(status, "OK"), 1000);
  EXPECT_EQ(NumberAt(status, "NotFound"), 3);
  EXPECT_EQ(NumberAt(status, "Canceled"), 1);  // Go's spelling
  const auto& messages = json.fields().at("error_messages").list_value().values();
  ASSERT_EQ(messages.size(), 2);
  EXPECT_EQ(messages[0].struct_value().fields().at("code").string_value(), "NotFound");
  EXPECT_EQ(messages[0].struct_value().fields().at("message").string_value(),
            "user \"x\" not found");
  EXPECT_EQ(messages[1].struct_value().fields().at("message").string_value(),
            "cancelled \"\n\" here");
  const auto& histogram = json.fields().at("histogram").list_value().values();
  ASSERT_EQ(histogram.size(), 10);
  double counted = 0;
  for (const Value& bucket : histogram) counted += NumberAt(bucket.struct_value(), "count");
  EXPECT_EQ(counted, 1000);  // the latency samples
  EXPECT_EQ(NumberAt(histogram[9].struct_value(), "le_ms"), 1.0);
  EXPECT_EQ(json.fields().at("streams").kind_case(), Value::kNullValue);
}

TEST(JsonReport, StreamRun_HasTheStreamFields) {
  RunReport report;
  report.call = "user.v1.UserService/WatchUsers";
  report.kind = RpcKind::kServerStreaming;
  report.open_seconds = 0.25;
  report.window_seconds = 10;
  report.latency_field = "event_time";
  report.stats.streams.requested = 5;
  report.stats.streams.opened = 4;
  report.stats.streams.ended_early = 1;
  report.stats.streams.ended_early_status.Add(grpc::StatusCode::RESOURCE_EXHAUSTED, "full");
  report.stats.streams.messages = 103;
  report.stats.streams.messages_stamped_ahead = 3;
  for (int i = 0; i < 100; ++i) report.stats.streams.delivery.Record(2'000'000);
  report.stats.status.Add(grpc::StatusCode::OK, "", 4);
  report.stats.status.Add(grpc::StatusCode::RESOURCE_EXHAUSTED, "full");
  const Struct json = ParseJson(JsonReport(report));
  EXPECT_EQ(json.fields().at("mode").string_value(), "streams");
  EXPECT_EQ(NumberAt(json, "count"), 5);
  const Struct& streams = json.fields().at("streams").struct_value();
  EXPECT_EQ(NumberAt(streams, "requested"), 5);
  EXPECT_EQ(NumberAt(streams, "opened"), 4);
  EXPECT_EQ(NumberAt(streams, "failed"), 1);
  EXPECT_EQ(NumberAt(streams, "open_ms"), 250);
  EXPECT_EQ(NumberAt(streams, "messages"), 103);
  EXPECT_EQ(NumberAt(streams, "messages_per_s"), 10.3);
  EXPECT_EQ(NumberAt(streams.fields().at("ended_early").struct_value(), "ResourceExhausted"), 1);
  const Struct& delivery = streams.fields().at("delivery").struct_value();
  EXPECT_EQ(delivery.fields().at("latency_field").string_value(), "event_time");
  EXPECT_EQ(NumberAt(delivery, "count"), 100);
  EXPECT_EQ(NumberAt(delivery, "stamped_ahead"), 3);  // not in the figures as instant deliveries
  EXPECT_THAT(TextReport(report), HasSubstr("3 stamped after they arrived"));
  for (const char* key : {"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"}) {
    EXPECT_EQ(NumberAt(delivery, key), 2.0) << key;
    EXPECT_EQ(NumberAt(streams, std::string("delivery_") + key), 2.0) << key;
  }
}

TEST(JsonReport, StreamRunWithoutLatencyField_HasNullDelivery) {
  RunReport report;
  report.kind = RpcKind::kBidiStreaming;
  report.stats.streams.requested = 1;
  const Struct json = ParseJson(JsonReport(report));
  const Struct& streams = json.fields().at("streams").struct_value();
  EXPECT_EQ(streams.fields().at("delivery").kind_case(), Value::kNullValue);
  EXPECT_EQ(streams.fields().at("delivery_p99_ms").kind_case(), Value::kNullValue);
}

// A latency field but no message carried it: every delivery figure is null, not a perfect 0.
TEST(JsonReport, StreamRunWithLatencyFieldButNoSamples_DeliveryFiguresAreNull) {
  RunReport report;
  report.kind = RpcKind::kServerStreaming;
  report.latency_field = "event_time";
  report.stats.streams.requested = 1;
  const Struct json = ParseJson(JsonReport(report));
  const Struct& streams = json.fields().at("streams").struct_value();
  const Struct& delivery = streams.fields().at("delivery").struct_value();
  EXPECT_EQ(NumberAt(delivery, "count"), 0);
  for (const char* key : {"average_ms", "p50_ms", "p99_ms", "max_ms"}) {
    EXPECT_EQ(delivery.fields().at(key).kind_case(), Value::kNullValue) << key;
  }
  EXPECT_EQ(streams.fields().at("delivery_p99_ms").kind_case(), Value::kNullValue);
}

TEST(TextReport, ListsEveryStatusAndTheErrorMessages) {
  const std::string text = TextReport(UnaryReport());
  EXPECT_THAT(text, HasSubstr("Summary:"));
  EXPECT_THAT(text, HasSubstr("Count:\t1004"));
  EXPECT_THAT(text, HasSubstr("Requests/sec:\t502.00"));
  EXPECT_THAT(text, HasSubstr("[OK]\t1000 responses"));
  EXPECT_THAT(text, HasSubstr("[NotFound]\t3 responses"));
  EXPECT_THAT(text, HasSubstr("[Canceled]\t1 responses"));
  EXPECT_THAT(text, HasSubstr("99.9 % in"));
  EXPECT_THAT(text, HasSubstr("[3]\tNotFound: user \"x\" not found"));
}

TEST(StatusTally, Merge_KeepsCountsAndSamplesOfBothSides) {
  StatusTally first;
  StatusTally second;
  first.Add(grpc::StatusCode::NOT_FOUND, "a", 2);
  second.Add(grpc::StatusCode::NOT_FOUND, "a", 3);
  second.Add(grpc::StatusCode::UNAVAILABLE, "b");
  second.Add(grpc::Status::OK);
  first.Merge(second);
  EXPECT_EQ(first.total(), 7u);
  EXPECT_EQ(first.errors(), 6u);
  EXPECT_EQ(first.count(grpc::StatusCode::NOT_FOUND), 5u);
  ASSERT_EQ(first.samples().size(), 2u);
  EXPECT_EQ(first.samples()[0].count, 5u);
}

TEST(StatusTally, ManyDistinctMessages_AreCountedButNotAllListed) {
  StatusTally tally;
  for (int i = 0; i < 25; ++i) tally.Add(grpc::StatusCode::INTERNAL, "error " + std::to_string(i));
  EXPECT_EQ(tally.count(grpc::StatusCode::INTERNAL), 25u);
  EXPECT_EQ(tally.samples().size(), StatusTally::kMaxSamples);
  EXPECT_EQ(tally.unsampled_errors(), 25u - StatusTally::kMaxSamples);
}

}  // namespace
}  // namespace hermes::load
