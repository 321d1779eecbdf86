#include "tests/load/json_body.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace hermes::load {

size_t CountCounterPlaceholders(absl::string_view text) {
  size_t count = 0;
  for (size_t at = text.find(kCounterPlaceholder); at != absl::string_view::npos;
       at = text.find(kCounterPlaceholder, at + kCounterPlaceholder.size())) {
    ++count;
  }
  return count;
}

std::string ReplaceCounter(absl::string_view text, absl::string_view replacement) {
  return absl::StrReplaceAll(text, {{kCounterPlaceholder, replacement}});
}

std::vector<std::string> SplitAtCounter(absl::string_view text, absl::string_view placeholder) {
  return absl::StrSplit(text, placeholder);
}

void AppendWithCounter(const std::vector<std::string>& parts, uint64_t n, std::string* out) {
  const absl::AlphaNum number(n);  // formatted on the stack
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out->append(number.data(), number.size());
    out->append(parts[i]);
  }
}

absl::StatusOr<JsonBody> SplitJsonBody(absl::string_view json) {
  JsonBody body;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(json);
  if (!absl::StartsWith(trimmed, "[")) {
    body.messages.emplace_back(trimmed);
    return body;
  }
  body.is_array = true;
  int depth = 0;  // nesting inside the top-level array
  bool in_string = false;
  size_t element_start = 1;
  auto take_element = [&](size_t end) {
    const absl::string_view element =
        absl::StripAsciiWhitespace(trimmed.substr(element_start, end - element_start));
    if (!element.empty()) body.messages.emplace_back(element);
    return !element.empty();
  };
  for (size_t i = 1; i < trimmed.size(); ++i) {
    const char c = trimmed[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (absl::StartsWith(trimmed.substr(i), kCounterPlaceholder)) {
      i += kCounterPlaceholder.size() - 1;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        ++depth;
        break;
      case '}':
        --depth;
        break;
      case ']':
        if (depth > 0) {
          --depth;
          break;
        }
        if (!take_element(i) && !body.messages.empty()) {
          return absl::InvalidArgumentError("--data: an empty element before ']'");
        }
        if (i + 1 != trimmed.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("--data: text after the closing ']' of the array: \"",
                           trimmed.substr(i + 1, 20), "\""));
        }
        return body;
      case ',':
        if (depth == 0) {
          if (!take_element(i)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "--data: an empty element in the array (message ", body.messages.size() + 1, ")"));
          }
          element_start = i + 1;
        }
        break;
      default:
        break;
    }
  }
  return absl::InvalidArgumentError(in_string ? "--data: a string is not terminated"
                                              : "--data: the JSON array is not terminated");
}

}  // namespace hermes::load
