// RequestTemplate: the request messages of one call, built from the --data JSON once at start-up;
// RequestRenderer: one worker thread's way of turning it into serialized messages per call.
//
// A body without placeholders is serialized once and every call sends the same bytes (a
// ByteBuffer copy is a reference count). With `{{n}}` (the call's number) or `{{value}}` (line
// n % count of --values_file) the text changes per call; parsing JSON per call is slow
// (protobuf's JSON parser costs microseconds), so when every placeholder sits inside string
// values (the usual `"email":"u{{n}}@bench.test"`), the body is parsed once with markers in
// their place, the string fields holding a marker are remembered, and a call only sets those
// strings and serializes. Elsewhere (`"quantity": {{n}}`, an enum name) the JSON is
// substituted and parsed per call.
//
//   absl::StatusOr<RequestTemplate> body =
//       RequestTemplate::Create(*input_type, json, /*allow_stream=*/false, /*values=*/{});
//   RequestRenderer renderer(*body);                              // per worker thread
//   absl::StatusOr<const std::vector<grpc::ByteBuffer>*> messages = renderer.Render(n);
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tests/load/json_body.h"

namespace hermes::load {

class RequestTemplate {
 public:
  // `json`: one object, or when `allow_stream` a JSON array whose elements are the messages of
  // one stream (an object is then a stream of one message). `{{n}}` and `{{value}}` may appear
  // anywhere; `{{value}}` needs `values` (ParseValues), and `values` needs a
  // `{{value}}`. Errors name the message (index and type) and carry protobuf's own description.
  static absl::StatusOr<RequestTemplate> Create(const google::protobuf::Descriptor& type,
                                                absl::string_view json, bool allow_stream,
                                                std::vector<std::string> values);

  size_t message_count() const { return messages_.size(); }
  // Whether calls differ: each then takes its own number from the run's counter.
  bool varies_per_call() const { return varies_per_call_; }

  // Where a string field holding a marker sits: the message fields leading to it (index -1 for
  // a singular field), and its value cut at each marker.
  struct FieldStep {
    const google::protobuf::FieldDescriptor* field;
    int index;
  };
  struct StringSlot {
    std::vector<FieldStep> path;  // the last step is the string field itself
    TextPieces pieces;
  };
  struct MessageTemplate {
    std::string json;        // as given, with its placeholders
    grpc::ByteBuffer fixed;  // serialized once: no placeholder
    bool varies = false;
    std::shared_ptr<const google::protobuf::Message> with_marker;  // slot path: parsed once
    std::vector<StringSlot> slots;                                 // empty: per-call JSON
    TextPieces json_pieces;                                        // json cut at placeholders
  };

 private:
  friend class RequestRenderer;
  const google::protobuf::Descriptor* type_ = nullptr;
  std::vector<MessageTemplate> messages_;
  std::vector<std::string> values_;
  bool varies_per_call_ = false;
};

// Not thread-safe: one per worker thread. The template must outlive it.
class RequestRenderer {
 public:
  explicit RequestRenderer(const RequestTemplate& request);

  // The serialized messages of call number `n` (ignored when calls do not vary); valid until
  // the next call to Render.
  absl::StatusOr<const std::vector<grpc::ByteBuffer>*> Render(uint64_t n);

 private:
  const RequestTemplate& request_;
  std::vector<grpc::ByteBuffer> rendered_;
  std::vector<std::unique_ptr<google::protobuf::Message>> scratch_;  // per message, reused
  std::string text_;                                                 // reused
};

}  // namespace hermes::load
