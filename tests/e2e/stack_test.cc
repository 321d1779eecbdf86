// End to end (issue #7): the stack `make up` runs — deploy/up.sh with hermes-user, hermes-order
// and a real Prometheus — on free loopback ports, driven by a real outside client (buf curl,
// over mTLS as the admin identity), and observed only through Prometheus's HTTP API.
//
// It proves that:
//   - every rpc of both services answers a third-party client as API.md says;
//   - Prometheus scrapes both services, and counts every rpc in grpc_server_handled_total;
//   - every PromQL expression of the Grafana dashboards evaluates to data on a live stack
//     (so they only name metrics and labels the services really export);
//   - promtool accepts the configs (the shipped ones and the one up.sh renders), the alert
//     rules, and the rules' unit tests;
//   - every flag and variable deploy/docker-compose.yml passes to a Hermes binary is one that
//     binary's --help documents (there is no Docker here to start the compose file).
//
// Starting the stack is slow (sanitizer builds), so one fixture starts it once per process;
// CTest runs each test in a process of its own and never two at once (RESOURCE_LOCK).
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "order/v1/order.pb.h"
#include "tests/e2e/buf_curl.h"
#include "tests/e2e/compose_file.h"
#include "tests/e2e/every_rpc.h"
#include "tests/e2e/native_stack.h"
#include "tests/e2e/prometheus_api.h"
#include "tests/support/certs.h"
#include "tests/support/subprocess.h"
#include "user/v1/user.pb.h"

namespace hermes::testing {
namespace {

namespace fs = std::filesystem;
using google::protobuf::ListValue;
using google::protobuf::Struct;

constexpr absl::Duration kStartTimeout = absl::Seconds(120);
constexpr absl::Duration kStopTimeout = absl::Seconds(60);
// Prometheus scrapes every second; anything it should see shows up well within this.
constexpr absl::Duration kObserveTimeout = absl::Seconds(60);
constexpr absl::Duration kToolTimeout = absl::Seconds(60);
constexpr absl::Duration kPollPause = absl::Milliseconds(250);

std::string RepoPath(const std::string& relative) {
  return absl::StrCat(HERMES_REPO, "/", relative);
}

// Runs `argv` in `dir` (promtool resolves rule and test files relative to it).
CommandResult RunIn(const std::string& dir, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"/bin/bash", "-c", "cd \"$0\" && exec \"$@\"", dir});
  return RunCommand(std::move(argv), kToolTimeout);
}

class StackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path bin_dir = fs::path(HERMES_USER_BIN).parent_path().parent_path();
    std::error_code error;
    if (!fs::equivalent(bin_dir / "order" / "hermes-order", HERMES_ORDER_BIN, error)) {
      start_ = ::testing::AssertionFailure()
               << HERMES_ORDER_BIN << " is not where up.sh looks for it (" << bin_dir.string()
               << "/order/hermes-order)";
      return;
    }
    stack_ = std::make_unique<NativeStack>(NativeStack::Options{.repo = HERMES_REPO,
                                                                .bin_dir = bin_dir.string(),
                                                                .probe = HERMES_PROBE_BIN,
                                                                .certs = SharedTestCa().dir()});
    start_ = stack_->WaitUntilUp(kStartTimeout);
  }

  static void TearDownTestSuite() {
    // up.sh's own contract: SIGTERM stops every process and it exits 0.
    if (stack_ != nullptr && start_) {
      EXPECT_TRUE(stack_->Stop(kStopTimeout));
    }
    stack_.reset();
  }

  void SetUp() override { ASSERT_TRUE(start_); }

  void TearDown() override {
    if (HasFailure() && stack_ != nullptr && start_) {
      std::cout << "---- deploy/up.sh output so far ----\n" << stack_->Output() << "----\n";
    }
  }

  static const StackPorts& ports() { return stack_->ports(); }
  static PrometheusApi prometheus() { return PrometheusApi(ports().prometheus); }

  // The traffic of Stack_EveryRpcAnswersBufCurl, driven once per process by whichever test
  // needs it first.
  static void DriveTrafficOnce() {
    if (!traffic_ok_) {
      const BufCurl admin(HERMES_BUF, SharedTestCa().dir(), "admin");
      const BufCurl client(HERMES_BUF, SharedTestCa().dir(), "client");
      DriveEveryRpc(ports().user_grpc, ports().order_grpc, admin, client);
      traffic_ok_ = !::testing::Test::HasFailure();
    }
    ASSERT_TRUE(*traffic_ok_) << "driving every rpc with buf curl failed (see above or "
                                 "Stack_EveryRpcAnswersBufCurl)";
  }

  static inline std::unique_ptr<NativeStack> stack_;
  static inline ::testing::AssertionResult start_ = ::testing::AssertionFailure();
  static inline std::optional<bool> traffic_ok_;
};

TEST_F(StackTest, Stack_EveryRpcAnswersBufCurl) { DriveTrafficOnce(); }

