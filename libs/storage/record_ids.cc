#include "libs/storage/record_ids.h"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "libs/errors/app_error.h"
#include "libs/telemetry/log.h"

namespace hermes::storage {
namespace {

constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

absl::Status FillRandom(char* data, size_t size) {
  size_t filled = 0;
  while (filled < size) {
    const ssize_t got = getrandom(data + filled, size - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      HERMES_LOG(spdlog::level::err, "getrandom failed").Str("error", std::strerror(errno));
      return errors::Error(absl::StatusCode::kUnavailable, "no randomness available");
    }
    filled += static_cast<size_t>(got);
  }
  return absl::OkStatus();
}

}  // namespace

std::string Base32(absl::string_view data) {
  const size_t bits = data.size() * 8;
  const size_t chars = (bits + 4) / 5;
  std::string out;
  out.reserve(chars);
  // Start with the padding bits (zeros) already in the accumulator.
  uint32_t buffer = 0;
  size_t buffered = chars * 5 - bits;
  for (const char c : data) {
    buffer = (buffer << 8) | static_cast<uint8_t>(c);
    buffered += 8;
    while (buffered >= 5) {
      buffered -= 5;
      out.push_back(kAlphabet[(buffer >> buffered) & 0x1f]);
    }
  }
  return out;  // chars * 5 == padding + bits: nothing is left over
}

absl::StatusOr<std::string> NewRecordId(absl::Time now) {
  std::array<char, 16> bytes;
  const uint64_t millis = static_cast<uint64_t>(absl::ToUnixMillis(now));
  for (int i = 0; i < 6; ++i) {
    bytes[static_cast<size_t>(i)] = static_cast<char>((millis >> (8 * (5 - i))) & 0xff);
  }
  if (absl::Status status = FillRandom(bytes.data() + 6, bytes.size() - 6); !status.ok()) {
    return status;
  }
  return Base32(absl::string_view(bytes.data(), bytes.size()));
}

absl::StatusOr<std::string> NewRandomToken(size_t bytes) {
  std::string random(bytes, '\0');
  if (absl::Status status = FillRandom(random.data(), random.size()); !status.ok()) return status;
  return Base32(random);
}

}  // namespace hermes::storage
