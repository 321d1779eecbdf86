#include "tests/load/request_template.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/support/slice.h>

#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/load/json_body.h"

namespace hermes::load {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Stand in for `{{n}}` and `{{value}}` in the parse-once path: letters only, so they are valid
// inside any JSON string and invalid anywhere else (which sends such bodies to the per-call JSON
// path).
constexpr absl::string_view kCounterMarker = "hermesLoadCounterMarker";
constexpr absl::string_view kValueMarker = "hermesLoadValueMarker";

std::unique_ptr<Message> NewMessage(const Descriptor& type) {
  return std::unique_ptr<Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(&type)->New());
}

// Parses protobuf JSON into `message` (cleared first); unknown fields are errors.
absl::Status ParseJson(absl::string_view json, Message* message) {
  message->Clear();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message, options);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(std::string(status.message()));
}

grpc::ByteBuffer Serialize(const Message& message) {
  grpc::Slice slice(message.ByteSizeLong());
  message.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(slice.begin()));
  return grpc::ByteBuffer(&slice, 1);
}

// Every string field (at any depth, repeated elements and map entries included) whose value
// holds a marker; `markers` counts the occurrences found.
void FindMarkedStrings(const Message& message, std::vector<RequestTemplate::FieldStep>* path,
                       std::vector<RequestTemplate::StringSlot>* slots, size_t* markers) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const int size = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < size; ++i) {
      const int index = field->is_repeated() ? i : -1;
      path->push_back({field, index});
      if (field->type() == FieldDescriptor::TYPE_STRING) {
        const std::string value = index < 0 ? reflection->GetString(message, field)
                                            : reflection->GetRepeatedString(message, field, i);
        TextPieces pieces = SplitAtPlaceholders(value, kCounterMarker, kValueMarker);
        if (!pieces.holes.empty()) {
          *markers += pieces.holes.size();
          slots->push_back({*path, std::move(pieces)});
        }
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        FindMarkedStrings(index < 0 ? reflection->GetMessage(message, field)
                                    : reflection->GetRepeatedMessage(message, field, i),
                          path, slots, markers);
      }
      path->pop_back();
    }
  }
}

// `first_value`: the first of --values_file's values, "" without them.
absl::StatusOr<RequestTemplate::MessageTemplate> BuildMessage(const Descriptor& type,
                                                              std::string json,
                                                              absl::string_view first_value) {
  RequestTemplate::MessageTemplate built;
  built.json = std::move(json);
  const size_t placeholders = CountPlaceholders(built.json);
  std::unique_ptr<Message> message = NewMessage(type);
  if (placeholders == 0) {
    if (absl::Status status = ParseJson(built.json, message.get()); !status.ok()) return status;
    built.fixed = Serialize(*message);
    return built;
  }
  built.varies = true;
  // Valid with a number in place of {{n}}: any n is then valid too (only digits change). A
  // value other than the first may still fail: such a call is counted as INVALID_ARGUMENT.
  if (absl::Status status =
          ParseJson(ReplacePlaceholders(built.json, "0", first_value), message.get());
      !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(status.message(), " (with {{n}} replaced by 0",
                     first_value.empty() ? "" : " and {{value}} by the first value", ")"));
  }
  if (ParseJson(ReplacePlaceholders(built.json, kCounterMarker, kValueMarker), message.get())
          .ok()) {
    std::vector<RequestTemplate::FieldStep> path;
    std::vector<RequestTemplate::StringSlot> slots;
    size_t markers = 0;
    FindMarkedStrings(*message, &path, &slots, &markers);
    if (markers == placeholders) {  // every placeholder is inside a string value: parse once
      built.slots = std::move(slots);
      built.with_marker = std::move(message);
      return built;
    }
  }
  built.json_pieces = SplitAtPlaceholders(built.json, kCounterPlaceholder, kValuePlaceholder);
  return built;
}

