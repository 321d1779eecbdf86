// user.v1.UserService's rules as API.md states them, against the real hermes-user binary over
// mTLS: every error with its gRPC code and its AppError code and field, partial updates and
// etags, pagination, the authorization policy for front-end clients, and WatchUsers' live,
// filtered and resumed streams. Each test runs its own server on its own data directory.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/api/timestamps.h"
#include "tests/integration/user_service_harness.h"
#include "tests/support/http.h"

namespace hermes::testing::user_service {
namespace {

using ::common::v1::ERROR_CODE_ABORTED;
using ::common::v1::ERROR_CODE_ALREADY_EXISTS;
using ::common::v1::ERROR_CODE_INVALID_ARGUMENT;
using ::common::v1::ERROR_CODE_NOT_FOUND;
using ::common::v1::ERROR_CODE_PERMISSION_DENIED;
using ::common::v1::ERROR_CODE_UNSPECIFIED;
using ::user::v1::ListUsersRequest;
using ::user::v1::ListUsersResponse;
using ::user::v1::UpdateUserRequest;

std::string Repeat(const std::string& piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

ListUsersRequest ListPage(int page, int page_size,
                          ::user::v1::UserStatus filter = ::user::v1::USER_STATUS_UNSPECIFIED) {
  ListUsersRequest request;
  request.mutable_page()->set_page(page);
  request.mutable_page()->set_page_size(page_size);
  request.set_status_filter(filter);
  return request;
}

UpdateUserRequest Update(const std::string& id, const std::string& etag = "") {
  UpdateUserRequest request;
  request.set_id(id);
  request.set_etag(etag);
  return request;
}

using UserServiceRulesTest = UserServiceTest;

// --- CreateUser -------------------------------------------------------------------------------

TEST_F(UserServiceRulesTest, CreateUser_Valid_ActiveWithLowerCasedEmailIdEtagAndTimestamps) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  const absl::Time before = absl::Now();
  User user;
  ASSERT_TRUE(IsOk(admin.Create("Ada.Lovelace@Example.COM", "Ada Lovelace", &user)));
  const absl::Time after = absl::Now();

  EXPECT_EQ(user.email(), "ada.lovelace@example.com");
  EXPECT_EQ(user.display_name(), "Ada Lovelace");
  EXPECT_EQ(user.status(), ::user::v1::USER_STATUS_ACTIVE);
  EXPECT_FALSE(user.id().empty());
  EXPECT_TRUE(std::all_of(user.id().begin(), user.id().end(),
                          [](char c) {
                            return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                                   c == '_';
                          }))
      << "id is not URL-safe: " << user.id();
  EXPECT_FALSE(user.etag().empty());
  ASSERT_TRUE(user.has_created_at());
  ASSERT_TRUE(user.has_updated_at());
  // The service's clock and ours are the same machine's; a second of slack for rounding.
  const absl::Time created = api::FromTimestamp(user.created_at());
  EXPECT_GE(created, before - absl::Seconds(1));
  EXPECT_LE(created, after + absl::Seconds(1));
  EXPECT_GE(api::FromTimestamp(user.updated_at()), created);

  User fetched;
  ASSERT_TRUE(IsOk(admin.Get(user.id(), &fetched)));
  EXPECT_EQ(fetched.SerializeAsString(), user.SerializeAsString())
      << fetched.ShortDebugString() << "\nvs\n"
      << user.ShortDebugString();
}

TEST_F(UserServiceRulesTest, CreateUser_BadEmail_InvalidArgumentWithFieldEmail) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  const std::vector<std::string> bad_emails = {"",
                                               "not-an-email",
                                               "@example.com",
                                               "ada@",
                                               "ada@.com",
                                               "ada..b@example.com",
                                               "ada@exa mple.com",
                                               "ada@-example.com",
                                               "ada@@x.com",
                                               absl::StrCat(Repeat("a", 65), "@example.com")};
  for (const std::string& email : bad_emails) {
    SCOPED_TRACE("email: \"" + email + "\"");
    EXPECT_TRUE(IsAppError(admin.Create(email, "Ada"), grpc::StatusCode::INVALID_ARGUMENT,
                           ERROR_CODE_INVALID_ARGUMENT, "email"));
  }
  ListUsersResponse list;
  ASSERT_TRUE(IsOk(admin.List(ListPage(1, 100), &list)));
  EXPECT_EQ(list.page().total(), 0) << "a rejected create must create nothing";
}

TEST_F(UserServiceRulesTest, CreateUser_DuplicateEmailOtherCase_AlreadyExistsWithFieldEmail) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  ASSERT_TRUE(IsOk(admin.Create("Grace@Example.com", "Grace")));
  EXPECT_TRUE(IsAppError(admin.Create("gRACE@example.COM", "Another Grace"),
                         grpc::StatusCode::ALREADY_EXISTS, ERROR_CODE_ALREADY_EXISTS, "email"));
  EXPECT_TRUE(IsAppError(admin.Create("grace@example.com", "Grace"),
                         grpc::StatusCode::ALREADY_EXISTS, ERROR_CODE_ALREADY_EXISTS, "email"));
  ListUsersResponse list;
  ASSERT_TRUE(IsOk(admin.List(ListPage(1, 100), &list)));
  EXPECT_EQ(list.page().total(), 1);
}

