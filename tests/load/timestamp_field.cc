#include "tests/load/timestamp_field.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hermes::load {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

constexpr int kSecondsField = 1;  // google.protobuf.Timestamp
constexpr int kNanosField = 2;
constexpr int kMaxDepth = 32;

}  // namespace

absl::StatusOr<TimestampField> TimestampField::Resolve(const google::protobuf::Descriptor& type,
                                                       absl::string_view dotted_path) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("--latency_field=", dotted_path, ": ", what,
                                                   " (response type ", type.full_name(), ")"));
  };
  TimestampField resolved;
  const google::protobuf::Descriptor* message = &type;
  const std::vector<absl::string_view> steps = absl::StrSplit(dotted_path, '.');
  if (steps.size() > kMaxDepth) return bad("too deep");
  for (size_t i = 0; i < steps.size(); ++i) {
    const FieldDescriptor* field = message->FindFieldByName(std::string(steps[i]));
    if (field == nullptr) {
      return bad(absl::StrCat("no field \"", steps[i], "\" in ", message->full_name()));
    }
    if (field->is_repeated() || field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return bad(absl::StrCat(field->full_name(), " is not a singular message field"));
    }
    message = field->message_type();
    resolved.field_numbers_.push_back(field->number());
  }
  if (message->full_name() != "google.protobuf.Timestamp") {
    return bad(
        absl::StrCat("ends at a ", message->full_name(), ", not a google.protobuf.Timestamp"));
  }
  return resolved;
}

std::optional<int64_t> TimestampField::UnixNanos(grpc::ByteBuffer* message) const {
  grpc::ProtoBufferReader reader(message);
  google::protobuf::io::CodedInputStream input(&reader);
  return Scan(&input);
}

std::optional<int64_t> TimestampField::UnixNanos(absl::string_view serialized) const {
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(serialized.data()),
                                               static_cast<int>(serialized.size()));
  return Scan(&input);
}

std::optional<int64_t> TimestampField::Scan(google::protobuf::io::CodedInputStream* input) const {
  int64_t seconds = 0;
  int32_t nanos = 0;
  bool found = false;
  if (!Walk(input, 0, &seconds, &nanos, &found) || !input->ConsumedEntireMessage() || !found) {
    return std::nullopt;
  }
  // An empty Timestamp (the epoch) is what a server that set the field to its default sends:
  // no time at all, which would otherwise count as a delivery some 56 years late.
  if (seconds == 0 && nanos == 0) return std::nullopt;
  return seconds * 1'000'000'000 + nanos;
}

bool TimestampField::Walk(google::protobuf::io::CodedInputStream* input, size_t depth,
                          int64_t* seconds, int32_t* nanos, bool* found) const {
  const bool in_timestamp = depth == field_numbers_.size();
  while (true) {
    const uint32_t tag = input->ReadTag();
    if (tag == 0) return true;  // the end of this message (or of its length limit)
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const WireFormatLite::WireType wire_type = WireFormatLite::GetTagWireType(tag);
    if (in_timestamp && wire_type == WireFormatLite::WIRETYPE_VARINT &&
        (number == kSecondsField || number == kNanosField)) {
      uint64_t value = 0;
      if (!input->ReadVarint64(&value)) return false;
      if (number == kSecondsField) {
        *seconds = static_cast<int64_t>(value);
      } else {
        *nanos = static_cast<int32_t>(static_cast<int64_t>(value));
      }
      continue;
    }
    if (!in_timestamp && number == field_numbers_[depth] &&
        wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!input->ReadVarint32(&length)) return false;
      const auto limit = input->PushLimit(static_cast<int>(length));
      if (depth + 1 == field_numbers_.size()) *found = true;
      if (!Walk(input, depth + 1, seconds, nanos, found)) return false;
      if (!input->ConsumedEntireMessage()) return false;
      input->PopLimit(limit);
      continue;
    }
    if (!WireFormatLite::SkipField(input, tag)) return false;
  }
}

}  // namespace hermes::load
