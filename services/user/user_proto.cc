#include "services/user/user_proto.h"

#include "libs/api/timestamps.h"

namespace hermes::user {

::user::v1::UserStatus ToProto(UserStatus status) {
  switch (status) {
    case UserStatus::kActive:
      return ::user::v1::USER_STATUS_ACTIVE;
    case UserStatus::kInactive:
      return ::user::v1::USER_STATUS_INACTIVE;
    case UserStatus::kBanned:
      return ::user::v1::USER_STATUS_BANNED;
  }
  return ::user::v1::USER_STATUS_UNSPECIFIED;
}

void ToProto(const User& user, ::user::v1::User* proto) {
  proto->set_id(user.id);
  proto->set_email(user.email);
  proto->set_display_name(user.display_name);
  proto->set_status(ToProto(user.status));
  api::SetTimestamp(user.created_at, proto->mutable_created_at());
  api::SetTimestamp(user.updated_at, proto->mutable_updated_at());
  proto->set_etag(user.etag);
}

void ToProto(const UserEvent& event, ::user::v1::WatchUsersResponse* proto) {
  switch (event.type) {
    case UserEventType::kCreated:
      proto->set_type(::user::v1::USER_EVENT_TYPE_CREATED);
      break;
    case UserEventType::kUpdated:
      proto->set_type(::user::v1::USER_EVENT_TYPE_UPDATED);
      break;
    case UserEventType::kDeleted:
      proto->set_type(::user::v1::USER_EVENT_TYPE_DELETED);
      break;
  }
  ToProto(event.user, proto->mutable_user());
  proto->set_sequence(event.sequence);
  api::SetTimestamp(event.time, proto->mutable_event_time());
}

}  // namespace hermes::user