TEST_F(UserServiceRulesTest, CreateUser_DisplayNameEmptyOrOver100CodePoints_InvalidArgument) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  for (const std::string& name :
       {std::string(), Repeat("a", 101), Repeat("é", 101), Repeat("日", 101), Repeat("😀", 101)}) {
    SCOPED_TRACE("display_name of " + std::to_string(name.size()) + " bytes");
    EXPECT_TRUE(IsAppError(admin.Create("someone@example.com", name),
                           grpc::StatusCode::INVALID_ARGUMENT, ERROR_CODE_INVALID_ARGUMENT,
                           "display_name"));
  }
}

TEST_F(UserServiceRulesTest, CreateUser_DisplayName100MultiByteCodePoints_Accepted) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  int n = 0;
  // 100 code points of 1, 2, 3 and 4 bytes: lengths count code points, not bytes.
  for (const std::string& name :
       {Repeat("a", 100), Repeat("é", 100), Repeat("日", 100), Repeat("😀", 100)}) {
    SCOPED_TRACE("display_name of " + std::to_string(name.size()) + " bytes");
    User user;
    EXPECT_TRUE(IsOk(admin.Create(absl::StrCat("name", n++, "@example.com"), name, &user)));
    EXPECT_EQ(user.display_name(), name);
  }
}

// --- GetUser / DeleteUser ---------------------------------------------------------------------

TEST_F(UserServiceRulesTest, GetUser_UnknownId_NotFoundWithFieldId) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  User known;
  ASSERT_TRUE(IsOk(admin.Create("known@example.com", "Known", &known)));
  User found;
  ASSERT_TRUE(IsOk(admin.Get(known.id(), &found)));
  EXPECT_EQ(found.email(), "known@example.com");
  EXPECT_TRUE(IsAppError(admin.Get("01hzzzzzzzzzzzzzzzzzzzzzzz"), grpc::StatusCode::NOT_FOUND,
                         ERROR_CODE_NOT_FOUND, "id"));
  EXPECT_TRUE(IsAppError(admin.Get(Repeat("x", 200)), grpc::StatusCode::NOT_FOUND,
                         ERROR_CODE_NOT_FOUND, "id"));
}

// GetUser parses its own request (it is registered raw), so a request that does not parse is
// API.md's INVALID_ARGUMENT naming the field, and the service goes on serving.
TEST_F(UserServiceRulesTest, GetUser_IdNotValidUtf8_InvalidArgumentNamingTheField) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  User known;
  ASSERT_TRUE(IsOk(admin.Create("utf8@example.com", "Utf8", &known)));
  const grpc::Status status = admin.Get("\xff\xfe");  // the client serializes it regardless
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  const std::optional<::common::v1::AppError> error = errors::AppErrorOf(status);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_EQ(error->field(), "id");
  EXPECT_EQ(status.error_message(), "id is not valid UTF-8");
  EXPECT_TRUE(IsOk(admin.Get(known.id())));
}

TEST_F(UserServiceRulesTest, DeleteUser_ThenGetAndDeleteAgain_NotFoundWithFieldId) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  User user;
  ASSERT_TRUE(IsOk(admin.Create("leaving@example.com", "Leaving", &user)));
  ASSERT_TRUE(IsOk(admin.Delete(user.id())));
  EXPECT_TRUE(
      IsAppError(admin.Get(user.id()), grpc::StatusCode::NOT_FOUND, ERROR_CODE_NOT_FOUND, "id"));
  EXPECT_TRUE(
      IsAppError(admin.Delete(user.id()), grpc::StatusCode::NOT_FOUND, ERROR_CODE_NOT_FOUND, "id"));
  // The email is free again.
  EXPECT_TRUE(IsOk(admin.Create("leaving@example.com", "Back again")));
}