TEST_F(StackTest, Stack_PrometheusScrapesBothServicesUp) {
  // prometheus-local.yml labels each target with its service; up.sh writes in the ports.
  const std::map<std::string, std::string> expected = {
      {"user", absl::StrCat("http://localhost:", ports().user_metrics, "/metrics")},
      {"order", absl::StrCat("http://localhost:", ports().order_metrics, "/metrics")}};
  std::string seen;
  const absl::Time deadline = absl::Now() + kObserveTimeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<google::protobuf::Value> data = prometheus().Get("targets?state=active");
    ASSERT_TRUE(data.ok()) << data.status();
    const ListValue& targets = ListField(data->struct_value(), "activeTargets");
    std::map<std::string, std::string> up;  // service -> scrape URL
    seen.clear();
    for (const auto& target : targets.values()) {
      const Struct& fields = target.struct_value();
      const std::string service = StringField(StructField(fields, "labels"), "service");
      const std::string url = StringField(fields, "scrapeUrl");
      const std::string health = StringField(fields, "health");
      absl::StrAppend(&seen, "  ", service, " ", url, " ", health, " ",
                      StringField(fields, "lastError"), "\n");
      if (health == "up") up[service] = url;
    }
    if (targets.values_size() == 2 && up == expected) return;
    absl::SleepFor(kPollPause);
  }
  FAIL() << "expected 2 active targets, both up: user on :" << ports().user_metrics
         << ", order on :" << ports().order_metrics << "; after " << kObserveTimeout
         << " Prometheus has:\n"
         << seen;
}

TEST_F(StackTest, Stack_EveryRpcIsCountedInPrometheus) {
  DriveTrafficOnce();
  std::vector<std::string> uncounted;
  for (const google::protobuf::ServiceDescriptor* service :
       {user::v1::User::descriptor()->file()->FindServiceByName("UserService"),
        order::v1::Order::descriptor()->file()->FindServiceByName("OrderService")}) {
    ASSERT_NE(service, nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      uncounted.push_back(absl::StrCat("sum(grpc_server_handled_total{grpc_service=\"",
                                       service->full_name(), "\",grpc_method=\"",
                                       service->method(i)->name(), "\"}) > 0"));
    }
  }
  ASSERT_EQ(uncounted.size(), 12u);  // API.md: six rpcs each
  const absl::Time deadline = absl::Now() + kObserveTimeout;
  while (!uncounted.empty() && absl::Now() < deadline) {
    std::erase_if(uncounted, [](const std::string& query) {
      absl::StatusOr<ListValue> result = prometheus().Query(query);
      return result.ok() && result->values_size() == 1;  // "> 0" drops a zero sample
    });
    if (!uncounted.empty()) absl::SleepFor(kPollPause);
  }
  EXPECT_TRUE(uncounted.empty()) << "no handled call counted within " << kObserveTimeout
                                 << " for:\n  " << absl::StrJoin(uncounted, "\n  ");
}

// One `expr` of a Grafana dashboard panel.
struct DashboardQuery {
  std::string where;  // dashboard file and panel title
  std::string expr;   // with Grafana's interval variables resolved
};

void CollectQueries(const std::string& file, const ListValue& panels,
                    std::vector<DashboardQuery>& queries) {
  for (const auto& panel : panels.values()) {
    const Struct& fields = panel.struct_value();
    CollectQueries(file, ListField(fields, "panels"), queries);  // panels inside a row
    for (const auto& target : ListField(fields, "targets").values()) {
      std::string expr = StringField(target.struct_value(), "expr");
      if (expr.empty()) continue;
      expr = absl::StrReplaceAll(expr, {{"${__rate_interval}", "1m"},
                                        {"$__rate_interval", "1m"},
                                        {"${__interval}", "1m"},
                                        {"$__interval", "1m"},
                                        {"${__range}", "1m"},
                                        {"$__range", "1m"}});
      queries.push_back(
          {absl::StrCat(file, " panel \"", StringField(fields, "title"), "\""), expr});
    }
  }
}

