// UserServiceImpl: user.v1.UserService. Translates between the protos and the domain.
//
// The RPCs answer UNIMPLEMENTED (the generated base class) until the user service lands;
// the executable already serves health and reflection so that operators and tests can see it.
#pragma once

#include "user/v1/user.grpc.pb.h"

namespace hermes::user {

class UserServiceImpl final : public ::user::v1::UserService::Service {};

}  // namespace hermes::user
