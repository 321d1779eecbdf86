// Validation of user.v1 requests: API.md's rules, turned into domain values or into
// INVALID_ARGUMENT errors that name the offending field (AppError.field).
//
// Lengths count Unicode code points; invalid UTF-8 is INVALID_ARGUMENT. Emails are checked
// for a practical syntax (RFC 5321 limits, dot-atom local part, a domain with at least one
// dot), and lower-cased: the stored form, and the form uniqueness is decided on.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "libs/api/pagination.h"
#include "services/user/user.h"
#include "user/v1/user.pb.h"

namespace hermes::user {

absl::Status ValidateId(absl::string_view id, absl::string_view field = "id");
absl::StatusOr<std::string> NormalizeEmail(absl::string_view email);
absl::Status ValidateDisplayName(absl::string_view name);

absl::StatusOr<NewUser> ValidateCreate(const ::user::v1::CreateUserRequest& request);
absl::StatusOr<UserUpdate> ValidateUpdate(const ::user::v1::UpdateUserRequest& request);
absl::StatusOr<ListUsersQuery> ValidateList(const ::user::v1::ListUsersRequest& request,
                                            api::Page* page);

// A status filter: UNSPECIFIED = any (nullopt); a value outside the enum is INVALID_ARGUMENT.
absl::StatusOr<std::optional<UserStatus>> StatusFilter(int value, absl::string_view field);

}  // namespace hermes::user
