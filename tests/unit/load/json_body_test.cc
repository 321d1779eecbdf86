#include "tests/load/json_body.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hermes::load {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SplitJsonBody, Object_IsOneMessage) {
  absl::StatusOr<JsonBody> body = SplitJsonBody(R"(  {"id": "a"} )");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_FALSE(body->is_array);
  EXPECT_THAT(body->messages, ElementsAre(R"({"id": "a"})"));
}

TEST(SplitJsonBody, Array_SplitsTopLevelElementsOnly) {
  absl::StatusOr<JsonBody> body = SplitJsonBody(
      R"([{"order_id":"a,b","items":[{"q":1},{"q":2}]}, {"note":"]} \" ,"} ,{"n":{{n}}}])");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_TRUE(body->is_array);
  EXPECT_THAT(body->messages, ElementsAre(R"({"order_id":"a,b","items":[{"q":1},{"q":2}]})",
                                          R"({"note":"]} \" ,"})", R"({"n":{{n}}})"));
}

TEST(SplitJsonBody, EmptyArray_IsAStreamOfNoMessages) {
  absl::StatusOr<JsonBody> body = SplitJsonBody(" [ ] ");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_TRUE(body->is_array);
  EXPECT_TRUE(body->messages.empty());
}

TEST(SplitJsonBody, BrokenArrays_AreErrorsThatSayWhy) {
  EXPECT_THAT(SplitJsonBody(R"([{"a":1})").status().message(), HasSubstr("not terminated"));
  EXPECT_THAT(SplitJsonBody(R"([{"a":"1}])").status().message(), HasSubstr("string"));
  EXPECT_THAT(SplitJsonBody(R"([{"a":1}] x)").status().message(), HasSubstr("after the closing"));
  EXPECT_THAT(SplitJsonBody(R"([{"a":1},,{}])").status().message(), HasSubstr("empty element"));
}

TEST(CounterPlaceholder, IsCountedReplacedAndSplit) {
  const std::string text = R"({"email":"u{{n}}@x","name":"U {{n}}"})";
  EXPECT_EQ(CountCounterPlaceholders(text), 2u);
  EXPECT_EQ(ReplaceCounter(text, "42"), R"({"email":"u42@x","name":"U 42"})");
  const std::vector<std::string> parts = SplitAtCounter(text, kCounterPlaceholder);
  ASSERT_EQ(parts.size(), 3u);
  std::string joined;
  AppendWithCounter(parts, 18446744073709551615u, &joined);
  EXPECT_EQ(joined, R"({"email":"u18446744073709551615@x","name":"U 18446744073709551615"})");
}

}  // namespace
}  // namespace hermes::load
