#include "libs/api/parse_request.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"
#include "libs/errors/utf8.h"

namespace hermes::api {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

// Nesting deeper than this is not looked into (protobuf's own parser stops at 100).
constexpr int kMaxDepth = 32;

// The path of the first string field in `bytes` (a message of `type`) that is not valid UTF-8,
// below `prefix`; "" when there is none or the bytes are not a message at all.
std::string InvalidUtf8Field(absl::string_view bytes, const Descriptor& type,
                             const std::string& prefix, int depth) {
  if (depth > kMaxDepth) return "";
  // Read without a schema: every field is kept as it came, whatever its bytes.
  UnknownFieldSet fields;
  if (!fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return "";
  std::map<int, int> occurrences;  // field number -> length-delimited ones so far (repeated)
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& field = fields.field(i);
    // Only length-delimited occurrences are elements of a string or message field; protobuf
    // sets any other aside as an unknown field.
    if (field.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const int index = occurrences[field.number()]++;
    const FieldDescriptor* descriptor = type.FindFieldByNumber(field.number());
    if (descriptor == nullptr) continue;  // unknown to this schema: protobuf keeps it as bytes
    std::string path = absl::StrCat(prefix, descriptor->name());
    if (descriptor->is_repeated()) absl::StrAppend(&path, "[", index, "]");
    if (descriptor->type() == FieldDescriptor::TYPE_STRING &&
        !errors::IsValidUtf8(field.length_delimited())) {
      return path;
    }
    if (descriptor->type() == FieldDescriptor::TYPE_MESSAGE) {
      std::string nested = InvalidUtf8Field(field.length_delimited(), *descriptor->message_type(),
                                            path + ".", depth + 1);
      if (!nested.empty()) return nested;
    }
  }
  return "";
}

// Why `bytes` did not parse as `message`'s type; `message` is left empty. Reads the bytes again
// without protobuf's parser (which would log its complaint a second time).
absl::Status NotParsed(absl::string_view bytes, google::protobuf::Message* message) {
  message->Clear();
  const Descriptor& type = *message->GetDescriptor();
  std::string field = InvalidUtf8Field(bytes, type, "", 0);
  if (!field.empty()) {
    return errors::InvalidArgument(field, absl::StrCat(field, " is not valid UTF-8"));
  }
  return errors::InvalidArgument(
      "", absl::StrCat("the message is not a valid ", type.full_name(), " (malformed bytes)"));
}

}  // namespace

absl::Status ParseRequest(absl::string_view bytes, google::protobuf::Message* message) {
  if (message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::OkStatus();
  }
  return NotParsed(bytes, message);
}

absl::Status ParseRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* message) {
  if (!bytes.Valid()) return errors::InvalidArgument("", "the call carried no message");
  // A small message usually arrives in one uncompressed slice: read it as the array it is,
  // without gRPC's stream reader over a copy of the buffer (~1,400 instructions a GetUser).
  if (grpc::Slice slice; bytes.TrySingleSlice(&slice).ok()) {
    return ParseRequest(
        absl::string_view(reinterpret_cast<const char*>(slice.begin()), slice.size()), message);
  }
  grpc::ByteBuffer reading(bytes);  // shares the slices; the parse consumes (clears) its buffer
  if (grpc::SerializationTraits<google::protobuf::Message>::Deserialize(&reading, message).ok()) {
    return absl::OkStatus();
  }
  return NotParsed(BytesOf(bytes), message);
}

grpc::Status SerializeResponse(const google::protobuf::Message& response, grpc::ByteBuffer* bytes) {
  bytes->Clear();  // gRPC's serializer writes only into an empty buffer
  bool own_buffer = false;
  if (!grpc::SerializationTraits<google::protobuf::Message>::Serialize(response, bytes, &own_buffer)
           .ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "the response could not be serialized");
  }
  return grpc::Status::OK;
}

std::string BytesOf(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

}  // namespace hermes::api
