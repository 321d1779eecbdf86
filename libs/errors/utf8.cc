#include "libs/errors/utf8.h"

namespace hermes::errors {
namespace {

// One step of decoding: how many bytes the sequence at the front of the text occupies and
// whether they form a code point. An invalid step covers the maximal subpart, i.e. the bytes
// that could still have begun a valid sequence (at least one), so that ToValidUtf8 resumes
// where a fresh sequence might start.
struct Sequence {
  size_t length;
  bool valid;
};

Sequence NextSequence(absl::string_view text) {
  const auto byte = [text](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {1, true};

  // Table 3-7 of the Unicode standard. The narrowed range of the first continuation byte is
  // what excludes overlongs (E0, F0), surrogates (ED) and code points above U+10FFFF (F4);
  // C0, C1 and F5..FF never start a sequence.
  size_t continuations = 0;
  unsigned char first_min = 0x80;
  unsigned char first_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuations = 1;
  } else if (lead == 0xE0) {
    continuations = 2;
    first_min = 0xA0;
  } else if (lead == 0xED) {
    continuations = 2;
    first_max = 0x9F;
  } else if (lead >= 0xE1 && lead <= 0xEF) {
    continuations = 2;
  } else if (lead == 0xF0) {
    continuations = 3;
    first_min = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    continuations = 3;
  } else if (lead == 0xF4) {
    continuations = 3;
    first_max = 0x8F;
  } else {
    return {1, false};
  }

  for (size_t i = 1; i <= continuations; ++i) {
    if (i >= text.size()) return {i, false};  // truncated
    const unsigned char min = i == 1 ? first_min : 0x80;
    const unsigned char max = i == 1 ? first_max : 0xBF;
    if (byte(i) < min || byte(i) > max) return {i, false};
  }
  return {continuations + 1, true};
}

}  // namespace

bool IsValidUtf8(absl::string_view text) { return CodePointCount(text).has_value(); }

std::optional<size_t> CodePointCount(absl::string_view text) {
  size_t count = 0;
  while (!text.empty()) {
    const Sequence sequence = NextSequence(text);
    if (!sequence.valid) return std::nullopt;
    text.remove_prefix(sequence.length);
    ++count;
  }
  return count;
}

std::optional<std::vector<char32_t>> CodePoints(absl::string_view text) {
  std::vector<char32_t> points;
  points.reserve(text.size());
  while (!text.empty()) {
    const Sequence sequence = NextSequence(text);
    if (!sequence.valid) return std::nullopt;
    const auto lead = static_cast<unsigned char>(text[0]);
    // The lead byte's payload bits (7, 5, 4 or 3 of them), then 6 from each continuation.
    char32_t point = sequence.length == 1 ? lead : lead & (0x7F >> sequence.length);
    for (size_t i = 1; i < sequence.length; ++i) {
      point = point << 6 | (static_cast<unsigned char>(text[i]) & 0x3F);
    }
    points.push_back(point);
    text.remove_prefix(sequence.length);
  }
  return points;
}

std::string ToValidUtf8(absl::string_view text) {
  std::string result;
  result.reserve(text.size());
  while (!text.empty()) {
    const Sequence sequence = NextSequence(text);
    if (sequence.valid) {
      result.append(text.data(), sequence.length);
    } else {
      result.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
    }
    text.remove_prefix(sequence.length);
  }
  return result;
}

}  // namespace hermes::errors
