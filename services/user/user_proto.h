// Domain <-> user.v1 protos.
#pragma once

#include "services/user/user.h"
#include "user/v1/user.pb.h"

namespace hermes::user {

::user::v1::UserStatus ToProto(UserStatus status);
void ToProto(const User& user, ::user::v1::User* proto);
void ToProto(const UserEvent& event, ::user::v1::WatchUsersResponse* proto);

}  // namespace hermes::user
