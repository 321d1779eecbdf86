#include "libs/errors/utf8.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hermes::errors {
namespace {

using namespace std::string_literals;  // "\0"s keeps the NUL

TEST(Utf8Test, Empty_IsValidWithNoCodePoints) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_EQ(CodePointCount(""), 0u);
}

TEST(Utf8Test, Ascii_CountsOnePerByte) {
  EXPECT_TRUE(IsValidUtf8("Ada Lovelace"));
  EXPECT_EQ(CodePointCount("Ada Lovelace"), 12u);
  EXPECT_EQ(CodePointCount("a\0b"s), 3u);  // NUL is a code point, not a terminator
  EXPECT_EQ(CodePointCount("\x7F"), 1u);
}

TEST(Utf8Test, MultiByte_CountsOnePerCodePoint) {
  EXPECT_EQ(CodePointCount("\xC3\xA9"), 1u);                     // é, 2 bytes
  EXPECT_EQ(CodePointCount("\xE6\x97\xA5\xE6\x9C\xAC"), 2u);     // 日本, 3 bytes each
  EXPECT_EQ(CodePointCount("\xF0\x9F\x98\x80"), 1u);             // 😀, 4 bytes
  EXPECT_EQ(CodePointCount("Ren\xC3\xA9\xF0\x9F\x98\x80"), 5u);  // mixed
}

TEST(Utf8Test, BoundariesOfEachLength_AreValid) {
  EXPECT_EQ(CodePointCount("\xC2\x80"), 1u);          // U+0080, smallest 2-byte
  EXPECT_EQ(CodePointCount("\xDF\xBF"), 1u);          // U+07FF
  EXPECT_EQ(CodePointCount("\xE0\xA0\x80"), 1u);      // U+0800, smallest 3-byte
  EXPECT_EQ(CodePointCount("\xED\x9F\xBF"), 1u);      // U+D7FF, just below the surrogates
  EXPECT_EQ(CodePointCount("\xEE\x80\x80"), 1u);      // U+E000, just above them
  EXPECT_EQ(CodePointCount("\xEF\xBF\xBF"), 1u);      // U+FFFF
  EXPECT_EQ(CodePointCount("\xF0\x90\x80\x80"), 1u);  // U+10000, smallest 4-byte
  EXPECT_EQ(CodePointCount("\xF4\x8F\xBF\xBF"), 1u);  // U+10FFFF, the last code point
}

TEST(Utf8Test, CodePoints_DecodesEachLength_NulloptWhenInvalid) {
  EXPECT_EQ(CodePoints("a\0"s), (std::vector<char32_t>{U'a', 0}));
  EXPECT_EQ(CodePoints("\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"),
            (std::vector<char32_t>{0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF}));
  EXPECT_EQ(CodePoints("Ren\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80"),
            (std::vector<char32_t>{U'R', U'e', U'n', 0xE9, 0x65E5, 0x1F600}));
  EXPECT_EQ(CodePoints(""), std::vector<char32_t>{});
  EXPECT_EQ(CodePoints("ok \xC3"), std::nullopt);       // truncated
  EXPECT_EQ(CodePoints("\xED\xA0\x80"), std::nullopt);  // a surrogate
}

TEST(Utf8Test, OverlongEncodings_AreInvalid) {
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // '/' in 2 bytes
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));          // U+007F in 2 bytes
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // NUL in 2 bytes ("modified UTF-8")
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // '/' in 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xE0\x9F\xBF"));      // U+07FF in 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\xAF"));  // '/' in 4 bytes
  EXPECT_FALSE(IsValidUtf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in 4 bytes
  EXPECT_EQ(CodePointCount("ok\xC0\xAF"), std::nullopt);
}

TEST(Utf8Test, Surrogates_AreInvalid) {
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));              // U+D800
  EXPECT_FALSE(IsValidUtf8("\xED\xBF\xBF"));              // U+DFFF
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\xBD\xED\xB8\x80"));  // CESU-8 pair for 😀
  EXPECT_EQ(CodePointCount("\xED\xB0\x80"), std::nullopt);
}

TEST(Utf8Test, AboveU10FFFF_IsInvalid) {
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));  // lead bytes F5..FF never occur
  EXPECT_FALSE(IsValidUtf8("\xF7\xBF\xBF\xBF"));
  EXPECT_FALSE(IsValidUtf8("\xF8\x88\x80\x80\x80"));  // old 5-byte form
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_EQ(CodePointCount("\xF4\x90\x80\x80"), std::nullopt);
}

TEST(Utf8Test, TruncatedSequences_AreInvalid) {
  EXPECT_FALSE(IsValidUtf8("\xC3"));          // é without its second byte
  EXPECT_FALSE(IsValidUtf8("\xE6\x97"));      // 日 without its last byte
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));  // 😀 without its last byte
  EXPECT_FALSE(IsValidUtf8("abc\xF0"));       // cut at the end of a buffer
  EXPECT_FALSE(
      IsValidUtf8("\xE6\x97"
                  "a"));  // interrupted by ASCII
  EXPECT_EQ(CodePointCount("\xC3"
                           "a"),
            std::nullopt);
}

TEST(Utf8Test, StrayContinuationBytes_AreInvalid) {
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(
      IsValidUtf8("a\xBF"
                  "b"));
  EXPECT_FALSE(IsValidUtf8("\xC3\xA9\xA9"));  // é plus one continuation too many
}

TEST(Utf8Test, ToValidUtf8_ValidText_IsUnchanged) {
  EXPECT_EQ(ToValidUtf8(""), "");
  EXPECT_EQ(ToValidUtf8("Ren\xC3\xA9 \xF0\x9F\x98\x80"), "Ren\xC3\xA9 \xF0\x9F\x98\x80");
}

TEST(Utf8Test, ToValidUtf8_ReplacesEachMaximalInvalidSubpart) {
  constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";
  // A truncated sequence is one subpart: one replacement, and the next byte is kept.
  EXPECT_EQ(ToValidUtf8("a\xF0\x9F\x98"
                        "b"),
            absl::StrCat("a", kReplacement, "b"));
  // Bytes that can never start or continue a sequence are replaced one by one.
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), absl::StrCat(kReplacement, kReplacement));
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), absl::StrCat(kReplacement, kReplacement, kReplacement));
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8("\xFF\xFE\x80\xC3")));
}

}  // namespace
}  // namespace hermes::errors