// --- UpdateUser -------------------------------------------------------------------------------

TEST_F(UserServiceRulesTest, UpdateUser_PartialUpdates_KeepUnsetFields_EtagChangesEveryTime) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  User created;
  ASSERT_TRUE(IsOk(admin.Create("partial@example.com", "Before", &created)));
  std::set<std::string> etags = {created.etag()};

  // Status only: the name stays.
  UpdateUserRequest status_only = Update(created.id());
  status_only.set_status(::user::v1::USER_STATUS_INACTIVE);
  User after_status;
  ASSERT_TRUE(IsOk(admin.Update(status_only, &after_status)));
  EXPECT_EQ(after_status.status(), ::user::v1::USER_STATUS_INACTIVE);
  EXPECT_EQ(after_status.display_name(), "Before");
  EXPECT_EQ(after_status.email(), "partial@example.com");
  EXPECT_TRUE(etags.insert(after_status.etag()).second) << "etag did not change";

  // Name only, status UNSPECIFIED: the status stays INACTIVE.
  UpdateUserRequest name_only = Update(created.id());
  name_only.set_display_name("After");
  User after_name;
  ASSERT_TRUE(IsOk(admin.Update(name_only, &after_name)));
  EXPECT_EQ(after_name.display_name(), "After");
  EXPECT_EQ(after_name.status(), ::user::v1::USER_STATUS_INACTIVE);
  EXPECT_TRUE(etags.insert(after_name.etag()).second) << "etag did not change";

  // Nothing set: still an update, with a new etag.
  User after_nothing;
  ASSERT_TRUE(IsOk(admin.Update(Update(created.id()), &after_nothing)));
  EXPECT_EQ(after_nothing.display_name(), "After");
  EXPECT_EQ(after_nothing.status(), ::user::v1::USER_STATUS_INACTIVE);
  EXPECT_TRUE(etags.insert(after_nothing.etag()).second) << "etag did not change";

  EXPECT_EQ(after_nothing.id(), created.id());
  EXPECT_EQ(api::FromTimestamp(after_nothing.created_at()),
            api::FromTimestamp(created.created_at()));
  EXPECT_GE(api::FromTimestamp(after_nothing.updated_at()),
            api::FromTimestamp(after_name.updated_at()));
  User fetched;
  ASSERT_TRUE(IsOk(admin.Get(created.id(), &fetched)));
  EXPECT_EQ(fetched.SerializeAsString(), after_nothing.SerializeAsString());
}

TEST_F(UserServiceRulesTest, UpdateUser_StaleEtag_AbortedWithFieldEtag_MatchingEtagApplies) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  User v1;
  ASSERT_TRUE(IsOk(admin.Create("etag@example.com", "Version 1", &v1)));
  UpdateUserRequest to_v2 = Update(v1.id(), v1.etag());
  to_v2.set_display_name("Version 2");
  User v2;
  ASSERT_TRUE(IsOk(admin.Update(to_v2, &v2))) << "the matching etag must apply";
  EXPECT_EQ(v2.display_name(), "Version 2");

  UpdateUserRequest stale = Update(v1.id(), v1.etag());
  stale.set_display_name("Lost update");
  EXPECT_TRUE(
      IsAppError(admin.Update(stale), grpc::StatusCode::ABORTED, ERROR_CODE_ABORTED, "etag"));
  User fetched;
  ASSERT_TRUE(IsOk(admin.Get(v1.id(), &fetched)));
  EXPECT_EQ(fetched.display_name(), "Version 2");
  EXPECT_EQ(fetched.etag(), v2.etag()) << "a refused update must not change the etag";

  // An empty etag skips the check.
  UpdateUserRequest unchecked = Update(v1.id());
  unchecked.set_status(::user::v1::USER_STATUS_BANNED);
  User v3;
  ASSERT_TRUE(IsOk(admin.Update(unchecked, &v3)));
  EXPECT_EQ(v3.status(), ::user::v1::USER_STATUS_BANNED);
}

