#include "tests/load/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "tests/load/rpc_method.h"

namespace hermes::load {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<LoadOptions> Parse(std::vector<std::string> args) { return ParseLoadOptions(args); }

std::string ErrorOf(std::vector<std::string> args) {
  absl::StatusOr<LoadOptions> options = Parse(std::move(args));
  EXPECT_FALSE(options.ok());
  return options.ok() ? "" : std::string(options.status().message());
}

TEST(ParseLoadOptions, Defaults_AreAClosedLoopOfTenSeconds) {
  absl::StatusOr<LoadOptions> options =
      Parse({"--call", "user.v1.UserService/GetUser", "--insecure"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->address, "127.0.0.1:50051");
  EXPECT_EQ(options->data, "{}");
  EXPECT_EQ(options->concurrency, 50);
  EXPECT_EQ(options->rps, 0);
  EXPECT_EQ(options->duration, absl::Seconds(10));
  EXPECT_EQ(options->timeout, absl::Seconds(5));
  EXPECT_EQ(options->format, ReportFormat::kText);
  EXPECT_GE(options->workers, 1);
}

TEST(ParseLoadOptions, EveryFlag_TakesSpaceOrEqualsForm) {
  absl::StatusOr<LoadOptions> options = Parse({"--call=order.v1.OrderService.GetOrder",
                                               "--addr",
                                               "127.0.0.1:1",
                                               "-d",
                                               R"({"id":"x"})",
                                               "--cacert",
                                               "ca.pem",
                                               "--cert=c.pem",
                                               "--key",
                                               "k.pem",
                                               "--server_name=localhost",
                                               "--connections=4",
                                               "--concurrency",
                                               "8",
                                               "--rps=1000.5",
                                               "--duration=2s",
                                               "--total=99",
                                               "--warmup",
                                               "500ms",
                                               "--timeout=1s",
                                               "--format",
                                               "json",
                                               "--workers=2"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->call, "order.v1.OrderService.GetOrder");
  EXPECT_EQ(options->data, R"({"id":"x"})");
  EXPECT_FALSE(options->insecure);
  EXPECT_EQ(options->key_file, "k.pem");
  EXPECT_EQ(options->server_name, "localhost");
  EXPECT_EQ(options->connections, 4);
  EXPECT_EQ(options->concurrency, 8);
  EXPECT_DOUBLE_EQ(options->rps, 1000.5);
  EXPECT_EQ(options->duration, absl::Seconds(2));
  EXPECT_EQ(options->total, 99u);
  EXPECT_EQ(options->warmup, absl::Milliseconds(500));
  EXPECT_EQ(options->format, ReportFormat::kJson);
  EXPECT_EQ(options->workers, 2);
}

TEST(ParseLoadOptions, TotalWithoutDuration_HasNoTimeLimit) {
  absl::StatusOr<LoadOptions> options = Parse({"--call=a.B/C", "--insecure", "--total=200"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->duration, absl::InfiniteDuration());
}

TEST(ParseLoadOptions, OpenLoop_CapsInFlightCallsHighByDefault) {
  absl::StatusOr<LoadOptions> options = Parse({"--call=a.B/C", "--insecure", "--rps=500"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->concurrency, 10000);
}

TEST(ParseLoadOptions, DataFile_IsRead) {
  const std::string path = ::testing::TempDir() + "/load_options_body.json";
  std::ofstream(path) << R"({"id":"from-file"})";
  absl::StatusOr<LoadOptions> options = Parse({"--call=a.B/C", "--insecure", "--data_file", path});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->data, R"({"id":"from-file"})");
  std::remove(path.c_str());
}

TEST(ParseLoadOptions, ValuesFile_IsReadOneValueALine) {
  const std::string path = ::testing::TempDir() + "/load_options_values.txt";
  std::ofstream(path) << "order-1\norder-2\n";
  absl::StatusOr<LoadOptions> options =
      Parse({"--call=a.B/C", "--insecure", "--values_file", path, "-d", R"({"id":"{{value}}"})"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_THAT(options->values, ElementsAre("order-1", "order-2"));
  std::ofstream(path) << "order-1\n\"quoted\"\n";
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--values_file", path}),
              HasSubstr("--values_file: line 2 holds"));
  std::remove(path.c_str());
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--values_file=/nonexistent/v.txt"}),
              HasSubstr("cannot be read"));
}

TEST(ParseLoadOptions, StreamMessages_IsACountAboveZero) {
  absl::StatusOr<LoadOptions> options =
      Parse({"--call=a.B/C", "--insecure", "--stream_messages=20000"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->stream_messages, 20000u);
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--stream_messages=0"}),
              HasSubstr("--stream_messages=0: want a whole number above 0"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--stream_messages=many"}),
              HasSubstr("--stream_messages=many"));
}

TEST(ParseLoadOptions, BadValues_AreErrorsNamingTheFlag) {
  EXPECT_THAT(ErrorOf({"--insecure"}), HasSubstr("--call is required"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--concurrency=0"}),
              HasSubstr("--concurrency=0"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--connections=x"}),
              HasSubstr("--connections=x"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--duration=10"}),
              HasSubstr("--duration=10: want a duration"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--timeout=0s"}), HasSubstr("--timeout"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--rps=-1"}), HasSubstr("--rps"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--total=0"}), HasSubstr("--total"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--format=xml"}), HasSubstr("text or json"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--bogus=1"}),
              HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--total"}), HasSubstr("needs a value"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "stray"}), HasSubstr("stray"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--data_file=/nonexistent/x.json"}),
              HasSubstr("cannot be read"));
}

TEST(ParseLoadOptions, Transport_IsInsecureOrFullMutualTls) {
  EXPECT_THAT(ErrorOf({"--call=a.B/C"}), HasSubstr("--insecure"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--cacert=ca.pem", "--cert=c.pem"}),
              HasSubstr("missing --key"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "--cacert=ca.pem"}), HasSubstr("excludes"));
  EXPECT_THAT(ErrorOf({"--call=a.B/C", "--insecure", "-d", "{}", "--data_file=x"}),
              HasSubstr("exclude each other"));
}

TEST(ParseLoadOptions, Help_SkipsTheOtherChecks) {
  absl::StatusOr<LoadOptions> options = Parse({"--help"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->help);
  EXPECT_THAT(LoadUsage(), HasSubstr("--stream_open_rate"));
}

TEST(FindRpcMethod, AcceptsSlashDotAndLeadingSlashForms) {
  for (const char* name : {"user.v1.UserService/GetUser", "user.v1.UserService.GetUser",
                           "/user.v1.UserService/GetUser"}) {
    absl::StatusOr<RpcMethod> method = FindRpcMethod(name);
    ASSERT_TRUE(method.ok()) << name << ": " << method.status();
    EXPECT_EQ(method->path, "/user.v1.UserService/GetUser");
    EXPECT_EQ(method->kind, RpcKind::kUnary);
    EXPECT_EQ(method->descriptor->input_type()->full_name(), "user.v1.GetUserRequest");
  }
}

TEST(FindRpcMethod, KnowsEveryKindOfMethod) {
  EXPECT_EQ(FindRpcMethod("user.v1.UserService/WatchUsers")->kind, RpcKind::kServerStreaming);
  EXPECT_EQ(FindRpcMethod("order.v1.OrderService/UploadOrderEvents")->kind,
            RpcKind::kClientStreaming);
  EXPECT_EQ(FindRpcMethod("order.v1.OrderService/StreamOrderUpdates")->kind,
            RpcKind::kBidiStreaming);
  EXPECT_TRUE(FindRpcMethod("grpc.health.v1.Health/Check").ok());
}

TEST(FindRpcMethod, UnknownMethod_NamesItAndTheKnownServices) {
  absl::StatusOr<RpcMethod> method = FindRpcMethod("user.v1.UserService/Nope");
  ASSERT_FALSE(method.ok());
  EXPECT_THAT(method.status().message(), HasSubstr("user.v1.UserService/Nope"));
  EXPECT_THAT(method.status().message(), HasSubstr("order.v1.OrderService"));
}

TEST(CheckOptionsForMethod, StreamFlags_OnlyForLongLivedStreams) {
  const RpcMethod unary = *FindRpcMethod("user.v1.UserService/GetUser");
  const RpcMethod watch = *FindRpcMethod("user.v1.UserService/WatchUsers");
  const LoadOptions streams = *Parse({"--call=x", "--insecure", "--streams=5"});
  EXPECT_THAT(CheckOptionsForMethod(streams, unary).message(), HasSubstr("--streams"));
  EXPECT_TRUE(CheckOptionsForMethod(streams, watch).ok());
  const LoadOptions rps = *Parse({"--call=x", "--insecure", "--rps=5"});
  EXPECT_THAT(CheckOptionsForMethod(rps, watch).message(), HasSubstr("--rps"));
  EXPECT_TRUE(CheckOptionsForMethod(rps, unary).ok());
  const LoadOptions messages = *Parse({"--call=x", "--insecure", "--stream_messages=5"});
  EXPECT_THAT(CheckOptionsForMethod(messages, unary).message(), HasSubstr("--stream_messages"));
  EXPECT_TRUE(CheckOptionsForMethod(messages, watch).ok());
}

}  // namespace
}  // namespace hermes::load
