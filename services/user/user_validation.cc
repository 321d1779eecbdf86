#include "services/user/user_validation.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/errors/app_error.h"
#include "libs/errors/utf8.h"

namespace hermes::user {
namespace {

constexpr size_t kMaxIdLength = 64;
constexpr size_t kMaxEmailLength = 254;  // RFC 5321 path limit
constexpr size_t kMaxLocalPartLength = 64;
constexpr size_t kMaxDisplayName = 100;

bool IsAtext(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != absl::string_view::npos;
}

// dot-atom: atext runs separated by single dots, no dot at either end.
bool IsDotAtom(absl::string_view text) {
  if (text.empty() || text.front() == '.' || text.back() == '.') return false;
  char previous = '\0';
  for (char c : text) {
    if (c == '.' ? previous == '.' : !IsAtext(c)) return false;
    previous = c;
  }
  return true;
}

bool IsDomain(absl::string_view domain) {
  if (domain.empty() || domain.size() > 253) return false;
  size_t labels = 0;
  for (absl::string_view label : absl::StrSplit(domain, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    ++labels;
  }
  return labels >= 2;
}

std::optional<UserStatus> KnownStatus(int value) {
  switch (value) {
    case ::user::v1::USER_STATUS_ACTIVE:
      return UserStatus::kActive;
    case ::user::v1::USER_STATUS_INACTIVE:
      return UserStatus::kInactive;
    case ::user::v1::USER_STATUS_BANNED:
      return UserStatus::kBanned;
    default:
      return std::nullopt;
  }
}

}  // namespace

absl::Status ValidateId(absl::string_view id, absl::string_view field) {
  if (id.empty()) return errors::InvalidArgument(field, absl::StrCat(field, " is required"));
  // Ids are ours: anything longer or with other characters cannot exist.
  if (id.size() > kMaxIdLength) return errors::NotFound(field, "no user has this id");
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeEmail(absl::string_view email) {
  if (email.empty()) return errors::InvalidArgument("email", "email is required");
  if (email.size() > kMaxEmailLength) {
    return errors::InvalidArgument("email", "email must be at most 254 bytes");
  }
  const size_t at = email.rfind('@');
  if (at == absl::string_view::npos || at == 0 || at > kMaxLocalPartLength ||
      !IsDotAtom(email.substr(0, at)) || !IsDomain(email.substr(at + 1))) {
    return errors::InvalidArgument("email", "email is not a valid address, e.g. ada@example.com");
  }
  return absl::AsciiStrToLower(email);
}

namespace {

// Unicode's control characters (general category Cc): C0, DEL and C1.
bool IsControl(char32_t point) { return point < 0x20 || (point >= 0x7F && point <= 0x9F); }

// Unicode's White_Space property (PropList.txt), the controls among them excluded above.
bool IsWhiteSpace(char32_t point) {
  return point == 0x20 || point == 0xA0 || point == 0x1680 ||
         (point >= 0x2000 && point <= 0x200A) || point == 0x2028 || point == 0x2029 ||
         point == 0x202F || point == 0x205F || point == 0x3000;
}

}  // namespace

absl::Status ValidateDisplayName(absl::string_view name) {
  // Counted before it is decoded: decoding a name near the 4 MiB message limit would take
  // 16 MiB (four bytes a code point) only to refuse it.
  const std::optional<size_t> length = errors::CodePointCount(name);
  if (!length.has_value()) {
    return errors::InvalidArgument("display_name", "display_name is not valid UTF-8");
  }
  if (*length == 0 || *length > kMaxDisplayName) {
    return errors::InvalidArgument("display_name", "display_name must be 1-100 characters");
  }
  const std::vector<char32_t> points = errors::CodePoints(name).value_or(std::vector<char32_t>{});
  if (std::any_of(points.begin(), points.end(), IsControl)) {
    return errors::InvalidArgument("display_name",
                                   "display_name must not contain control characters");
  }
  if (std::all_of(points.begin(), points.end(), IsWhiteSpace)) {
    return errors::InvalidArgument("display_name", "display_name must not be blank");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<UserStatus>> StatusFilter(int value, absl::string_view field) {
  if (value == ::user::v1::USER_STATUS_UNSPECIFIED) return std::optional<UserStatus>();
  std::optional<UserStatus> status = KnownStatus(value);
  if (!status.has_value()) {
    return errors::InvalidArgument(field, absl::StrCat("unknown user status ", value));
  }
  return status;
}

absl::StatusOr<NewUser> ValidateCreate(const ::user::v1::CreateUserRequest& request) {
  absl::StatusOr<std::string> email = NormalizeEmail(request.email());
  if (!email.ok()) return email.status();
  if (absl::Status status = ValidateDisplayName(request.display_name()); !status.ok()) {
    return status;
  }
  return NewUser{.email = *std::move(email), .display_name = request.display_name()};
}

absl::StatusOr<UserUpdate> ValidateUpdate(const ::user::v1::UpdateUserRequest& request) {
  if (absl::Status status = ValidateId(request.id()); !status.ok()) return status;
  UserUpdate update{.id = request.id(), .expected_etag = request.etag()};
  if (request.has_display_name()) {
    if (absl::Status status = ValidateDisplayName(request.display_name()); !status.ok()) {
      return status;
    }
    update.display_name = request.display_name();
  }
  absl::StatusOr<std::optional<UserStatus>> status = StatusFilter(request.status(), "status");
  if (!status.ok()) return status.status();
  update.status = *status;
  return update;
}

absl::StatusOr<ListUsersQuery> ValidateList(const ::user::v1::ListUsersRequest& request,
                                            api::Page* page) {
  absl::StatusOr<api::Page> resolved = api::ResolvePage(request.page());
  if (!resolved.ok()) return resolved.status();
  absl::StatusOr<std::optional<UserStatus>> status =
      StatusFilter(request.status_filter(), "status_filter");
  if (!status.ok()) return status.status();
  *page = *resolved;
  return ListUsersQuery{.status = *status, .offset = page->offset, .limit = page->page_size};
}

}  // namespace hermes::user
