// The real hermes-load binary against a real hermes-user on loopback: the report a bench script
// reads says what happened (counts, every status, stream messages and their delivery latency),
// and the exit code says whether the run could happen at all.
#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/support/certs.h"
#include "tests/support/http.h"
#include "tests/support/network.h"
#include "tests/support/service_process.h"
#include "tests/support/subprocess.h"
#include "user/v1/user.grpc.pb.h"

namespace hermes::testing {
namespace {

using ::google::protobuf::Struct;
using ::testing::HasSubstr;

constexpr absl::Duration kRunTimeout = absl::Seconds(60);

// The JSON report: the one line of the output that is a JSON object (stderr is mixed in).
::testing::AssertionResult ReportOf(const std::string& output, Struct* report) {
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (!absl::StartsWith(line, "{\"call\"")) continue;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(line.data(), line.size()), report);
    if (!status.ok()) return ::testing::AssertionFailure() << status.ToString() << "\n" << line;
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no JSON report in:\n" << output;
}

double Number(const Struct& object, const std::string& key) {
  const auto it = object.fields().find(key);
  return it == object.fields().end() ? -1 : it->second.number_value();
}

int ExitCode(const CommandResult& result) {
  return result.status.has_value() && WIFEXITED(*result.status) ? WEXITSTATUS(*result.status) : -1;
}

// Waits (at most 20 s) for a stream run's ready file: its streams are open.
::testing::AssertionResult AwaitReadyFile(const std::string& file, Subprocess& load) {
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!std::filesystem::exists(file) && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (std::filesystem::exists(file)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "no ready file; output:\n" << load.Output();
}

// SIGINT, then the run must end (well before the long duration the tests ask for) with exit 0
// and a JSON report, into `report`.
::testing::AssertionResult StopWithSigint(Subprocess& load, Struct* report) {
  load.Signal(SIGINT);
  const std::optional<int> status = load.WaitForExit(absl::Seconds(30));
  if (!status.has_value()) {
    return ::testing::AssertionFailure() << "still running 30 s after SIGINT\n" << load.Output();
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return ::testing::AssertionFailure() << "wait status " << *status << "\n" << load.Output();
  }
  return ReportOf(load.Output(), report);
}

class HermesLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    user_ = std::make_unique<ServiceProcess>(
        ServiceOptions{.binary = HERMES_USER_BIN, .extra_env = {"OTEL_SDK_DISABLED=true"}});
    ASSERT_TRUE(user_->WaitUntilServing());
    stub_ = ::user::v1::UserService::NewStub(user_->Channel());
  }

  std::string CreateUser(const std::string& email) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    ::user::v1::CreateUserRequest request;
    request.set_email(email);
    request.set_display_name("Load Test");
    ::user::v1::CreateUserResponse response;
    const grpc::Status status = stub_->CreateUser(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.user().id();
  }