TEST_F(StackTest, Stack_EveryDashboardQueryReturnsData) {
  std::vector<DashboardQuery> pending;
  int dashboards = 0;
  for (const auto& entry : fs::directory_iterator(RepoPath("deploy/grafana/dashboards"))) {
    if (entry.path().extension() != ".json") continue;
    absl::StatusOr<Struct> dashboard = ParseJsonObject(ReadFile(entry.path().string()));
    ASSERT_TRUE(dashboard.ok()) << entry.path() << ": " << dashboard.status();
    CollectQueries(entry.path().filename().string(), ListField(*dashboard, "panels"), pending);
    ++dashboards;
  }
  ASSERT_EQ(dashboards, 2) << "expected hermes-user.json and hermes-order.json";
  ASSERT_GE(pending.size(), 2u * 10) << "the dashboards have hardly any queries";
  for (const DashboardQuery& query : pending) {
    ASSERT_EQ(query.expr.find('$'), std::string::npos)
        << query.where << " uses a variable this test does not resolve: " << query.expr;
  }
  DriveTrafficOnce();

  // A query that errors fails at once; one without data is retried until rate() has the two
  // scrapes it needs, or the deadline.
  const absl::Time deadline = absl::Now() + kObserveTimeout;
  while (!pending.empty() && absl::Now() < deadline) {
    std::erase_if(pending, [](const DashboardQuery& query) {
      absl::StatusOr<ListValue> result = prometheus().Query(query.expr);
      if (!result.ok()) {
        ADD_FAILURE() << query.where << ": " << query.expr << "\n  fails: " << result.status();
        return true;
      }
      return result->values_size() > 0;
    });
    if (!pending.empty()) absl::SleepFor(kPollPause);
  }
  for (const DashboardQuery& query : pending) {
    ADD_FAILURE() << query.where << ": " << query.expr << "\n  returned no data within "
                  << kObserveTimeout;
  }
}

TEST_F(StackTest, Stack_RenderedPrometheusConfigPassesPromtool) {
  const CommandResult checked = RunCommand(
      {HERMES_PROMTOOL, "check", "config", absl::StrCat(stack_->state_dir(), "/prometheus.yml")},
      kToolTimeout);
  EXPECT_TRUE(checked.Succeeded()) << checked.output;
}

// Without the stack: the files themselves.
TEST(DeployFilesTest, Promtool_ShippedConfigsPassCheckConfig) {
  const CommandResult checked =
      RunIn(RepoPath("deploy/prometheus"),
            {HERMES_PROMTOOL, "check", "config", "prometheus-local.yml", "prometheus-compose.yml"});
  EXPECT_TRUE(checked.Succeeded()) << checked.output;
}

TEST(DeployFilesTest, Promtool_AlertRulesPassCheckRules) {
  const CommandResult checked =
      RunIn(RepoPath("deploy/prometheus"), {HERMES_PROMTOOL, "check", "rules", "alerts.yml"});
  EXPECT_TRUE(checked.Succeeded()) << checked.output;
}

TEST(DeployFilesTest, Promtool_AlertRuleTestsPass) {
  const CommandResult tested =
      RunIn(RepoPath("deploy/prometheus"), {HERMES_PROMTOOL, "test", "rules", "alerts_test.yml"});
  EXPECT_TRUE(tested.Succeeded()) << tested.output;
}

TEST(DeployFilesTest, Compose_EveryFlagAndVariableIsInTheBinarysHelp) {
  // YAML to JSON with the npm `yaml` package (make deps); merge: resolves `<<: *hermes`.
  const std::string script = absl::StrCat(
      "const Y = require(process.argv[1] + '/node_modules/yaml');"
      "const text = require('fs').readFileSync(process.argv[1] + '/deploy/docker-compose.yml', "
      "'utf8');"
      "process.stdout.write(JSON.stringify(Y.parse(text, {merge: true})));");
  const CommandResult converted =
      RunCommand({HERMES_NODE, "-e", script, HERMES_REPO}, kToolTimeout);
  ASSERT_TRUE(converted.Succeeded()) << converted.output;
  absl::StatusOr<Struct> compose = ParseJsonObject(converted.output);
  ASSERT_TRUE(compose.ok()) << compose.status();

  const std::map<std::string, std::string> binaries = {{"hermes-user", HERMES_USER_BIN},
                                                       {"hermes-order", HERMES_ORDER_BIN},
                                                       {"hermes-health-probe", HERMES_PROBE_BIN}};
  std::set<std::string> programs;
  for (const auto& [program, path] : binaries) programs.insert(program);
  const std::vector<ComposeInvocation> invocations = FindInvocations(*compose, programs);

  std::set<std::string> seen;
  std::map<std::string, std::string> help;  // program -> its --help
  for (const ComposeInvocation& invocation : invocations) {
    seen.insert(invocation.where);
    if (!help.contains(invocation.program)) {
      const CommandResult shown =
          RunCommand({binaries.at(invocation.program), "--help"}, kToolTimeout);
      ASSERT_TRUE(shown.status.has_value() && !shown.output.empty())
          << invocation.program << " --help: " << shown.output;
      help[invocation.program] = shown.output;
    }
    for (const std::string& problem : UndocumentedSettings(invocation, help[invocation.program])) {
      ADD_FAILURE() << problem << " (" << binaries.at(invocation.program) << ")";
    }
  }
  // So that a renamed service or program cannot make this pass by finding nothing.
  for (const char* where : {"services.user.command", "services.order.command",
                            "services.user.healthcheck.test", "services.order.healthcheck.test"}) {
    EXPECT_TRUE(seen.contains(where)) << "deploy/docker-compose.yml has no Hermes " << where
                                      << "; found: " << absl::StrJoin(seen, ", ");
  }
}

}  // namespace
}  // namespace hermes::testing
