// Pagination as API.md defines it for every List call (common.v1.PageRequest/PageResponse):
// page is 1-based (0 means 1), page_size 0 means 20 and is clamped to 100, negatives are
// INVALID_ARGUMENT naming `page.page` or `page.page_size`.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/v1/common.pb.h"

namespace hermes::api {

inline constexpr int32_t kDefaultPageSize = 20;
inline constexpr int32_t kMaxPageSize = 100;

struct Page {
  int32_t page = 1;
  int32_t page_size = kDefaultPageSize;
  int64_t offset = 0;  // (page - 1) * page_size, computed without overflow
};

// `field` is the request field that holds the PageRequest ("page" in both services).
absl::StatusOr<Page> ResolvePage(const ::common::v1::PageRequest& request,
                                 absl::string_view field = "page");

// The response half: the size actually used and whether a further page exists.
::common::v1::PageResponse PageResponseFor(const Page& page, int64_t total);

}  // namespace hermes::api