  // GetUser calls the server answered OK so far (-1: /metrics did not say).
  double AnsweredGetUsers() const {
    absl::StatusOr<std::string> metrics = HttpGet(user_->metrics_port(), "/metrics");
    if (!metrics.ok()) return -1;
    return MetricValue(*metrics, "grpc_server_handled_total",
                       {{"grpc_method", "GetUser"}, {"grpc_code", "OK"}})
        .value_or(-1);
  }
  // Waits (at most 20 s) until the server has answered more than `n` GetUser calls: a run
  // under way.
  ::testing::AssertionResult AwaitAnsweredGetUsers(double n, Subprocess& load) const {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    double answered = AnsweredGetUsers();
    while (answered <= n && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(20));
      answered = AnsweredGetUsers();
    }
    if (answered > n) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << answered << " GetUser answered; output:\n"
                                         << load.Output();
  }

  // An open-loop GetUser run at 100/s with `run_args` (its length, its cap), during which the
  // server is stopped (SIGSTOP) for `stall` once it has answered 20 of the run's calls: the
  // run's JSON report and its output.
  ::testing::AssertionResult OpenLoopAcrossAStall(const std::vector<std::string>& run_args,
                                                  absl::Duration stall, Struct* report,
                                                  std::string* output) {
    const std::string id = CreateUser(absl::StrCat("load-stall-", ++stall_runs_, "@bench.test"));
    std::vector<std::string> args = {"--call",    "user.v1.UserService/GetUser",
                                     "-d",        absl::StrCat(R"({"id":")", id, "\"}"),
                                     "--rps",     "100",
                                     "--timeout", "20s"};
    args.insert(args.end(), run_args.begin(), run_args.end());
    Subprocess load(LoadArgs(std::move(args)));
    if (::testing::AssertionResult under_way = AwaitAnsweredGetUsers(20, load); !under_way) {
      return under_way;
    }
    if (!user_->process().Pause(absl::Seconds(5))) {
      return ::testing::AssertionFailure() << "the server did not stop";
    }
    absl::SleepFor(stall);  // the stall: a time that has to pass
    user_->process().Signal(SIGCONT);
    const std::optional<int> status = load.WaitForExit(kRunTimeout);
    *output = load.Output();
    if (!status.has_value() || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      return ::testing::AssertionFailure() << "hermes-load failed:\n" << *output;
    }
    return ReportOf(*output, report);
  }

  std::vector<std::string> LoadArgs(std::vector<std::string> extra) const {
    std::vector<std::string> args = {HERMES_LOAD_BIN, "--insecure", "--addr",    user_->address(),
                                     "--format",      "json",       "--workers", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::unique_ptr<ServiceProcess> user_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
  int stall_runs_ = 0;
};

TEST_F(HermesLoadTest, GetUserClosedLoop_CountsEveryCallAsOk) {
  const std::string id = CreateUser("load-get@bench.test");
  const CommandResult result = RunCommand(
      LoadArgs({"--call", "user.v1.UserService/GetUser", "-d",
                absl::StrCat(R"({"id":")", id, "\"}"), "--concurrency", "8", "--total", "200"}),
      kRunTimeout);
  ASSERT_EQ(ExitCode(result), 0) << result.output;
  Struct report;
  ASSERT_TRUE(ReportOf(result.output, &report));
  EXPECT_EQ(Number(report, "count"), 200);
  EXPECT_EQ(Number(report, "errors"), 0);
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "OK"), 200);
  EXPECT_GT(Number(report, "rps"), 0);
  EXPECT_GT(Number(report, "p99_ms"), 0);
}

// Open loop with room to spare: every call due in the window leaves (late if the generator
// was), so the count is the rate times the duration and none is reported unsent. (Room: as many
// in flight as the whole run's calls, so that even a server stalled for a while under ASan on a
// loaded machine cannot fill the cap.)
TEST_F(HermesLoadTest, OpenLoopWithRoom_SendsEveryCallDueInTheWindow) {
  const std::string id = CreateUser("load-open@bench.test");
  const CommandResult result =
      RunCommand(LoadArgs({"--call", "user.v1.UserService/GetUser", "-d",
                           absl::StrCat(R"({"id":")", id, "\"}"), "--rps", "500", "--duration",
                           "2s", "--concurrency", "1000"}),
                 kRunTimeout);
  ASSERT_EQ(ExitCode(result), 0) << result.output;
  Struct report;
  ASSERT_TRUE(ReportOf(result.output, &report));
  EXPECT_EQ(Number(report, "unsent"), 0) << result.output;
  EXPECT_EQ(Number(report, "count"), 1000) << result.output;  // 500/s for 2 s
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "OK"), 1000);
}

// Open loop: a call's latency counts from when it was due, not from when it left. The server
// stops for 600 ms in mid-run; the calls due meanwhile wait for a place (4 in flight) and then
// for the server, and the tail says so: the 5 % slowest waited 400 ms or more. Measured from
// when each left (coordinated omission), only the 4 in flight at the stall would have been
// slow, and p95 would be a millisecond.
TEST_F(HermesLoadTest, OpenLoop_ServerStalls_LatencyCountsFromWhenEachCallWasDue) {
  Struct report;
  std::string output;
  ASSERT_TRUE(OpenLoopAcrossAStall({"--duration", "4s", "--concurrency", "4"},
                                   absl::Milliseconds(600), &report, &output));
  EXPECT_EQ(Number(report, "count") + Number(report, "unsent"), 400) << output;
  EXPECT_EQ(Number(report, "errors"), 0) << output;
  EXPECT_GE(Number(report, "p95_ms"), 150) << output;
}

