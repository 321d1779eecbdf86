#include "libs/runtime/config_reloads.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <optional>
#include <string>

#include "absl/time/clock.h"

namespace hermes::runtime {
namespace {

// The value of gauge `name` with config="tls" in `registry`, if it is there.
std::optional<double> Gauge(prometheus::Registry& registry, const std::string& name) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name == "config" && label.value == "tls") return metric.gauge.value;
      }
    }
  }
  return std::nullopt;
}

double Now() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

class ConfigReloadsTest : public ::testing::Test {
 protected:
  double successful() {
    return Gauge(registry_, "hermes_config_last_reload_successful").value_or(-1);
  }
  double success_time() {
    return Gauge(registry_, "hermes_config_last_reload_success_timestamp_seconds").value_or(-1);
  }

  prometheus::Registry registry_;
  ConfigReloads reloads_{registry_, {.config = "tls", .kept = "the old files", .path = "/x.pem"}};
};

TEST_F(ConfigReloadsTest, BeforeTheFirstLoad_ReadsZero) {
  EXPECT_EQ(successful(), 0);
  EXPECT_EQ(success_time(), 0);
}

TEST_F(ConfigReloadsTest, Loaded_IsSuccessfulNow) {
  const double before = Now();
  reloads_.Loaded();
  EXPECT_EQ(successful(), 1);
  EXPECT_GE(success_time(), before);
  EXPECT_LE(success_time(), Now());
}

TEST_F(ConfigReloadsTest, RejectedChange_ReadsZero_KeepsTheLastSuccessTime_UntilAGoodOne) {
  reloads_.Loaded();
  const double loaded_at = success_time();
  reloads_.Report(absl::InvalidArgumentError("--tls_key=/k.pem: does not match"));
  EXPECT_EQ(successful(), 0);
  EXPECT_EQ(success_time(), loaded_at);

  reloads_.Report(absl::OkStatus());
  EXPECT_EQ(successful(), 1);
  EXPECT_GE(success_time(), loaded_at);
}

}  // namespace
}  // namespace hermes::runtime
