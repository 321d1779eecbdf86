// The text-level handling of a --data body, before protobuf sees it: the `{{n}}` placeholder
// and the split of a top-level JSON array into the messages of one stream.
//
// `{{n}}` is not JSON, so a body such as {"quantity": {{n}}} is only valid once substituted;
// the splitter steps over it as one token and never parses values itself (protobuf's JSON
// parser does that, per message, with its own error messages).
//
//   absl::StatusOr<JsonBody> body = SplitJsonBody(R"([{"order_id":"a"},{"order_id":"b"}])");
//   // body->is_array, body->messages == {R"({"order_id":"a"})", R"({"order_id":"b"})"}
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hermes::load {

inline constexpr absl::string_view kCounterPlaceholder = "{{n}}";

struct JsonBody {
  bool is_array = false;
  std::vector<std::string> messages;  // one element, the whole text, when not an array
};

// Splits a top-level array into its elements (whitespace-trimmed); anything else is one message.
// Fails on an unterminated array or string, or text after the array.
absl::StatusOr<JsonBody> SplitJsonBody(absl::string_view json);

// How often `{{n}}` occurs.
size_t CountCounterPlaceholders(absl::string_view text);

// `text` with every `{{n}}` replaced by `replacement`.
std::string ReplaceCounter(absl::string_view text, absl::string_view replacement);

// `text` cut at every `{{n}}`: parts.size() == CountCounterPlaceholders(text) + 1.
std::vector<std::string> SplitAtCounter(absl::string_view text, absl::string_view placeholder);

// Appends parts[0] n parts[1] n ... parts[k] to `out` (n in decimal).
void AppendWithCounter(const std::vector<std::string>& parts, uint64_t n, std::string* out);

}  // namespace hermes::load