// Calls still waiting for a place at the end of an open-loop run leave late, and count: the
// server stops (SIGSTOP) from a quarter of the way through until after the end, with one call
// in flight. The calls due meanwhile all leave once it is back, each with its whole wait in its
// latency; none is left out as unsent.
TEST_F(HermesLoadTest, OpenLoop_CallsStillWaitingAtTheEnd_LeaveLateAndAreCounted) {
  Struct report;
  std::string output;
  // The stall lasts the whole run, so it reaches past the end.
  ASSERT_TRUE(OpenLoopAcrossAStall({"--duration", "3s", "--concurrency", "1"}, absl::Seconds(3),
                                   &report, &output));
  EXPECT_EQ(Number(report, "unsent"), 0) << output;
  EXPECT_EQ(Number(report, "count"), 300) << output;
  EXPECT_EQ(Number(report, "errors"), 0) << output;
  EXPECT_GE(Number(report, "p99_ms"), 500) << output;
}

// An open loop ended by --total (no duration) waits for a place as long as it takes: calls held
// back by a stalled server are sent once it is back, all of them counted.
TEST_F(HermesLoadTest, OpenLoopWithTotalOnly_WaitsForAPlace_EveryCallCounted) {
  Struct report;
  std::string output;
  ASSERT_TRUE(OpenLoopAcrossAStall({"--total", "100", "--concurrency", "1"},
                                   absl::Milliseconds(300), &report, &output));
  EXPECT_EQ(Number(report, "unsent"), 0) << output;
  EXPECT_EQ(Number(report, "count"), 100) << output;
  EXPECT_EQ(Number(report, "errors"), 0) << output;
}

// --warmup: the calls of the first period are sent but not counted.
TEST_F(HermesLoadTest, OpenLoopWithWarmup_SendsTheWarmupCallsAndCountsOnlyTheRest) {
  const std::string id = CreateUser("load-warmup@bench.test");
  const CommandResult result =
      RunCommand(LoadArgs({"--call", "user.v1.UserService/GetUser", "-d",
                           absl::StrCat(R"({"id":")", id, "\"}"), "--rps", "200", "--warmup", "1s",
                           "--duration", "1s", "--concurrency", "400"}),
                 kRunTimeout);
  ASSERT_EQ(ExitCode(result), 0) << result.output;
  Struct report;
  ASSERT_TRUE(ReportOf(result.output, &report));
  EXPECT_EQ(Number(report, "count"), 200) << result.output;
  EXPECT_EQ(AnsweredGetUsers(), 400);  // the server answered the warm-up's 200 too
}

TEST_F(HermesLoadTest, GetUserUnknownId_CountsEveryNotFound) {
  const CommandResult result =
      RunCommand(LoadArgs({"--call", "user.v1.UserService.GetUser", "-d",
                           R"({"id":"no-such-user"})", "--concurrency", "4", "--total", "50"}),
                 kRunTimeout);
  ASSERT_EQ(ExitCode(result), 0) << result.output;
  Struct report;
  ASSERT_TRUE(ReportOf(result.output, &report));
  EXPECT_EQ(Number(report, "count"), 50);
  EXPECT_EQ(Number(report, "errors"), 50);
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "NotFound"), 50);
  const auto& messages = report.fields().at("error_messages").list_value().values();
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages[0].struct_value().fields().at("code").string_value(), "NotFound");
}

// {{n}} is unique across the workers' threads: a duplicate would be ALREADY_EXISTS.
TEST_F(HermesLoadTest, CreateUserWithCounter_MakesUniqueUsers) {
  const CommandResult result =
      RunCommand(LoadArgs({"--call", "user.v1.UserService/CreateUser", "-d",
                           R"({"email":"u{{n}}@bench.test","display_name":"U {{n}}"})",
                           "--concurrency", "8", "--total", "40", "--workers", "4"}),
                 kRunTimeout);
  ASSERT_EQ(ExitCode(result), 0) << result.output;
  Struct report;
  ASSERT_TRUE(ReportOf(result.output, &report));
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "OK"), 40) << result.output;
}