TEST_F(UserServiceRulesTest, UpdateUser_InvalidFieldsOrUnknownId_ErrorNamesTheField) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  User user;
  ASSERT_TRUE(IsOk(admin.Create("fields@example.com", "Fields", &user)));
  UpdateUserRequest empty_name = Update(user.id());
  empty_name.set_display_name("");
  EXPECT_TRUE(IsAppError(admin.Update(empty_name), grpc::StatusCode::INVALID_ARGUMENT,
                         ERROR_CODE_INVALID_ARGUMENT, "display_name"));
  UpdateUserRequest long_name = Update(user.id());
  long_name.set_display_name(Repeat("日", 101));
  EXPECT_TRUE(IsAppError(admin.Update(long_name), grpc::StatusCode::INVALID_ARGUMENT,
                         ERROR_CODE_INVALID_ARGUMENT, "display_name"));
  UpdateUserRequest unknown = Update("01hzzzzzzzzzzzzzzzzzzzzzzz");
  unknown.set_display_name("Nobody");
  EXPECT_TRUE(
      IsAppError(admin.Update(unknown), grpc::StatusCode::NOT_FOUND, ERROR_CODE_NOT_FOUND, "id"));
  User fetched;
  ASSERT_TRUE(IsOk(admin.Get(user.id(), &fetched)));
  EXPECT_EQ(fetched.etag(), user.etag()) << "refused updates must change nothing";
}

// --- ListUsers --------------------------------------------------------------------------------

TEST_F(UserServiceRulesTest, ListUsers_Pages_StableOrderHasNextTotalAndClamping) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  constexpr int kUsers = 25;
  std::vector<User> created(kUsers);
  for (int i = 0; i < kUsers; ++i) {
    ASSERT_TRUE(IsOk(admin.Create(absl::StrCat("page", i, "@example.com"), "Paged", &created[i])));
  }
  // API.md's order: created_at, then id.
  std::vector<User> expected = created;
  std::stable_sort(expected.begin(), expected.end(), [](const User& a, const User& b) {
    const absl::Time ta = api::FromTimestamp(a.created_at());
    const absl::Time tb = api::FromTimestamp(b.created_at());
    return ta != tb ? ta < tb : a.id() < b.id();
  });

  std::vector<std::string> paged;
  for (int page = 1; page <= 4; ++page) {
    SCOPED_TRACE(absl::StrCat("page ", page));
    ListUsersResponse response;
    ASSERT_TRUE(IsOk(admin.List(ListPage(page, 7), &response)));
    EXPECT_EQ(response.users_size(), page < 4 ? 7 : 4);
    EXPECT_EQ(response.page().total(), kUsers);
    EXPECT_EQ(response.page().page(), page);
    EXPECT_EQ(response.page().page_size(), 7);
    EXPECT_EQ(response.page().has_next(), page < 4);
    for (const User& user : response.users()) paged.push_back(user.id());
  }
  std::vector<std::string> expected_ids;
  for (const User& user : expected) expected_ids.push_back(user.id());
  EXPECT_EQ(paged, expected_ids);

  ListUsersResponse beyond;
  ASSERT_TRUE(IsOk(admin.List(ListPage(5, 7), &beyond)));
  EXPECT_EQ(beyond.users_size(), 0);
  EXPECT_EQ(beyond.page().total(), kUsers);
  EXPECT_FALSE(beyond.page().has_next());

  // page 0 means 1, page_size 0 means 20.
  ListUsersResponse defaults;
  ASSERT_TRUE(IsOk(admin.List(ListPage(0, 0), &defaults)));
  EXPECT_EQ(defaults.page().page(), 1);
  EXPECT_EQ(defaults.page().page_size(), 20);
  EXPECT_EQ(defaults.users_size(), 20);
  EXPECT_TRUE(defaults.page().has_next());
  ASSERT_GE(defaults.users_size(), 1);
  EXPECT_EQ(defaults.users(0).id(), expected_ids[0]);

  // Above 100 is clamped to 100.
  ListUsersResponse clamped;
  ASSERT_TRUE(IsOk(admin.List(ListPage(1, 1000), &clamped)));
  EXPECT_EQ(clamped.page().page_size(), 100);
  EXPECT_EQ(clamped.users_size(), kUsers);
  EXPECT_FALSE(clamped.page().has_next());
  ListUsersResponse at_max;
  ASSERT_TRUE(IsOk(admin.List(ListPage(1, 101), &at_max)));
  EXPECT_EQ(at_max.page().page_size(), 100);
}

