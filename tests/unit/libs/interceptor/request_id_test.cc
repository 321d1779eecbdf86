#include "libs/interceptor/request_id.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/container/flat_hash_set.h"

namespace hermes::interceptor {
namespace {

constexpr int kIds = 2000;

TEST(NewRequestIdTest, IsAUuidV4InCanonicalForm) {
  for (int n = 0; n < 100; ++n) {
    const std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 36u) << id;
    for (size_t i = 0; i < id.size(); ++i) {
      if (i == 8 || i == 13 || i == 18 || i == 23) {
        EXPECT_EQ(id[i], '-') << id;
      } else {
        EXPECT_TRUE((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')) << id;
      }
    }
    EXPECT_EQ(id[14], '4') << id;                                          // version 4
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;  // RFC 4122 variant
    EXPECT_TRUE(IsValidRequestId(id));
  }
}

TEST(NewRequestIdTest, IdsAreUniqueAndEveryRandomDigitVaries) {
  absl::flat_hash_set<std::string> seen;
  std::string first = NewRequestId();
  std::string varies(first.size(), '.');  // 'x' where some id differs from the first
  for (int n = 0; n < kIds; ++n) {
    const std::string id = NewRequestId();
    EXPECT_TRUE(seen.insert(id).second) << "duplicate " << id;
    for (size_t i = 0; i < id.size(); ++i) {
      if (id[i] != first[i]) varies[i] = 'x';
    }
  }
  // Every digit but the version digit comes from the generator (the variant digit takes 4
  // values): a byte left constant would show here as a '.'.
  EXPECT_EQ(varies, "xxxxxxxx.xxxx..xxx.xxxx.xxxxxxxxxxxx");
}

TEST(IsValidRequestIdTest, VisibleAsciiUpTo128) {
  EXPECT_TRUE(IsValidRequestId("a"));
  EXPECT_TRUE(IsValidRequestId(std::string(128, '~')));
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId(std::string(129, 'a')));
  EXPECT_FALSE(IsValidRequestId("has space"));
  EXPECT_FALSE(IsValidRequestId("tab\t"));
  EXPECT_FALSE(IsValidRequestId("caf\xc3\xa9"));
}

}  // namespace
}  // namespace hermes::interceptor