// --values_file: call n asks for line n % 4, so each of the four ids is asked for 10 times, and
// the one that names no user gets exactly its ten NOT_FOUNDs.
TEST_F(HermesLoadTest, GetUserWithValuesFile_AsksForEachLineInTurn) {
  const std::string values_file =
      absl::StrCat(::testing::TempDir(), "/hermes-load-values-", getpid());
  {
    std::ofstream out(values_file);
    out << CreateUser("load-v1@bench.test") << "\n"
        << CreateUser("load-v2@bench.test") << "\n"
        << "no-such-user\n"
        << CreateUser("load-v3@bench.test") << "\n";
  }
  const CommandResult result =
      RunCommand(LoadArgs({"--call", "user.v1.UserService/GetUser", "-d", R"({"id":"{{value}}"})",
                           "--values_file", values_file, "--concurrency", "4", "--total", "40"}),
                 kRunTimeout);
  std::filesystem::remove(values_file);
  ASSERT_EQ(ExitCode(result), 0) << result.output;
  Struct report;
  ASSERT_TRUE(ReportOf(result.output, &report));
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "OK"), 30) << result.output;
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "NotFound"), 10) << result.output;
}

TEST_F(HermesLoadTest, WatchUsersStreams_CountMessagesWithDeliveryLatency) {
  const std::string ready_file =
      absl::StrCat(::testing::TempDir(), "/hermes-load-ready-", getpid());
  std::filesystem::remove(ready_file);
  Subprocess load(
      LoadArgs({"--call", "user.v1.UserService/WatchUsers", "--streams", "5", "--duration", "6s",
                "--latency_field", "event_time", "--streams_ready_file", ready_file}));
  ASSERT_TRUE(AwaitReadyFile(ready_file, load));
  for (int i = 0; i < 3; ++i) CreateUser(absl::StrCat("watched", i, "@bench.test"));

  const std::optional<int> status = load.WaitForExit(kRunTimeout);
  ASSERT_TRUE(status.has_value()) << load.Output();
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << load.Output();
  const std::string output = load.Output();
  EXPECT_THAT(output, HasSubstr("streams ready: 5 in"));
  Struct report;
  ASSERT_TRUE(ReportOf(output, &report));
  const Struct& streams = report.fields().at("streams").struct_value();
  EXPECT_EQ(Number(streams, "opened"), 5);
  EXPECT_EQ(Number(streams, "failed"), 0);
  EXPECT_EQ(Number(streams, "messages"), 15) << output;  // 3 events x 5 watchers
  const Struct& delivery = streams.fields().at("delivery").struct_value();
  EXPECT_EQ(Number(delivery, "count"), 15);
  EXPECT_EQ(Number(delivery, "missing_timestamp"), 0);
  EXPECT_EQ(Number(delivery, "stamped_ahead"), 0);  // one clock: none received before it was sent
  EXPECT_GE(Number(delivery, "p50_ms"), 0);
  EXPECT_GT(Number(delivery, "max_ms"), 0);
  EXPECT_GE(Number(streams, "delivery_p99_ms"), Number(delivery, "p50_ms"));
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "OK"), 5);
  std::filesystem::remove(ready_file);
}

// --stream_messages: the run ends once the messages the test caused have all arrived, long
// before its 10 minutes, and every one of them is counted.
TEST_F(HermesLoadTest, WatchUsersWithStreamMessages_EndsOnceTheyHaveArrived) {
  const std::string ready_file =
      absl::StrCat(::testing::TempDir(), "/hermes-load-ready-messages-", getpid());
  std::filesystem::remove(ready_file);
  Subprocess load(
      LoadArgs({"--call", "user.v1.UserService/WatchUsers", "--streams", "4", "--duration", "10m",
                "--stream_messages", "12", "--streams_ready_file", ready_file}));
  ASSERT_TRUE(AwaitReadyFile(ready_file, load));
  for (int i = 0; i < 3; ++i) CreateUser(absl::StrCat("counted", i, "@bench.test"));

  const std::optional<int> status = load.WaitForExit(kRunTimeout);
  ASSERT_TRUE(status.has_value()) << "still running: " << load.Output();
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << load.Output();
  Struct report;
  ASSERT_TRUE(ReportOf(load.Output(), &report));
  const Struct& streams = report.fields().at("streams").struct_value();
  EXPECT_EQ(Number(streams, "messages"), 12) << load.Output();  // 3 events x 4 watchers
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "OK"), 4);
  EXPECT_GT(Number(streams, "window_s"), 0);
  EXPECT_LT(Number(streams, "window_s"), 30) << "not ended by its messages";
  std::filesystem::remove(ready_file);
}

