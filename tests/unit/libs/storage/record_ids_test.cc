#include "libs/storage/record_ids.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace hermes::storage {
namespace {

bool IsBase32(const std::string& text) {
  return text.find_first_not_of("0123456789abcdefghjkmnpqrstvwxyz") == std::string::npos;
}

TEST(Base32Test, KnownValues) {
  EXPECT_EQ(Base32(""), "");
  EXPECT_EQ(Base32(std::string(1, '\0')), "00");
  EXPECT_EQ(Base32("\xff"), "7z");  // 2 padding bits + 8 ones: 00111 11111
  EXPECT_EQ(Base32(std::string(16, '\xff')), "7zzzzzzzzzzzzzzzzzzzzzzzzz");  // ULID max
  EXPECT_EQ(Base32(std::string(8, '\0')).size(), 13u);
}

TEST(Base32Test, PreservesByteOrder) {
  EXPECT_LT(Base32(std::string("\x01\x00", 2)), Base32(std::string("\x01\x01", 2)));
  EXPECT_LT(Base32(std::string("\x7f\xff", 2)), Base32(std::string("\x80\x00", 2)));
}

TEST(NewRecordIdTest, LooksLikeALowerCaseUlid) {
  absl::StatusOr<std::string> id = NewRecordId(absl::FromUnixMillis(1700000000000));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->size(), 26u);
  EXPECT_TRUE(IsBase32(*id)) << *id;
  // 1700000000000 ms = 0x018BCFE56800, the first 10 characters of its ULID.
  EXPECT_EQ(id->substr(0, 10), "01hf7yat00");
}

TEST(NewRecordIdTest, LaterMillisecond_SortsAfter) {
  const absl::Time now = absl::FromUnixMillis(1700000000000);
  for (int i = 0; i < 100; ++i) {
    EXPECT_LT(*NewRecordId(now), *NewRecordId(now + absl::Milliseconds(1)));
  }
}

TEST(NewRecordIdTest, SameMillisecond_Unique) {
  const absl::Time now = absl::Now();
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(*NewRecordId(now));
  EXPECT_EQ(ids.size(), 10000u);
}

TEST(NewRandomTokenTest, LengthAlphabetAndUniqueness) {
  std::set<std::string> tokens;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<std::string> token = NewRandomToken(8);
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(token->size(), 13u);
    EXPECT_TRUE(IsBase32(*token));
    tokens.insert(*token);
  }
  EXPECT_EQ(tokens.size(), 1000u);
}

}  // namespace
}  // namespace hermes::storage
