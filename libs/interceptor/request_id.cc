#include "libs/interceptor/request_id.h"

#include <cstdint>

#include "absl/random/random.h"

namespace hermes::interceptor {

bool IsValidRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

std::string NewRequestId() {
  // One generator per thread: seeded once, no lock on the hot path.
  thread_local absl::BitGen generator;
  // Two 64-bit draws, not sixteen 8-bit ones: each draw is a call into the generator.
  uint8_t bytes[16];
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = absl::Uniform<uint64_t>(generator);
    for (int i = 0; i < 8; ++i, bits >>= 8) bytes[half * 8 + i] = static_cast<uint8_t>(bits);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;  // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80;  // RFC 4122 variant
  // Written into a fixed buffer and copied once: 36 push_backs cost ~1,000 instructions.
  static constexpr char kHex[] = "0123456789abcdef";
  char id[36];
  char* out = id;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *out++ = '-';
    *out++ = kHex[bytes[i] >> 4];
    *out++ = kHex[bytes[i] & 0xf];
  }
  return std::string(id, sizeof(id));
}

}  // namespace hermes::interceptor