// Streams the server refuses (beyond its --max_streams: RESOURCE_EXHAUSTED) are counted as
// failed, each with its status, and the others run to the end: errors are never hidden. (They
// have headers, x-request-id, before the refusal, so they may count as opened too: --help.)
TEST_F(HermesLoadTest, WatchUsersBeyondMaxStreams_EachRefusalCountedWithItsStatus) {
  user_ = std::make_unique<ServiceProcess>(ServiceOptions{.binary = HERMES_USER_BIN,
                                                          .extra_args = {"--max_streams=2"},
                                                          .extra_env = {"OTEL_SDK_DISABLED=true"}});
  ASSERT_TRUE(user_->WaitUntilServing());
  Subprocess load(
      LoadArgs({"--call", "user.v1.UserService/WatchUsers", "--streams", "5", "--duration", "1s"}));
  const std::optional<int> status = load.WaitForExit(kRunTimeout);
  ASSERT_TRUE(status.has_value()) << load.Output();
  ASSERT_TRUE(WIFEXITED(*status)) << load.Output();
  Struct report;
  ASSERT_TRUE(ReportOf(load.Output(), &report));
  const Struct& streams = report.fields().at("streams").struct_value();
  EXPECT_EQ(Number(streams, "failed"), 3) << load.Output();
  EXPECT_EQ(Number(streams.fields().at("ended_early").struct_value(), "ResourceExhausted"), 3);
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "OK"), 2);
}

// SIGINT (what a bench script sends a run it started in the background) ends a run as its
// duration would: exit 0, the report of what ran, its rate over the time it ran.
TEST_F(HermesLoadTest, SigintDuringAStreamRun_EndsItEarlyWithTheReport) {
  const std::string ready_file =
      absl::StrCat(::testing::TempDir(), "/hermes-load-ready-sigint-", getpid());
  std::filesystem::remove(ready_file);
  Subprocess load(LoadArgs({"--call", "user.v1.UserService/WatchUsers", "--streams", "3",
                            "--duration", "10m", "--streams_ready_file", ready_file}));
  ASSERT_TRUE(AwaitReadyFile(ready_file, load));
  Struct report;
  ASSERT_TRUE(StopWithSigint(load, &report));
  const Struct& streams = report.fields().at("streams").struct_value();
  EXPECT_EQ(Number(streams, "opened"), 3);
  EXPECT_LT(Number(streams, "window_s"), 30);  // as long as it ran, not the 10 minutes asked
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "OK"), 3);
  std::filesystem::remove(ready_file);
}

// SIGINT while streams are still being opened (a slow --stream_open_rate): no stream is opened
// after it, the run ends at once with exit 0, and a stream cut short while it waited for its
// headers counts as Canceled, not as one that failed to open.
TEST_F(HermesLoadTest, SigintWhileOpeningStreams_StopsOpeningAndEndsTheRun) {
  // 10 s of opening, far longer than the close's --timeout: a stream opened after the close
  // would be ended by nothing (WatchUsers never ends by itself) and the run would never stop.
  Subprocess load(LoadArgs({"--call", "user.v1.UserService/WatchUsers", "--streams", "1000",
                            "--stream_open_rate", "100", "--timeout", "1s", "--duration", "10m"}));
  // Some streams are open (the server counts them), and seconds of opening are still to come.
  double started = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (started < 3 && absl::Now() < give_up) {
    started = CallsStarted(user_->metrics_port(), "user.v1.UserService", "WatchUsers");
    if (started < 3) absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GE(started, 3) << load.Output();
  Struct report;
  ASSERT_TRUE(StopWithSigint(load, &report));  // within 30 s, and without opening any more
  const Struct& streams = report.fields().at("streams").struct_value();
  EXPECT_GE(Number(streams, "opened"), 3);
  EXPECT_LT(Number(streams, "opened"), 100);
  EXPECT_EQ(Number(streams, "failed"), 0) << load.Output();
}

// The same for a closed-loop call run: the calls in flight are drained, and the report counts
// what was answered until the signal.
TEST_F(HermesLoadTest, SigintDuringACallRun_EndsItEarlyWithTheReport) {
  const std::string id = CreateUser("load-sigint@bench.test");
  Subprocess load(
      LoadArgs({"--call", "user.v1.UserService/GetUser", "-d",
                absl::StrCat(R"({"id":")", id, "\"}"), "--concurrency", "4", "--duration", "10m"}));
  ASSERT_TRUE(AwaitAnsweredGetUsers(100, load));  // under way
  Struct report;
  ASSERT_TRUE(StopWithSigint(load, &report));
  EXPECT_GT(Number(report, "count"), 100);
  EXPECT_EQ(Number(report, "errors"), 0) << load.Output();
  EXPECT_LT(Number(report, "total_s"), 30);
}

