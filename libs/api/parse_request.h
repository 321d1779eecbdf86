// ParseRequest: a request message from its wire bytes, with an API.md error when they do not
// parse; SerializeResponse, a response into the bytes gRPC sends.
//
// gRPC parses requests itself and answers a message that does not parse without naming why
// (UNIMPLEMENTED or INTERNAL with an empty message, see libs/interceptor/recovery.h). The
// methods that take their requests as raw bytes (every unary method, a `WithRawMethod_` base
// through libs/interceptor/unary_methods.h; UploadOrderEvents and StreamOrderUpdates,
// `WithRawCallbackMethod_` bases, so that one bad message is a rejection and not the end of the
// stream; WatchUsers, so that its reactor parses after the chain started) parse them here
// instead and learn
// which field was at fault: proto3 refuses a string field that is not valid UTF-8, and API.md
// makes that INVALID_ARGUMENT naming the field.
//
//   ::order::v1::UploadOrderEventsRequest event;
//   if (absl::Status parsed = api::ParseRequest(bytes, &event); !parsed.ok()) reject(parsed);
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hermes::api {

// Parses `bytes` into `message` (cleared first). When they do not parse: INVALID_ARGUMENT with
// the path of the first string field that is not valid UTF-8 as its field (`note`,
// `items[2].sku`: proto field names, repeated fields indexed from 0), or with no field when the
// bytes are not a message of this type at all (truncated, a wrong wire type).
absl::Status ParseRequest(absl::string_view bytes, google::protobuf::Message* message);

// The same for a message as gRPC received it, read in place; the bytes are joined and read again
// only to say why when it does not parse. `bytes` must hold a message (ByteBuffer::Valid()).
absl::Status ParseRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* message);

// The other direction, for the same raw methods: `response` serialized into `bytes` (whatever
// `bytes` held is dropped). INTERNAL when it cannot be (larger than protobuf allows).
grpc::Status SerializeResponse(const google::protobuf::Message& response, grpc::ByteBuffer* bytes);

// The bytes of a message as gRPC received it (its slices joined).
std::string BytesOf(const grpc::ByteBuffer& buffer);

}  // namespace hermes::api
