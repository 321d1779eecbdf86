// Identifiers for stored records: ids and version tokens that are unique without asking the
// database, opaque to clients and URL-safe.
//
// Both are written in lower-case Crockford base32 (0-9 a-z without i, l, o, u): no characters
// that need escaping in a URL or a file name, none that read alike, and the text sorts like the
// bytes. Randomness comes from the kernel (getrandom), so ids cannot be guessed from others.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hermes::storage {

// A 26-character id laid out like a ULID: 48 bits of `now` in Unix milliseconds, then 80
// random bits. Ids made in later milliseconds sort after earlier ones, so new rows land at the
// end of a primary-key index instead of at random places; within one millisecond they are in
// random order. UNAVAILABLE if the kernel has no randomness to give (never seen in practice).
absl::StatusOr<std::string> NewRecordId(absl::Time now);

// `bytes` random bytes as base32 (ceil(bytes * 8 / 5) characters): etags, tokens.
absl::StatusOr<std::string> NewRandomToken(size_t bytes);

// `data` as lower-case Crockford base32, big-endian, zero bits padded at the front so that
// every bit is used: 16 bytes give 26 characters whose first is 0-7, as in a ULID.
std::string Base32(absl::string_view data);

}  // namespace hermes::storage