TEST(HermesLoadFailures, NoServer_ExitsWithCode2) {
  const PortReservation nobody;  // connections refused
  const CommandResult result =
      RunCommand({HERMES_LOAD_BIN, "--insecure", "--addr", LoopbackAddress(nobody.port()), "--call",
                  "user.v1.UserService/GetUser", "--timeout", "1s", "--total", "5"},
                 kRunTimeout);
  EXPECT_EQ(ExitCode(result), 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("cannot connect"));
}

TEST(HermesLoadFailures, UnknownMethodOrBadBody_ExitsWithCode1NamingTheProblem) {
  // Refused before any connection; should that break, it would meet no server (not the
  // default 127.0.0.1:50051, which a developer's `make up` may be serving).
  const PortReservation nobody;
  const std::string addr = LoopbackAddress(nobody.port());
  const CommandResult unknown = RunCommand(
      {HERMES_LOAD_BIN, "--insecure", "--addr", addr, "--call", "user.v1.UserService/Nope"},
      kRunTimeout);
  EXPECT_EQ(ExitCode(unknown), 1) << unknown.output;
  EXPECT_THAT(unknown.output, HasSubstr("user.v1.UserService/Nope"));
  const CommandResult bad_body =
      RunCommand({HERMES_LOAD_BIN, "--insecure", "--addr", addr, "--call",
                  "user.v1.UserService/GetUser", "-d", R"({"id":)"},
                 kRunTimeout);
  EXPECT_EQ(ExitCode(bad_body), 1) << bad_body.output;
  EXPECT_THAT(bad_body.output, HasSubstr("user.v1.GetUserRequest"));
  const CommandResult no_values = RunCommand(
      {HERMES_LOAD_BIN, "--insecure", "--addr", addr, "--call", "user.v1.UserService/GetUser", "-d",
       R"({"id":"{{value}}"})", "--values_file", "/nonexistent/hermes-load-values"},
      kRunTimeout);
  EXPECT_EQ(ExitCode(no_values), 1) << no_values.output;
  EXPECT_THAT(no_values.output, HasSubstr("--values_file"));
}

TEST(HermesLoadMutualTls, GetUser_OverMutualTlsAsAdmin) {
  const CertificateAuthority& ca = SharedTestCa();
  ServiceProcess user(
      {.binary = HERMES_USER_BIN, .ca = &ca, .extra_env = {"OTEL_SDK_DISABLED=true"}});
  ASSERT_TRUE(user.WaitUntilServing());
  const IdentityFiles admin = ca.Identity("admin");
  const CommandResult result =
      RunCommand({HERMES_LOAD_BIN, "--cacert", admin.ca, "--cert", admin.cert, "--key", admin.key,
                  "--addr", user.address(), "--call", "user.v1.UserService/GetUser", "-d",
                  R"({"id":"x"})", "--total", "20", "--connections", "2", "--format", "json"},
                 kRunTimeout);
  ASSERT_EQ(ExitCode(result), 0) << result.output;
  Struct report;
  ASSERT_TRUE(ReportOf(result.output, &report));
  EXPECT_EQ(Number(report.fields().at("status").struct_value(), "NotFound"), 20);
}

}  // namespace
}  // namespace hermes::testing
