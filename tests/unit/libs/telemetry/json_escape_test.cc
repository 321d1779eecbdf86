#include "libs/telemetry/json_escape.h"

#include <gtest/gtest.h>

#include <string>

namespace hermes::telemetry {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD

TEST(JsonEscape, PlainAscii_IsUnchanged) {
  EXPECT_EQ(JsonEscape("rpc finished: /user.v1.UserService/GetUser"),
            "rpc finished: /user.v1.UserService/GetUser");
  EXPECT_EQ(JsonEscape(""), "");
}

TEST(JsonEscape, QuotesAndBackslashes_AreBackslashEscaped) {
  EXPECT_EQ(JsonEscape(R"(say "hi" to C:\temp)"), R"(say \"hi\" to C:\\temp)");
}

TEST(JsonEscape, ControlCharacters_AreWrittenAsUnicodeEscapes) {
  EXPECT_EQ(JsonEscape("a\nb\tc\rd"), R"(a\u000ab\u0009c\u000dd)");
  EXPECT_EQ(JsonEscape(std::string("\x00\x01\x1f", 3)), R"(\u0000\u0001\u001f)");
  EXPECT_EQ(JsonEscape("\x7f"), "\x7f");  // DEL is allowed raw in JSON
}

TEST(JsonEscape, WellFormedMultibyteText_IsCopiedUnchanged) {
  const std::string text =
      "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBF \xF4\x8F\xBF\xBF";
  EXPECT_EQ(JsonEscape(text), text);
}

TEST(JsonEscape, StrayAndInvalidBytes_BecomeOneReplacementEach) {
  EXPECT_EQ(JsonEscape("a\xFF"
                       "b"),
            "a" + kReplacement + "b");
  EXPECT_EQ(JsonEscape("\x80\xBF"), kReplacement + kReplacement);
  EXPECT_EQ(JsonEscape("\xF5\x80"), kReplacement + kReplacement);
}

TEST(JsonEscape, OverlongSurrogateAndOutOfRangeForms_AreReplaced) {
  EXPECT_EQ(JsonEscape("\xC0\xAF"), kReplacement + kReplacement);  // overlong '/'
  EXPECT_EQ(JsonEscape("\xE0\x80\xAF"), kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(JsonEscape("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);  // U+D800
  EXPECT_EQ(JsonEscape("\xF4\x90\x80\x80"),                                           // > U+10FFFF
            kReplacement + kReplacement + kReplacement + kReplacement);
}

TEST(JsonEscape, TruncatedSequence_IsOneReplacementForTheMaximalSubpart) {
  EXPECT_EQ(JsonEscape("\xE2\x82"), kReplacement);         // € cut at the end
  EXPECT_EQ(JsonEscape("\xE2\x82x"), kReplacement + "x");  // € cut before ASCII
  EXPECT_EQ(JsonEscape("\xF0\x9F\x98"
                       "\""),
            kReplacement + "\\\"");
}

// Runs are scanned eight bytes at a time: every byte value must be found wherever it sits in a
// block, and in the tail after the last whole block.
TEST(JsonEscape, EveryByteValue_AtEveryPositionOfABlock_IsEscapedAsAlone) {
  const std::string padding(16, 'a');
  for (int value = 0; value < 256; ++value) {
    const std::string byte(1, static_cast<char>(value));
    const std::string alone = JsonEscape(byte);
    for (size_t before = 0; before <= 9; ++before) {
      const std::string text = padding.substr(0, before) + byte + padding.substr(0, 9);
      EXPECT_EQ(JsonEscape(text), padding.substr(0, before) + alone + padding.substr(0, 9))
          << "byte " << value << " after " << before;
    }
  }
  EXPECT_EQ(JsonEscape(std::string(40, 'x') + "\"" + std::string(7, 'y') + "\n"),
            std::string(40, 'x') + R"(\")" + std::string(7, 'y') + R"(\u000a)");
}

TEST(AppendJsonEscaped, AppendsToExistingText) {
  std::string out = "\"k\":\"";
  AppendJsonEscaped("v\"", &out);
  EXPECT_EQ(out, R"("k":"v\")");
}

}  // namespace
}  // namespace hermes::telemetry
