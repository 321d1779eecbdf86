// Request ids: the `x-request-id` header that ties together every log line of one request,
// across services. A caller's id is kept if it is sane (1–128 visible ASCII characters);
// otherwise the server makes one. The server chain returns it in the response headers and
// the client chain passes it on to the next service.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace hermes::interceptor {

inline constexpr char kRequestIdHeader[] = "x-request-id";

bool IsValidRequestId(absl::string_view id);

// A random UUIDv4-formatted id (36 characters).
std::string NewRequestId();

}  // namespace hermes::interceptor
