#include "libs/api/pagination.h"

#include "absl/strings/str_cat.h"
#include "libs/errors/app_error.h"

namespace hermes::api {

absl::StatusOr<Page> ResolvePage(const ::common::v1::PageRequest& request,
                                 absl::string_view field) {
  if (request.page() < 0) {
    return errors::InvalidArgument(absl::StrCat(field, ".page"), "page must not be negative");
  }
  if (request.page_size() < 0) {
    return errors::InvalidArgument(absl::StrCat(field, ".page_size"),
                                   "page_size must not be negative");
  }
  Page page;
  page.page = request.page() == 0 ? 1 : request.page();
  page.page_size = request.page_size() == 0             ? kDefaultPageSize
                   : request.page_size() > kMaxPageSize ? kMaxPageSize
                                                        : request.page_size();
  page.offset = (static_cast<int64_t>(page.page) - 1) * page.page_size;
  return page;
}

::common::v1::PageResponse PageResponseFor(const Page& page, int64_t total) {
  ::common::v1::PageResponse response;
  response.set_total(total);
  response.set_page(page.page);
  response.set_page_size(page.page_size);
  response.set_has_next(page.offset + page.page_size < total);
  return response;
}

}  // namespace hermes::api
