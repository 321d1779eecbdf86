// ParseRequest: a request message from its wire bytes, with an API.md error when they do not
// parse.
//
// gRPC parses requests itself and answers a message that does not parse without naming why
// (UNIMPLEMENTED or INTERNAL with an empty message, see libs/interceptor/recovery.h). A
// method that takes its requests as raw bytes (a `WithRawCallbackMethod_` base, as
// UploadOrderEvents does, so that one bad message is a rejection and not the end of the
// stream) parses them here instead and learns which field was at fault: proto3 refuses a string
// field that is not valid UTF-8, and API.md makes that INVALID_ARGUMENT naming the field.
//
//   ::order::v1::UploadOrderEventsRequest event;
//   if (absl::Status parsed = api::ParseRequest(bytes, &event); !parsed.ok()) reject(parsed);
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hermes::api {

// Parses `bytes` into `message` (cleared first). When they do not parse: INVALID_ARGUMENT with
// the path of the first string field that is not valid UTF-8 as its field (`note`,
// `items[2].sku`: proto field names, repeated fields indexed from 0), or with no field when the
// bytes are not a message of this type at all (truncated, a wrong wire type).
absl::Status ParseRequest(absl::string_view bytes, google::protobuf::Message* message);

// The bytes of a message as gRPC received it (its slices joined).
std::string BytesOf(const grpc::ByteBuffer& buffer);

}  // namespace hermes::api
