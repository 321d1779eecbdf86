#include "tests/load/request_template.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/support/slice.h>

#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/load/json_body.h"

namespace hermes::load {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Stands in for `{{n}}` in the parse-once path: letters only, so it is valid inside any JSON
// string and invalid anywhere else (which sends such bodies to the per-call JSON path).
constexpr absl::string_view kMarker = "hermesLoadCounterMarker";

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
// holds kMarker; `markers` counts the occurrences found.
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
        const std::vector<std::string> parts = SplitAtCounter(value, kMarker);
        if (parts.size() > 1) {
          slots->push_back({*path, parts});
          *markers += parts.size() - 1;
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

absl::StatusOr<RequestTemplate::MessageTemplate> BuildMessage(const Descriptor& type,
                                                              std::string json) {
  RequestTemplate::MessageTemplate built;
  built.json = std::move(json);
  const size_t counters = CountCounterPlaceholders(built.json);
  std::unique_ptr<Message> message = NewMessage(type);
  if (counters == 0) {
    if (absl::Status status = ParseJson(built.json, message.get()); !status.ok()) return status;
    built.fixed = Serialize(*message);
    return built;
  }
  built.has_counter = true;
  // Valid with a number in place of {{n}}: any n is then valid too (only digits change).
  if (absl::Status status = ParseJson(ReplaceCounter(built.json, "0"), message.get());
      !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(status.message(), " (with {{n}} replaced by 0)"));
  }
  if (ParseJson(ReplaceCounter(built.json, kMarker), message.get()).ok()) {
    std::vector<RequestTemplate::FieldStep> path;
    std::vector<RequestTemplate::StringSlot> slots;
    size_t markers = 0;
    FindMarkedStrings(*message, &path, &slots, &markers);
    if (markers == counters) {  // every {{n}} is inside a string value: parse once
      built.slots = std::move(slots);
      built.with_marker = std::move(message);
      return built;
    }
  }
  built.json_parts = SplitAtCounter(built.json, kCounterPlaceholder);
  return built;
}

// Sets the string at the end of `slot.path` in `root` to its parts joined by `n`.
void FillSlot(const RequestTemplate::StringSlot& slot, uint64_t n, Message* root,
              std::string* text) {
  Message* message = root;
  for (size_t i = 0; i + 1 < slot.path.size(); ++i) {
    const RequestTemplate::FieldStep& step = slot.path[i];
    const Reflection* reflection = message->GetReflection();
    message = step.index < 0 ? reflection->MutableMessage(message, step.field)
                             : reflection->MutableRepeatedMessage(message, step.field, step.index);
  }
  text->clear();
  AppendWithCounter(slot.parts, n, text);
  const RequestTemplate::FieldStep& leaf = slot.path.back();
  if (leaf.index < 0) {
    message->GetReflection()->SetString(message, leaf.field, *text);
  } else {
    message->GetReflection()->SetRepeatedString(message, leaf.field, leaf.index, *text);
  }
}

}  // namespace

absl::StatusOr<RequestTemplate> RequestTemplate::Create(const Descriptor& type,
                                                        absl::string_view json, bool allow_stream) {
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
  for (size_t i = 0; i < body->messages.size(); ++i) {
    absl::StatusOr<MessageTemplate> message = BuildMessage(type, body->messages[i]);
    if (!message.ok()) {
      const std::string which = body->is_array
                                    ? absl::StrCat("message ", i + 1, " of ", body->messages.size(),
                                                   " (", type.full_name(), ")")
                                    : std::string(type.full_name());
      return absl::InvalidArgumentError(
          absl::StrCat("--data: ", which, " is not valid: ", message.status().message()));
    }
    request.has_counter_ = request.has_counter_ || message->has_counter;
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
    } else if (message.has_counter) {
      scratch = NewMessage(*request.type_);
    }
    scratch_.push_back(std::move(scratch));
  }
}

absl::StatusOr<const std::vector<grpc::ByteBuffer>*> RequestRenderer::Render(uint64_t n) {
  if (!request_.has_counter_) return &rendered_;
  for (size_t i = 0; i < request_.messages_.size(); ++i) {
    const RequestTemplate::MessageTemplate& message = request_.messages_[i];
    if (!message.has_counter) continue;
    Message* scratch = scratch_[i].get();
    if (!message.slots.empty()) {
      for (const RequestTemplate::StringSlot& slot : message.slots) {
        FillSlot(slot, n, scratch, &text_);
      }
    } else {
      text_.clear();
      AppendWithCounter(message.json_parts, n, &text_);
      if (absl::Status status = ParseJson(text_, scratch); !status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("request with {{n}}=", n, " is not valid: ", status.message()));
      }
    }
    rendered_[i] = Serialize(*scratch);
  }
  return &rendered_;
}

}  // namespace hermes::load
