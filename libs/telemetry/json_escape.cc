#include "libs/telemetry/json_escape.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace hermes::telemetry {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
constexpr char kHexDigits[] = "0123456789abcdef";

// Bytes that end a run copied as is: control characters, '"', '\\' and every non-ASCII byte
// (checked for well-formed UTF-8). One table lookup a byte instead of four comparisons.
constexpr std::array<bool, 256> kStopsRun = [] {
  std::array<bool, 256> table{};
  for (int byte = 0; byte < 256; ++byte) {
    table[byte] = byte < 0x20 || byte == '"' || byte == '\\' || byte >= 0x80;
  }
  return table;
}();

// Whether any of the eight bytes of `block` stops a run (kStopsRun), a block at a time: a set
// high bit, a byte below 0x20 ("has less than" bit trick) or a '"' or '\\' ("has zero byte" on
// the block xor the character). Each trick is exact for whether some byte matches, which is all
// the scan asks; the byte loop then finds which.
bool BlockStopsRun(uint64_t block) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighBits = 0x8080808080808080ULL;
  const uint64_t quote = block ^ (kOnes * '"');
  const uint64_t backslash = block ^ (kOnes * '\\');
  const uint64_t control = (block - kOnes * 0x20) & ~block;
  const uint64_t has_quote = (quote - kOnes) & ~quote;
  const uint64_t has_backslash = (backslash - kOnes) & ~backslash;
  return ((block | control | has_quote | has_backslash) & kHighBits) != 0;
}

bool IsContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// The length of the well-formed UTF-8 sequence that starts at text[i], or 0 when it is
// ill-formed; in that case `*skip` is the length of the maximal ill-formed subpart (at least 1),
// which is replaced by a single U+FFFD. The ranges are Table 3-7 of the Unicode standard: the
// second byte's range depends on the lead byte so that overlong forms, surrogates and values
// above U+10FFFF are rejected without decoding.
size_t WellFormedLength(absl::string_view text, size_t i, size_t* skip) {
  const uint8_t lead = static_cast<uint8_t>(text[i]);
  size_t length = 0;
  uint8_t second_min = 0x80;
  uint8_t second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    *skip = 1;  // a stray continuation byte, C0/C1, or F5..FF
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    if (i + k >= text.size()) {
      *skip = k;
      return 0;
    }
    const uint8_t byte = static_cast<uint8_t>(text[i + k]);
    const bool ok = k == 1 ? (byte >= second_min && byte <= second_max) : IsContinuation(byte);
    if (!ok) {
      *skip = k;
      return 0;
    }
  }
  return length;
}

}  // namespace

void AppendJsonEscaped(absl::string_view text, std::string* out) {
  size_t i = 0;
  while (i < text.size()) {
    // Copy the longest run that needs no escaping in one append: the common case is plain ASCII.
    size_t run = i;
    for (uint64_t block; run + sizeof(block) <= text.size(); run += sizeof(block)) {
      std::memcpy(&block, text.data() + run, sizeof(block));
      if (BlockStopsRun(block)) break;
    }
    while (run < text.size() && !kStopsRun[static_cast<uint8_t>(text[run])]) ++run;
    out->append(text.data() + i, run - i);
    i = run;
    if (i == text.size()) break;

    const uint8_t byte = static_cast<uint8_t>(text[i]);
    if (byte == '"' || byte == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(byte));
      ++i;
    } else if (byte < 0x20) {
      out->append("\\u00");
      out->push_back(kHexDigits[byte >> 4]);
      out->push_back(kHexDigits[byte & 0xF]);
      ++i;
    } else {
      size_t skip = 0;
      const size_t length = WellFormedLength(text, i, &skip);
      if (length > 0) {
        out->append(text.data() + i, length);
        i += length;
      } else {
        out->append(kReplacement);
        i += skip;
      }
    }
  }
}

std::string JsonEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  AppendJsonEscaped(text, &out);
  return out;
}

}  // namespace hermes::telemetry
