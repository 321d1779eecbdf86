#include "tests/load/timestamp_field.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "order/v1/order.pb.h"
#include "user/v1/user.pb.h"

namespace hermes::load {
namespace {

using ::testing::HasSubstr;

TEST(TimestampField, TopLevelField_IsReadFromTheWire) {
  ::user::v1::WatchUsersResponse event;
  event.set_sequence(7);
  event.mutable_user()->set_email("a@b.c");
  event.mutable_user()->mutable_updated_at()->set_seconds(111);
  event.mutable_event_time()->set_seconds(1'700'000'000);
  event.mutable_event_time()->set_nanos(123'456'789);
  absl::StatusOr<TimestampField> field =
      TimestampField::Resolve(*::user::v1::WatchUsersResponse::descriptor(), "event_time");
  ASSERT_TRUE(field.ok()) << field.status();
  EXPECT_EQ(field->UnixNanos(event.SerializeAsString()), 1'700'000'000'123'456'789);
}

TEST(TimestampField, DottedPath_EntersNestedMessages) {
  ::user::v1::WatchUsersResponse event;
  event.mutable_event_time()->set_seconds(5);
  event.mutable_user()->mutable_updated_at()->set_seconds(42);
  event.mutable_user()->mutable_updated_at()->set_nanos(1);
  absl::StatusOr<TimestampField> field =
      TimestampField::Resolve(*::user::v1::WatchUsersResponse::descriptor(), "user.updated_at");
  ASSERT_TRUE(field.ok()) << field.status();
  const std::string bytes = event.SerializeAsString();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer buffer(&slice, 1);
  EXPECT_EQ(field->UnixNanos(&buffer), 42'000'000'001);
}

TEST(TimestampField, MissingTimestamp_IsNullopt) {
  ::order::v1::StreamOrderUpdatesResponse update;
  update.set_order_id("o1");
  absl::StatusOr<TimestampField> field =
      TimestampField::Resolve(*::order::v1::StreamOrderUpdatesResponse::descriptor(), "updated_at");
  ASSERT_TRUE(field.ok()) << field.status();
  EXPECT_EQ(field->UnixNanos(update.SerializeAsString()), std::nullopt);
  EXPECT_EQ(field->UnixNanos(std::string("\xff\xff", 2)), std::nullopt);  // not wire format
  update.mutable_updated_at();  // present, but empty: the epoch, no time at all
  EXPECT_EQ(field->UnixNanos(update.SerializeAsString()), std::nullopt);
}

TEST(TimestampField, BadPaths_AreErrorsNamingPathAndType) {
  const auto& type = *::user::v1::WatchUsersResponse::descriptor();
  EXPECT_THAT(TimestampField::Resolve(type, "nope").status().message(),
              HasSubstr("no field \"nope\""));
  EXPECT_THAT(TimestampField::Resolve(type, "sequence").status().message(),
              HasSubstr("not a singular message field"));
  EXPECT_THAT(TimestampField::Resolve(type, "user").status().message(),
              HasSubstr("not a google.protobuf.Timestamp"));
  EXPECT_THAT(TimestampField::Resolve(type, "user.nope").status().message(),
              HasSubstr("user.v1.WatchUsersResponse"));
}

}  // namespace
}  // namespace hermes::load
