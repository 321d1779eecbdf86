#include "tests/load/json_body.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "libs/errors/utf8.h"

namespace hermes::load {
namespace {

// The length of the placeholder `text` starts with, 0 if none.
size_t PlaceholderAt(absl::string_view text) {
  for (absl::string_view placeholder : {kCounterPlaceholder, kValuePlaceholder}) {
    if (absl::StartsWith(text, placeholder)) return placeholder.size();
  }
  return 0;
}

}  // namespace

size_t CountPlaceholders(absl::string_view text) {
  return SplitAtPlaceholders(text, kCounterPlaceholder, kValuePlaceholder).holes.size();
}

std::string ReplacePlaceholders(absl::string_view text, absl::string_view counter,
                                absl::string_view value) {
  return absl::StrReplaceAll(text, {{kCounterPlaceholder, counter}, {kValuePlaceholder, value}});
}

TextPieces SplitAtPlaceholders(absl::string_view text, absl::string_view counter_token,
                               absl::string_view value_token) {
  TextPieces pieces;
  size_t literal_start = 0;
  for (size_t at = 0; at < text.size();) {
    const absl::string_view rest = text.substr(at);
    Placeholder hole;
    size_t length;
    if (absl::StartsWith(rest, counter_token)) {
      hole = Placeholder::kCounter;
      length = counter_token.size();
    } else if (absl::StartsWith(rest, value_token)) {
      hole = Placeholder::kValue;
      length = value_token.size();
    } else {
      ++at;
      continue;
    }
    pieces.literals.emplace_back(text.substr(literal_start, at - literal_start));
    pieces.holes.push_back(hole);
    at += length;
    literal_start = at;
  }
  pieces.literals.emplace_back(text.substr(literal_start));
  return pieces;
}

void AppendFilled(const TextPieces& pieces, uint64_t n, absl::string_view value, std::string* out) {
  const absl::AlphaNum number(n);  // formatted on the stack
  out->append(pieces.literals[0]);
  for (size_t i = 0; i < pieces.holes.size(); ++i) {
    const absl::string_view filled =
        pieces.holes[i] == Placeholder::kCounter ? number.Piece() : value;
    out->append(filled.data(), filled.size());
    out->append(pieces.literals[i + 1]);
  }
}

absl::StatusOr<std::vector<std::string>> ParseValues(absl::string_view contents) {
  if (absl::EndsWith(contents, "\n")) contents.remove_suffix(1);
  if (contents.empty()) return absl::InvalidArgumentError("--values_file: the file has no value");
  std::vector<std::string> values;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
    const size_t number = values.size() + 1;
    if (line.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--values_file: line ", number, " is empty (one value a line)"));
    }
    for (char c : line) {
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return absl::InvalidArgumentError(
            absl::StrCat("--values_file: line ", number,
                         " holds '\"', '\\' or a control character; values go into the JSON as "
                         "they are"));
      }
    }
    if (!errors::IsValidUtf8(line)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--values_file: line ", number, " is not valid UTF-8"));
    }
    values.emplace_back(line);
  }
  return values;
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
    if (const size_t placeholder = PlaceholderAt(trimmed.substr(i)); placeholder > 0) {
      i += placeholder - 1;
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
