#include "services/user/user_validation.h"

#include <gtest/gtest.h>

#include "tests/unit/services/invalid_argument.h"

namespace hermes::user {
namespace {

using ::hermes::testing::ExpectInvalid;
using ::hermes::testing::Repeat;

::user::v1::CreateUserRequest Create(std::string email, std::string name) {
  ::user::v1::CreateUserRequest request;
  request.set_email(std::move(email));
  request.set_display_name(std::move(name));
  return request;
}

TEST(NormalizeEmailTest, ValidAddresses_AreLowerCased) {
  EXPECT_EQ(*NormalizeEmail("Ada.Lovelace@Example.COM"), "ada.lovelace@example.com");
  EXPECT_EQ(*NormalizeEmail("o'brien+tag@mail.example.org"), "o'brien+tag@mail.example.org");
}

TEST(NormalizeEmailTest, MalformedAddresses_AreInvalidArgumentOnEmail) {
  for (const char* bad : {"", "plain", "@example.com", "ada@", "ada@example", "ada@@example.com",
                          "ada..l@x.com", ".ada@x.com", "ada.@x.com", "ada@-x.com", "ada@x-.com",
                          "ada@x..com", "a da@x.com", "ada@exa mple.com", "ada@example.com\n"}) {
    ExpectInvalid(NormalizeEmail(bad).status(), "email");
  }
  ExpectInvalid(NormalizeEmail(Repeat("a", 65) + "@x.com").status(), "email");
  ExpectInvalid(NormalizeEmail("a@" + Repeat("b", 250) + ".com").status(), "email");
}

TEST(ValidateDisplayNameTest, LengthCountsCodePointsNotBytes) {
  EXPECT_TRUE(ValidateDisplayName("A").ok());
  EXPECT_TRUE(ValidateDisplayName(Repeat("日", 100)).ok());  // 300 bytes
  ExpectInvalid(ValidateDisplayName(Repeat("é", 101)), "display_name");
  ExpectInvalid(ValidateDisplayName(""), "display_name");
}

TEST(ValidateDisplayNameTest, InvalidUtf8ControlsAndBlank_AreRejected) {
  ExpectInvalid(ValidateDisplayName("bad \xC3"), "display_name");
  ExpectInvalid(ValidateDisplayName("line\nbreak"), "display_name");
  ExpectInvalid(ValidateDisplayName("   "), "display_name");
}

// Control characters and blankness by Unicode, not only ASCII: a C1 control (NEL, U+0085) is a
// control character, and a name of no-break and ideographic spaces is blank. Letters beyond
// ASCII, and spaces between words, are fine.
TEST(ValidateDisplayNameTest, NonAsciiControlsAndBlankNames_AreRejected) {
  ExpectInvalid(ValidateDisplayName("\u0085"), "display_name");
  ExpectInvalid(ValidateDisplayName("Ada\u009bLovelace"), "display_name");
  ExpectInvalid(ValidateDisplayName("Ada\x7f"), "display_name");
  ExpectInvalid(ValidateDisplayName("\u00a0\u3000"), "display_name");
  ExpectInvalid(ValidateDisplayName("\u2003 \u202f"), "display_name");
  EXPECT_TRUE(ValidateDisplayName("Ada\u00a0Lovelace").ok());
  EXPECT_TRUE(ValidateDisplayName("\u00c9mile \u5c71\u7530 \U0001f600").ok());
  EXPECT_TRUE(ValidateDisplayName("\u00a0A").ok());
}

TEST(ValidateCreateTest, ReturnsNormalisedUser) {
  absl::StatusOr<NewUser> user = ValidateCreate(Create("ADA@example.com", "Ada"));
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->email, "ada@example.com");
  EXPECT_EQ(user->display_name, "Ada");
  ExpectInvalid(ValidateCreate(Create("ada@example.com", "")).status(), "display_name");
}

TEST(ValidateUpdateTest, UnsetFieldsStayUnset_UnknownStatusIsRejected) {
  ::user::v1::UpdateUserRequest request;
  request.set_id("u1");
  absl::StatusOr<UserUpdate> update = ValidateUpdate(request);
  ASSERT_TRUE(update.ok());
  EXPECT_FALSE(update->display_name.has_value());
  EXPECT_FALSE(update->status.has_value());
  EXPECT_EQ(update->expected_etag, "");

  request.set_status(::user::v1::USER_STATUS_BANNED);
  request.set_display_name("New");
  request.set_etag("e1");
  update = ValidateUpdate(request);
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(update->status, UserStatus::kBanned);
  EXPECT_EQ(update->display_name, "New");
  EXPECT_EQ(update->expected_etag, "e1");

  request.set_status(static_cast<::user::v1::UserStatus>(42));
  ExpectInvalid(ValidateUpdate(request).status(), "status");
  request.clear_id();
  ExpectInvalid(ValidateUpdate(request).status(), "id");
}

TEST(ValidateListTest, PageAndFilter) {
  ::user::v1::ListUsersRequest request;
  request.mutable_page()->set_page(3);
  request.mutable_page()->set_page_size(500);
  request.set_status_filter(::user::v1::USER_STATUS_INACTIVE);
  api::Page page;
  absl::StatusOr<ListUsersQuery> query = ValidateList(request, &page);
  ASSERT_TRUE(query.ok());
  EXPECT_EQ(query->limit, 100);
  EXPECT_EQ(query->offset, 200);
  EXPECT_EQ(query->status, UserStatus::kInactive);
  request.set_status_filter(static_cast<::user::v1::UserStatus>(9));
  ExpectInvalid(ValidateList(request, &page).status(), "status_filter");
}

}  // namespace
}  // namespace hermes::user