TEST_F(UserServiceRulesTest, ListUsers_NegativePageOrPageSize_InvalidArgumentNamingTheField) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  ListUsersResponse response;
  EXPECT_TRUE(IsAppError(admin.List(ListPage(-1, 10), &response),
                         grpc::StatusCode::INVALID_ARGUMENT, ERROR_CODE_INVALID_ARGUMENT,
                         "page.page"));
  EXPECT_TRUE(IsAppError(admin.List(ListPage(1, -1), &response), grpc::StatusCode::INVALID_ARGUMENT,
                         ERROR_CODE_INVALID_ARGUMENT, "page.page_size"));
}

TEST_F(UserServiceRulesTest, ListUsers_StatusFilter_ReturnsOnlyThatStatus) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  std::vector<std::string> banned;
  for (int i = 0; i < 6; ++i) {
    User user;
    ASSERT_TRUE(IsOk(admin.Create(absl::StrCat("filter", i, "@example.com"), "Filtered", &user)));
    if (i % 2 == 0) {
      UpdateUserRequest ban = Update(user.id());
      ban.set_status(::user::v1::USER_STATUS_BANNED);
      ASSERT_TRUE(IsOk(admin.Update(ban)));
      banned.push_back(user.id());
    }
  }
  ListUsersResponse only_banned;
  ASSERT_TRUE(IsOk(admin.List(ListPage(1, 100, ::user::v1::USER_STATUS_BANNED), &only_banned)));
  EXPECT_EQ(only_banned.page().total(), 3);
  std::vector<std::string> ids;
  for (const User& user : only_banned.users()) {
    EXPECT_EQ(user.status(), ::user::v1::USER_STATUS_BANNED);
    ids.push_back(user.id());
  }
  EXPECT_EQ(ids, banned);

  ListUsersResponse only_active;
  ASSERT_TRUE(IsOk(admin.List(ListPage(1, 2, ::user::v1::USER_STATUS_ACTIVE), &only_active)));
  EXPECT_EQ(only_active.page().total(), 3);
  EXPECT_EQ(only_active.users_size(), 2);
  EXPECT_TRUE(only_active.page().has_next());
  for (const User& user : only_active.users()) {
    EXPECT_EQ(user.status(), ::user::v1::USER_STATUS_ACTIVE);
  }

  ListUsersResponse inactive;
  ASSERT_TRUE(IsOk(admin.List(ListPage(1, 100, ::user::v1::USER_STATUS_INACTIVE), &inactive)));
  EXPECT_EQ(inactive.page().total(), 0);
  ListUsersResponse all;
  ASSERT_TRUE(IsOk(admin.List(ListPage(1, 100), &all)));
  EXPECT_EQ(all.page().total(), 6);
}

// --- Authorization ----------------------------------------------------------------------------

TEST_F(UserServiceRulesTest, Client_MayCreateButNotDelete_PermissionDenied) {
  ASSERT_TRUE(Start());
  const UserClient client(Channel("client"));
  User user;
  ASSERT_TRUE(IsOk(client.Create("front@example.com", "Front End", &user)));
  const grpc::Status denied = client.Delete(user.id());
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED) << denied.error_message();
  // API.md: the AppError detail, where present, says ERROR_CODE_PERMISSION_DENIED.
  if (const auto error = errors::AppErrorOf(denied); error.has_value()) {
    EXPECT_EQ(error->code(), ERROR_CODE_PERMISSION_DENIED) << error->ShortDebugString();
  }
  EXPECT_TRUE(IsOk(UserClient(Channel("admin")).Get(user.id())))
      << "a refused delete must delete nothing";
}

// --- WatchUsers -------------------------------------------------------------------------------

