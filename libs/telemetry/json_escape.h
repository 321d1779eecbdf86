// JSON string escaping that always yields a parsable JSON string body.
//
// Log fields carry untrusted bytes (peer addresses, request fields, error messages), so the
// escaper must never produce a line that a log pipeline rejects:
//
//   std::string line = "{\"peer\":\"" + JsonEscape(peer) + "\"}";
//
// `"` and `\` are backslash-escaped, every control character below U+0020 is written as
// \u00XX, and each ill-formed UTF-8 subpart (overlong forms, surrogates, code points above
// U+10FFFF, stray continuation bytes, truncated sequences) becomes one U+FFFD, following the
// Unicode standard's recommended practice. Well-formed non-ASCII text is copied unchanged.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace hermes::telemetry {

// The escaped body of a JSON string (without the surrounding quotes).
std::string JsonEscape(absl::string_view text);

// Appends the escaped body of `text` to `*out`: lets a caller building a whole line escape in
// place instead of allocating a temporary per field.
void AppendJsonEscaped(absl::string_view text, std::string* out);

}  // namespace hermes::telemetry
