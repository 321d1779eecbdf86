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

TEST(Placeholders, AreCountedReplacedSplitAndFilled) {
  const std::string text = R"({"email":"u{{n}}@x","name":"U {{n}}","order_id":"{{value}}"})";
  EXPECT_EQ(CountPlaceholders(text), 3u);
  EXPECT_EQ(ReplacePlaceholders(text, "42", "o-7"),
            R"({"email":"u42@x","name":"U 42","order_id":"o-7"})");
  const TextPieces pieces = SplitAtPlaceholders(text, kCounterPlaceholder, kValuePlaceholder);
  EXPECT_THAT(pieces.holes,
              ElementsAre(Placeholder::kCounter, Placeholder::kCounter, Placeholder::kValue));
  ASSERT_EQ(pieces.literals.size(), 4u);
  std::string joined;
  AppendFilled(pieces, 18446744073709551615u, "o-9", &joined);
  EXPECT_EQ(
      joined,
      R"({"email":"u18446744073709551615@x","name":"U 18446744073709551615","order_id":"o-9"})");
}

TEST(Placeholders, AtTheEdgesAndSideBySide_LeaveEmptyLiterals) {
  const TextPieces pieces = SplitAtPlaceholders("{{value}}{{n}}", "{{n}}", "{{value}}");
  EXPECT_THAT(pieces.holes, ElementsAre(Placeholder::kValue, Placeholder::kCounter));
  EXPECT_THAT(pieces.literals, ElementsAre("", "", ""));
  std::string joined;
  AppendFilled(pieces, 5, "v", &joined);
  EXPECT_EQ(joined, "v5");
  // Neither placeholder: one literal, nothing to fill.
  EXPECT_THAT(SplitAtPlaceholders("{{m}} {{values}}", "{{n}}", "{{value}}").literals,
              ElementsAre("{{m}} {{values}}"));
  EXPECT_EQ(CountPlaceholders("{{m}} {{values}}"), 0u);
}

TEST(SplitJsonBody, ValuePlaceholderOutsideAString_IsOneToken) {
  absl::StatusOr<JsonBody> body = SplitJsonBody(R"([{"q":{{value}}},{"q":1}])");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(body->messages, ElementsAre(R"({"q":{{value}}})", R"({"q":1})"));
}

TEST(ParseValues, OneALine_LastNewlineAndCarriageReturnsOptional) {
  EXPECT_THAT(*ParseValues("a\nb c\n"), ElementsAre("a", "b c"));
  EXPECT_THAT(*ParseValues("a\r\nb\r\n"), ElementsAre("a", "b"));
  EXPECT_THAT(*ParseValues("only"), ElementsAre("only"));
}

TEST(ParseValues, WhatCannotGoIntoJsonAsItIs_IsAnErrorNamingTheLine) {
  EXPECT_THAT(ParseValues("").status().message(), HasSubstr("no value"));
  EXPECT_THAT(ParseValues("\n").status().message(), HasSubstr("no value"));
  EXPECT_THAT(ParseValues("a\n\nb").status().message(), HasSubstr("line 2 is empty"));
  EXPECT_THAT(ParseValues("a\nb\"c").status().message(), HasSubstr("line 2 holds"));
  EXPECT_THAT(ParseValues("a\\b").status().message(), HasSubstr("line 1 holds"));
  EXPECT_THAT(ParseValues("a\tb").status().message(), HasSubstr("line 1 holds"));
  EXPECT_THAT(ParseValues("ok\n\xc3(").status().message(), HasSubstr("line 2 is not valid UTF-8"));
  EXPECT_THAT(*ParseValues("caf\xc3\xa9"), ElementsAre("caf\xc3\xa9"));
}

}  // namespace
}  // namespace hermes::load