TEST_F(UserServiceRulesTest, WatchUsers_FromNow_CreatedUpdatedDeletedWithSnapshotsInOrder) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  ASSERT_TRUE(IsOk(admin.Create("earlier@example.com", "Committed before the watch")));

  WatchStream watch(Channel(), WatchAfter(0));
  watch.WaitForHeaders();
  User created, updated;
  ASSERT_TRUE(IsOk(admin.Create("watched@example.com", "Watched", &created)));
  UpdateUserRequest rename = Update(created.id());
  rename.set_display_name("Renamed");
  ASSERT_TRUE(IsOk(admin.Update(rename, &updated)));
  ASSERT_TRUE(IsOk(admin.Delete(created.id())));

  const std::vector<WatchUsersResponse> events = watch.Take(3);
  ASSERT_EQ(events.size(), 3u) << IsOk(watch.Finish()).message();
  EXPECT_EQ(events[0].type(), ::user::v1::USER_EVENT_TYPE_CREATED);
  EXPECT_EQ(events[0].user().SerializeAsString(), created.SerializeAsString())
      << events[0].ShortDebugString();
  EXPECT_EQ(events[1].type(), ::user::v1::USER_EVENT_TYPE_UPDATED);
  EXPECT_EQ(events[1].user().SerializeAsString(), updated.SerializeAsString())
      << events[1].ShortDebugString();
  EXPECT_EQ(events[2].type(), ::user::v1::USER_EVENT_TYPE_DELETED);
  EXPECT_EQ(events[2].user().id(), created.id());
  EXPECT_EQ(events[2].user().display_name(), "Renamed") << "DELETED carries the last state";
  EXPECT_EQ(events[2].user().etag(), updated.etag()) << "DELETED carries the last state";
  // The earlier create is sequence 1 and was committed before the subscription.
  EXPECT_EQ(events[0].sequence(), 2);
  EXPECT_EQ(events[1].sequence(), 3);
  EXPECT_EQ(events[2].sequence(), 4);
  for (const WatchUsersResponse& event : events) EXPECT_TRUE(event.has_event_time());
}

TEST_F(UserServiceRulesTest, WatchUsers_StatusFilter_OnlyEventsWhoseUserHasThatStatus) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  WatchStream banned_only(Channel(), WatchAfter(0, ::user::v1::USER_STATUS_BANNED));
  banned_only.WaitForHeaders();

  User first, second;
  ASSERT_TRUE(IsOk(admin.Create("first@example.com", "First", &first)));  // ACTIVE: filtered
  ASSERT_TRUE(IsOk(admin.Create("second@example.com", "Second", &second)));
  UpdateUserRequest ban = Update(second.id());
  ban.set_status(::user::v1::USER_STATUS_BANNED);
  ASSERT_TRUE(IsOk(admin.Update(ban)));
  UpdateUserRequest rename = Update(first.id());
  rename.set_display_name("Still active");
  ASSERT_TRUE(IsOk(admin.Update(rename)));  // ACTIVE: filtered
  ASSERT_TRUE(IsOk(admin.Delete(second.id())));

  const std::vector<WatchUsersResponse> events = banned_only.Take(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type(), ::user::v1::USER_EVENT_TYPE_UPDATED);
  EXPECT_EQ(events[0].user().id(), second.id());
  EXPECT_EQ(events[0].sequence(), 3);
  EXPECT_EQ(events[1].type(), ::user::v1::USER_EVENT_TYPE_DELETED);
  EXPECT_EQ(events[1].user().id(), second.id());
  EXPECT_EQ(events[1].sequence(), 5);
  for (const WatchUsersResponse& event : events) {
    EXPECT_EQ(event.user().status(), ::user::v1::USER_STATUS_BANNED);
  }
}

TEST_F(UserServiceRulesTest, WatchUsers_ResumeAfterDisconnect_MissesNothingDuplicatesNothing) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  User ada, bob, cy, dee;
  int64_t last_seen = 0;
  {
    WatchStream watch(Channel(), WatchAfter(0));
    watch.WaitForHeaders();
    ASSERT_TRUE(IsOk(admin.Create("ada@example.com", "Ada", &ada)));
    ASSERT_TRUE(IsOk(admin.Create("bob@example.com", "Bob", &bob)));
    const std::vector<WatchUsersResponse> events = watch.Take(2);
    ASSERT_EQ(events.size(), 2u);
    last_seen = events[1].sequence();
    watch.Cancel();  // the client goes away
  }
  // While disconnected.
  ASSERT_TRUE(IsOk(admin.Create("cy@example.com", "Cy", &cy)));
  UpdateUserRequest rename = Update(ada.id());
  rename.set_display_name("Ada L.");
  ASSERT_TRUE(IsOk(admin.Update(rename)));
  ASSERT_TRUE(IsOk(admin.Delete(bob.id())));

  WatchStream resumed(Channel(), WatchAfter(last_seen));
  resumed.WaitForHeaders();
  ASSERT_TRUE(IsOk(admin.Create("dee@example.com", "Dee", &dee)));  // live, after the replay
  const std::vector<WatchUsersResponse> events = resumed.Take(4);
  ASSERT_EQ(events.size(), 4u) << IsOk(resumed.Finish()).message();
  const std::vector<std::pair<::user::v1::UserEventType, std::string>> expected = {
      {::user::v1::USER_EVENT_TYPE_CREATED, cy.id()},
      {::user::v1::USER_EVENT_TYPE_UPDATED, ada.id()},
      {::user::v1::USER_EVENT_TYPE_DELETED, bob.id()},
      {::user::v1::USER_EVENT_TYPE_CREATED, dee.id()}};
  for (size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(events[i].ShortDebugString());
    EXPECT_EQ(events[i].sequence(), last_seen + 1 + static_cast<int64_t>(i));
    EXPECT_EQ(events[i].type(), expected[i].first);
    EXPECT_EQ(events[i].user().id(), expected[i].second);
  }
}

