#include "libs/api/pagination.h"

#include <gtest/gtest.h>

#include "libs/errors/app_error.h"

namespace hermes::api {
namespace {

::common::v1::PageRequest Request(int32_t page, int32_t size) {
  ::common::v1::PageRequest request;
  request.set_page(page);
  request.set_page_size(size);
  return request;
}

TEST(ResolvePageTest, Zeroes_MeanFirstPageOfTwenty) {
  auto page = ResolvePage(Request(0, 0));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->page, 1);
  EXPECT_EQ(page->page_size, 20);
  EXPECT_EQ(page->offset, 0);
}

TEST(ResolvePageTest, SizeAboveHundred_IsClamped) {
  auto page = ResolvePage(Request(3, 1000));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->page_size, 100);
  EXPECT_EQ(page->offset, 200);
}

TEST(ResolvePageTest, Negatives_AreInvalidArgumentNamingTheField) {
  auto page = ResolvePage(Request(-1, 10));
  ASSERT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(errors::FieldOf(page.status()), "page.page");
  auto size = ResolvePage(Request(1, -5));
  ASSERT_EQ(size.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(errors::FieldOf(size.status()), "page.page_size");
}

TEST(ResolvePageTest, HugePage_OffsetDoesNotOverflow) {
  auto page = ResolvePage(Request(2147483647, 100));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->offset, int64_t{2147483646} * 100);
}

TEST(PageResponseForTest, HasNext_OnlyWhenMoreRemain) {
  const Page second{.page = 2, .page_size = 10, .offset = 10};
  EXPECT_TRUE(PageResponseFor(second, 21).has_next());
  EXPECT_FALSE(PageResponseFor(second, 20).has_next());
  const auto response = PageResponseFor(second, 20);
  EXPECT_EQ(response.total(), 20);
  EXPECT_EQ(response.page(), 2);
  EXPECT_EQ(response.page_size(), 10);
}

}  // namespace
}  // namespace hermes::api
