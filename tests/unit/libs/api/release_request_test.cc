#include "libs/api/release_request.h"

#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

#include <string>

#include "user/v1/user.pb.h"

namespace hermes::api {
namespace {

TEST(ReleaseRequestTest, AStreamsRequest_GivesBackItsFieldsAndUnknownFields) {
  // As gRPC holds a request: a plain message, handed to the handler as const.
  user::v1::WatchUsersRequest held;
  held.set_after_sequence(7);
  held.GetReflection()->MutableUnknownFields(&held)->AddLengthDelimited(999,
                                                                        std::string(1 << 20, 'x'));
  const size_t empty_size = user::v1::WatchUsersRequest().SpaceUsedLong();
  ASSERT_GT(held.SpaceUsedLong(), empty_size + (1 << 20));

  const user::v1::WatchUsersRequest* request = &held;
  ReleaseRequest(request);

  EXPECT_EQ(held.SpaceUsedLong(), empty_size);
  EXPECT_EQ(held.after_sequence(), 0);
  EXPECT_EQ(held.ByteSizeLong(), 0u);
}

}  // namespace
}  // namespace hermes::api
