#include "libs/api/parse_request.h"

#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "libs/errors/app_error.h"
#include "order/v1/order.pb.h"

namespace hermes::api {
namespace {

using google::protobuf::UnknownFieldSet;

constexpr char kNotUtf8[] = "caf\xC3";  // a truncated two-byte sequence

std::string Wire(const UnknownFieldSet& fields) {
  std::string bytes;
  EXPECT_TRUE(fields.SerializeToString(&bytes));
  return bytes;
}

// An OrderItem's bytes, written field by field, so that a string can be anything.
std::string Item(absl::string_view product_id, int quantity) {
  UnknownFieldSet item;
  item.AddLengthDelimited(1, std::string(product_id));
  item.AddVarint(2, quantity);
  return Wire(item);
}

size_t SliceCount(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  return slices.size();
}

TEST(ParseRequestTest, ValidBytes_ParseIntoTheMessage) {
  ::order::v1::UploadOrderEventsRequest sent;
  sent.set_order_id("o-1");
  sent.set_new_status(::order::v1::ORDER_STATUS_SHIPPED);
  ::order::v1::UploadOrderEventsRequest parsed;
  parsed.set_note("left over from the previous message");

  ASSERT_TRUE(ParseRequest(sent.SerializeAsString(), &parsed).ok());
  EXPECT_EQ(parsed.order_id(), "o-1");
  EXPECT_EQ(parsed.new_status(), ::order::v1::ORDER_STATUS_SHIPPED);
  EXPECT_EQ(parsed.note(), "") << "the message was not cleared first";

  sent.set_note("caf\xC3\xA9");
  grpc::Slice slice(sent.SerializeAsString());
  const grpc::ByteBuffer received(&slice, 1);
  ASSERT_TRUE(ParseRequest(received, &parsed).ok());
  EXPECT_EQ(parsed.note(), "caf\xC3\xA9");
  EXPECT_EQ(received.Length(), slice.size()) << "the caller's buffer was consumed";
}

// A message gRPC received in several slices (a large one, or one split across reads) is read by
// gRPC's stream reader, not as one array: the same result either way. (Slices of up to 23 bytes
// are inlined, and gRPC merges neighbouring inlined ones: each part here is longer.)
TEST(ParseRequestTest, ByteBufferOfSeveralSlices_SameResultAsOneSlice) {
  ::order::v1::UploadOrderEventsRequest sent;
  sent.set_order_id("o-1");
  sent.set_note(std::string(300, 'n'));
  const std::string bytes = sent.SerializeAsString();
  grpc::Slice slices[] = {grpc::Slice(bytes.substr(0, 30)), grpc::Slice(bytes.substr(30, 100)),
                          grpc::Slice(bytes.substr(130))};
  const grpc::ByteBuffer received(slices, 3);
  ASSERT_EQ(SliceCount(received), 3u);
  ::order::v1::UploadOrderEventsRequest parsed;
  ASSERT_TRUE(ParseRequest(received, &parsed).ok());
  EXPECT_EQ(parsed.order_id(), "o-1");
  EXPECT_EQ(parsed.note(), std::string(300, 'n'));
  EXPECT_EQ(received.Length(), bytes.size()) << "the caller's buffer was consumed";

  UnknownFieldSet fields;
  fields.AddLengthDelimited(1, std::string(40, 'o'));
  fields.AddLengthDelimited(3, std::string(30, 'n') + kNotUtf8);
  const std::string bad = Wire(fields);
  grpc::Slice bad_slices[] = {grpc::Slice(bad.substr(0, 30)), grpc::Slice(bad.substr(30))};
  const grpc::ByteBuffer bad_received(bad_slices, 2);
  ASSERT_EQ(SliceCount(bad_received), 2u);
  const absl::Status status = ParseRequest(bad_received, &parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(errors::FieldOf(status), "note");
}

TEST(ParseRequestTest, ByteBufferNotUtf8_SameErrorAsFromBytes) {
  UnknownFieldSet fields;
  fields.AddLengthDelimited(1, kNotUtf8);
  grpc::Slice slice(Wire(fields));
  const grpc::ByteBuffer received(&slice, 1);
  ::order::v1::UploadOrderEventsRequest parsed;
  const absl::Status status = ParseRequest(received, &parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(errors::FieldOf(status), "order_id");
  EXPECT_EQ(ParseRequest(grpc::ByteBuffer(), &parsed).code(), absl::StatusCode::kInvalidArgument)
      << "a buffer holding no message";
}

TEST(ParseRequestTest, StringNotUtf8_InvalidArgumentNamingTheField) {
  UnknownFieldSet fields;
  fields.AddLengthDelimited(1, "o-1");
  fields.AddVarint(2, ::order::v1::ORDER_STATUS_CANCELLED);
  fields.AddLengthDelimited(3, kNotUtf8);
  ::order::v1::UploadOrderEventsRequest parsed;

  const absl::Status status = ParseRequest(Wire(fields), &parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(errors::FieldOf(status), "note");
  EXPECT_EQ(status.message(), "note is not valid UTF-8");
  EXPECT_EQ(parsed.order_id(), "") << "a message that did not parse is left empty";
}

TEST(ParseRequestTest, NestedRepeatedStringNotUtf8_PathHasTheIndex) {
  UnknownFieldSet fields;
  fields.AddLengthDelimited(1, "u-1");
  fields.AddVarint(2, 7);  // a wrong wire type: protobuf sets it aside, it is no item
  fields.AddLengthDelimited(2, Item("p-1", 1));
  fields.AddLengthDelimited(2, Item("p-2", 2));
  fields.AddLengthDelimited(2, Item(kNotUtf8, 3));
  ::order::v1::CreateOrderRequest parsed;

  const absl::Status status = ParseRequest(Wire(fields), &parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(errors::FieldOf(status), "items[2].product_id");
}

TEST(ParseRequestTest, MalformedBytes_InvalidArgumentWithoutAField) {
  ::order::v1::UploadOrderEventsRequest sent;
  sent.set_order_id("an order id long enough to be cut short");
  const std::string bytes = sent.SerializeAsString();
  ::order::v1::UploadOrderEventsRequest parsed;

  const absl::Status status = ParseRequest(bytes.substr(0, bytes.size() - 5), &parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(errors::FieldOf(status), "");
  EXPECT_EQ(status.message(),
            "the message is not a valid order.v1.UploadOrderEventsRequest (malformed bytes)");
}

// Reused for one write after another (StreamPump's buffer): a long message into a buffer that
// still holds the previous one replaces it.
TEST(SerializeResponseTest, ReplacesWhatTheBufferHeld_RoundTrips) {
  ::order::v1::UploadOrderEventsRequest first;
  first.set_order_id("o-1");
  ::order::v1::UploadOrderEventsRequest second;
  second.set_note(std::string(20000, 'n'));  // past gRPC's single-slice path
  grpc::ByteBuffer bytes;
  ASSERT_TRUE(SerializeResponse(first, &bytes).ok());
  ASSERT_TRUE(SerializeResponse(second, &bytes).ok());

  ::order::v1::UploadOrderEventsRequest parsed;
  ASSERT_TRUE(ParseRequest(bytes, &parsed).ok());
  EXPECT_EQ(parsed.note(), second.note());
  EXPECT_EQ(parsed.order_id(), "");
}

TEST(ParseRequestTest, BytesOf_JoinsEverySlice) {
  const std::string first = "first slice, ";
  const std::string second = "second slice";
  grpc::Slice slices[] = {grpc::Slice(first), grpc::Slice(second)};
  const grpc::ByteBuffer buffer(slices, 2);
  EXPECT_EQ(BytesOf(buffer), first + second);
  EXPECT_EQ(BytesOf(grpc::ByteBuffer()), "");
}

}  // namespace
}  // namespace hermes::api