// A watcher that resumes far behind gets its backlog a batch per transport write (while more
// events are ready, writes carry gRPC's buffer hint): every event arrives, in order, and neither
// the backlog's last event nor the live one after it is held back waiting for another.
TEST_F(UserServiceRulesTest, WatchUsers_LongBacklog_EveryEventInOrder_LastOneNotHeldBack) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  constexpr int64_t kUsers = 150;  // several of the reactor's buffered runs
  std::vector<std::string> ids;
  for (int64_t i = 0; i < kUsers; ++i) {
    User user;
    ASSERT_TRUE(IsOk(admin.Create(absl::StrCat("backlog", i, "@example.com"), "Backlog", &user)));
    ids.push_back(user.id());
  }

  WatchStream watch(Channel(), WatchAfter(1));  // every event after the first create
  watch.WaitForHeaders();
  const std::vector<WatchUsersResponse> backlog = watch.Take(kUsers - 1);
  ASSERT_EQ(backlog.size(), static_cast<size_t>(kUsers - 1)) << IsOk(watch.Finish()).message();
  for (size_t i = 0; i < backlog.size(); ++i) {
    EXPECT_EQ(backlog[i].sequence(), static_cast<int64_t>(i) + 2);
    EXPECT_EQ(backlog[i].user().id(), ids[i + 1]);
  }

  User live;
  ASSERT_TRUE(IsOk(admin.Create("live@example.com", "Live", &live)));
  const std::vector<WatchUsersResponse> next = watch.Take(1);
  ASSERT_EQ(next.size(), 1u) << IsOk(watch.Finish()).message();
  EXPECT_EQ(next[0].sequence(), kUsers + 1);
  EXPECT_EQ(next[0].user().id(), live.id());
}

// A watcher resuming with a filter that matches nothing for a long stretch of the log: the
// replay reads it a batch (500 events) per pump, yielding the delivery thread between batches
// instead of reading it all in one go, and still sends exactly what matches, then goes live.
TEST_F(UserServiceRulesTest, WatchUsers_FilteredResume_LongStretchOfNoMatch_OnlyTheMatchesInOrder) {
  ASSERT_TRUE(Start());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;  // 1,200 ACTIVE users: more than two replay batches
  std::vector<std::string> first_ids(kThreads);
  std::vector<std::thread> creators;
  for (int t = 0; t < kThreads; ++t) {
    creators.emplace_back([&, t] {
      const UserClient client(Channel());
      for (int i = 0; i < kPerThread; ++i) {
        User user;
        ASSERT_TRUE(
            IsOk(client.Create(absl::StrCat("stretch", t, "-", i, "@example.com"), "S", &user)));
        if (i == 0) first_ids[t] = user.id();
      }
    });
  }
  for (std::thread& creator : creators) creator.join();
  const UserClient admin(Channel());
  UpdateUserRequest ban = Update(first_ids[0]);
  ban.set_status(::user::v1::USER_STATUS_BANNED);
  User banned;
  ASSERT_TRUE(IsOk(admin.Update(ban, &banned)));

  WatchStream banned_only(Channel(), WatchAfter(1, ::user::v1::USER_STATUS_BANNED));
  banned_only.WaitForHeaders();
  UpdateUserRequest live_ban = Update(first_ids[1]);
  live_ban.set_status(::user::v1::USER_STATUS_BANNED);
  ASSERT_TRUE(IsOk(admin.Update(live_ban)));

  const std::vector<WatchUsersResponse> events = banned_only.Take(2);
  ASSERT_EQ(events.size(), 2u) << IsOk(banned_only.Finish()).message();
  EXPECT_EQ(events[0].sequence(), kThreads * kPerThread + 1);
  EXPECT_EQ(events[0].user().id(), first_ids[0]);
  EXPECT_EQ(events[1].sequence(), kThreads * kPerThread + 2);
  EXPECT_EQ(events[1].user().id(), first_ids[1]);
  for (const WatchUsersResponse& event : events) {
    EXPECT_EQ(event.type(), ::user::v1::USER_EVENT_TYPE_UPDATED);
    EXPECT_EQ(event.user().status(), ::user::v1::USER_STATUS_BANNED);
  }
}