// Sets the string at the end of `slot.path` in `root` to its pieces, filled for call `n`.
void FillSlot(const RequestTemplate::StringSlot& slot, uint64_t n, absl::string_view value,
              Message* root, std::string* text) {
  Message* message = root;
  for (size_t i = 0; i + 1 < slot.path.size(); ++i) {
    const RequestTemplate::FieldStep& step = slot.path[i];
    const Reflection* reflection = message->GetReflection();
    message = step.index < 0 ? reflection->MutableMessage(message, step.field)
                             : reflection->MutableRepeatedMessage(message, step.field, step.index);
  }
  text->clear();
  AppendFilled(slot.pieces, n, value, text);
  const RequestTemplate::FieldStep& leaf = slot.path.back();
  if (leaf.index < 0) {
    message->GetReflection()->SetString(message, leaf.field, *text);
  } else {
    message->GetReflection()->SetRepeatedString(message, leaf.field, leaf.index, *text);
  }
}

}  // namespace

absl::StatusOr<RequestTemplate> RequestTemplate::Create(const Descriptor& type,
                                                        absl::string_view json, bool allow_stream,
                                                        std::vector<std::string> values) {
  const bool wants_values = absl::StrContains(json, kValuePlaceholder);
  if (wants_values && values.empty()) {
    return absl::InvalidArgumentError(
        "--data has {{value}}, which takes its values from --values_file: give one");
  }
  if (!wants_values && !values.empty()) {
    return absl::InvalidArgumentError(
        "--values_file is given, but --data has no {{value}} to put its values in");
  }
  absl::StatusOr<JsonBody> body = SplitJsonBody(json);
  if (!body.ok()) return body.status();
  if (body->is_array && !allow_stream) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--data is a JSON array, which is for client-streaming and bidi methods (the messages "
        "of one stream); this method takes one ",
        type.full_name(), " object"));
  }
  RequestTemplate request;
  request.type_ = &type;
  request.values_ = std::move(values);
  const absl::string_view first_value =
      request.values_.empty() ? absl::string_view() : absl::string_view(request.values_[0]);
  for (size_t i = 0; i < body->messages.size(); ++i) {
    absl::StatusOr<MessageTemplate> message = BuildMessage(type, body->messages[i], first_value);
    if (!message.ok()) {
      const std::string which = body->is_array
                                    ? absl::StrCat("message ", i + 1, " of ", body->messages.size(),
                                                   " (", type.full_name(), ")")
                                    : std::string(type.full_name());
      return absl::InvalidArgumentError(
          absl::StrCat("--data: ", which, " is not valid: ", message.status().message()));
    }
    request.varies_per_call_ = request.varies_per_call_ || message->varies;
    request.messages_.push_back(*std::move(message));
  }
  return request;
}

RequestRenderer::RequestRenderer(const RequestTemplate& request) : request_(request) {
  for (const RequestTemplate::MessageTemplate& message : request.messages_) {
    rendered_.push_back(message.fixed);
    std::unique_ptr<Message> scratch;
    if (message.with_marker != nullptr) {
      scratch.reset(message.with_marker->New());
      scratch->CopyFrom(*message.with_marker);
    } else if (message.varies) {
      scratch = NewMessage(*request.type_);
    }
    scratch_.push_back(std::move(scratch));
  }
}

absl::StatusOr<const std::vector<grpc::ByteBuffer>*> RequestRenderer::Render(uint64_t n) {
  if (!request_.varies_per_call_) return &rendered_;
  const std::vector<std::string>& values = request_.values_;
  const absl::string_view value =
      values.empty() ? absl::string_view() : absl::string_view(values[n % values.size()]);
  for (size_t i = 0; i < request_.messages_.size(); ++i) {
    const RequestTemplate::MessageTemplate& message = request_.messages_[i];
    if (!message.varies) continue;
    Message* scratch = scratch_[i].get();
    if (!message.slots.empty()) {
      for (const RequestTemplate::StringSlot& slot : message.slots) {
        FillSlot(slot, n, value, scratch, &text_);
      }
    } else {
      text_.clear();
      AppendFilled(message.json_pieces, n, value, &text_);
      if (absl::Status status = ParseJson(text_, scratch); !status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("request with {{n}}=", n, values.empty() ? "" : " and {{value}}=",
                         values.empty() ? "" : value, " is not valid: ", status.message()));
      }
    }
    rendered_[i] = Serialize(*scratch);
  }
  return &rendered_;
}

}  // namespace hermes::load
