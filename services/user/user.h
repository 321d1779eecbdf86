// The user domain: what a user is, what changes to users look like, and the events they
// produce. Plain values, independent of protobuf and of any store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace hermes::user {

enum class UserStatus { kActive = 1, kInactive = 2, kBanned = 3 };

struct User {
  std::string id;            // server-assigned, opaque, URL-safe
  std::string email;         // lower-cased, unique
  std::string display_name;  // 1–100 code points of valid UTF-8
  UserStatus status = UserStatus::kActive;
  absl::Time created_at;
  absl::Time updated_at;
  std::string etag;  // changes on every update
};

// A validated CreateUser: email already normalised (lower-cased).
struct NewUser {
  std::string email;
  std::string display_name;
};

// A validated UpdateUser: unset members stay as they are.
struct UserUpdate {
  std::string id;
  std::optional<std::string> display_name;
  std::optional<UserStatus> status;
  std::string expected_etag;  // "" = no check; otherwise a mismatch is ABORTED (field "etag")
};

struct ListUsersQuery {
  std::optional<UserStatus> status;  // nullopt = every status
  int64_t offset = 0;                // (page - 1) * page_size
  int32_t limit = 20;                // page_size, 1..100
};

struct UserPage {
  std::vector<User> users;  // ordered by created_at, then id
  int64_t total = 0;        // matching users in all pages
};

enum class UserEventType { kCreated = 1, kUpdated = 2, kDeleted = 3 };

// One committed change. `user` is the state after it (for kDeleted, the last state).
struct UserEvent {
  int64_t sequence = 0;  // strictly increasing, gap-free in commit order
  UserEventType type = UserEventType::kCreated;
  User user;
  absl::Time time;
};

}  // namespace hermes::user