TEST_F(UserServiceRulesTest, WatchUsers_NegativeAfterSequence_InvalidArgumentWithField) {
  ASSERT_TRUE(Start());
  WatchStream watch(Channel(), WatchAfter(-1));
  EXPECT_FALSE(watch.Next().has_value());
  EXPECT_TRUE(IsAppError(watch.Finish(), grpc::StatusCode::INVALID_ARGUMENT,
                         ERROR_CODE_INVALID_ARGUMENT, "after_sequence"));
}

// A WatchUsers request that does not parse (here, a varint field cut short) is the caller's
// mistake: INVALID_ARGUMENT saying so, and counted as such, not gRPC's bare UNIMPLEMENTED (the
// method is registered raw and parsed by its reactor, after the chain has started).
TEST_F(UserServiceRulesTest, WatchUsers_RequestThatDoesNotParse_InvalidArgumentCounted) {
  ASSERT_TRUE(Start());
  grpc::GenericStub stub(Channel());
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, "/user.v1.UserService/WatchUsers", &queue);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  const std::string cut_short = "\x10";  // field 2 (after_sequence), varint, and no value
  grpc::Slice slice(cut_short.data(), cut_short.size());
  call->WriteLast(grpc::ByteBuffer(&slice, 1), grpc::WriteOptions(), reinterpret_cast<void*>(2));
  ASSERT_TRUE(queue.Next(&tag, &ok));
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  ASSERT_TRUE(queue.Next(&tag, &ok));
  EXPECT_FALSE(ok) << "an event for a request that does not parse";
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  ASSERT_TRUE(queue.Next(&tag, &ok));
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  EXPECT_TRUE(
      IsAppError(status, grpc::StatusCode::INVALID_ARGUMENT, ERROR_CODE_INVALID_ARGUMENT, ""))
      << status.error_message();
  EXPECT_NE(status.error_message().find("not a valid user.v1.WatchUsersRequest"), std::string::npos)
      << status.error_message();
  // Counted before the status was sent.
  absl::StatusOr<std::string> body = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(MetricValue(*body, "grpc_server_handled_total",
                        {{"grpc_method", "WatchUsers"}, {"grpc_code", "InvalidArgument"}}),
            1);
}

TEST_F(UserServiceRulesTest, WatchUsers_BeyondMaxStreams_ResourceExhausted_UnaryStillServed) {
  ASSERT_TRUE(Start({"--max_streams=2"}));
  WatchStream first(Channel(), WatchAfter(0));
  WatchStream second(Channel(), WatchAfter(0));
  first.WaitForHeaders();
  second.WaitForHeaders();

  WatchStream third(Channel(), WatchAfter(0));
  EXPECT_FALSE(third.Next().has_value());
  EXPECT_TRUE(
      IsAppError(third.Finish(), grpc::StatusCode::RESOURCE_EXHAUSTED, ERROR_CODE_UNSPECIFIED, ""));

  const UserClient admin(Channel());
  User user;
  ASSERT_TRUE(IsOk(admin.Create("unary@example.com", "Unary", &user)));
  EXPECT_TRUE(IsOk(admin.Get(user.id())));
  // The two admitted watchers are alive and see the write.
  for (WatchStream* watch : {&first, &second}) {
    const std::optional<WatchUsersResponse> event = watch->Next();
    ASSERT_TRUE(event.has_value());
    EXPECT_EQ(event->user().id(), user.id());
  }
}

}  // namespace
}  // namespace hermes::testing::user_service
