// TimestampField: reads one google.protobuf.Timestamp out of a serialized response without
// parsing the response, for the delivery latency of streamed messages (receive time minus a
// time the server stamped into the message, e.g. WatchUsersResponse.event_time).
//
// The dotted path (`event_time`, `user.updated_at`) is resolved against the response type once;
// each message is then walked on the wire: only the fields on the path are entered, the rest
// skipped, nothing allocated. A field that occurs several times merges as protobuf would (the
// last seconds and nanos win).
//
//   absl::StatusOr<TimestampField> field = TimestampField::Resolve(*output_type, "event_time");
//   std::optional<int64_t> unix_nanos = field->UnixNanos(&received_buffer);
#pragma once

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace google::protobuf::io {
class CodedInputStream;
}

namespace hermes::load {

class TimestampField {
 public:
  // Fails, naming the path and the type, when a step is not a field, a step before the last is
  // not a singular message field, or the last is not a google.protobuf.Timestamp.
  static absl::StatusOr<TimestampField> Resolve(const google::protobuf::Descriptor& type,
                                                absl::string_view dotted_path);

  // The timestamp in nanoseconds since the Unix epoch; nullopt when the message does not carry
  // it, carries an empty one (the epoch itself), or is not valid wire format.
  std::optional<int64_t> UnixNanos(grpc::ByteBuffer* message) const;
  std::optional<int64_t> UnixNanos(absl::string_view serialized) const;

 private:
  std::optional<int64_t> Scan(google::protobuf::io::CodedInputStream* input) const;
  bool Walk(google::protobuf::io::CodedInputStream* input, size_t depth, int64_t* seconds,
            int32_t* nanos, bool* found) const;

  std::vector<int> field_numbers_;  // the path, outermost first; the last is the Timestamp
};

}  // namespace hermes::load
