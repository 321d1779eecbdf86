// Strict UTF-8 checks for request validation.
//
// API.md counts lengths in Unicode code points and answers INVALID_ARGUMENT for invalid UTF-8,
// so validators check both at once:
//
//   std::optional<size_t> length = hermes::errors::CodePointCount(request.display_name());
//   if (!length) return InvalidArgument("display_name", "must be valid UTF-8");
//   if (*length < 1 || *length > 100) return InvalidArgument("display_name", "1-100 characters");
//
// "Valid" is the Unicode standard's well-formed UTF-8 (Table 3-7): no overlong encodings, no
// surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequences. NUL is a valid
// code point. This is also what protobuf's proto3 parser demands of string fields, so text
// that passes here can be echoed back in a response without breaking the client's parser.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace hermes::errors {

// True when `text` is well-formed UTF-8 (the empty string is).
bool IsValidUtf8(absl::string_view text);

// The number of code points in `text`, or nullopt when it is not well-formed UTF-8.
std::optional<size_t> CodePointCount(absl::string_view text);

// The code points of `text`, or nullopt when it is not well-formed UTF-8: for checks of what
// the characters are (control characters, white space), not only how many.
std::optional<std::vector<char32_t>> CodePoints(absl::string_view text);

// `text` with every ill-formed sequence replaced by U+FFFD, one replacement per maximal
// ill-formed subpart (Unicode's recommended practice, the same as browsers and Go). Returns
// `text` unchanged when it is already valid. For putting untrusted bytes into proto strings
// and logs; validation should reject instead.
std::string ToValidUtf8(absl::string_view text);

}  // namespace hermes::errors
