// The text-level handling of a --data body, before protobuf sees it: the `{{n}}` and
// `{{value}}` placeholders and the split of a top-level JSON array into the messages of one
// stream.
//
// A placeholder is not JSON, so a body such as {"quantity": {{n}}} is only valid once
// substituted; the splitter steps over it as one token and never parses values itself (protobuf's
// JSON parser does that, per message, with its own error messages).
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

// The parts of a body that change per call: `{{n}}`, the call's number, and `{{value}}`, the
// line of --values_file that the call's number picks.
inline constexpr absl::string_view kCounterPlaceholder = "{{n}}";
inline constexpr absl::string_view kValuePlaceholder = "{{value}}";

enum class Placeholder { kCounter, kValue };

// A text cut at its placeholders: literals[0] holes[0] literals[1] ... holes[k-1] literals[k].
struct TextPieces {
  std::vector<std::string> literals;
  std::vector<Placeholder> holes;
};

struct JsonBody {
  bool is_array = false;
  std::vector<std::string> messages;  // one element, the whole text, when not an array
};

// Splits a top-level array into its elements (whitespace-trimmed); anything else is one message.
// Fails on an unterminated array or string, or text after the array.
absl::StatusOr<JsonBody> SplitJsonBody(absl::string_view json);

// How often `{{n}}` and `{{value}}` occur, together.
size_t CountPlaceholders(absl::string_view text);

// `text` with every `{{n}}` replaced by `counter` and every `{{value}}` by `value`.
std::string ReplacePlaceholders(absl::string_view text, absl::string_view counter,
                                absl::string_view value);

// `text` cut at every `counter_token` and `value_token` (the placeholders themselves, or markers
// standing in for them): holes.size() is how often they occur.
TextPieces SplitAtPlaceholders(absl::string_view text, absl::string_view counter_token,
                               absl::string_view value_token);

// Appends `pieces` to `out`, a counter hole as `n` in decimal, a value hole as `value`.
void AppendFilled(const TextPieces& pieces, uint64_t n, absl::string_view value, std::string* out);

// The values of --values_file: one a line, the last line's newline optional ("\r\n" too). Each
// is put into the JSON as it is, so an empty line, a value holding '"', '\' or a control
// character, or one that is not valid UTF-8, is an error naming its line; so is a file with no
// value.
absl::StatusOr<std::vector<std::string>> ParseValues(absl::string_view contents);

}  // namespace hermes::load
