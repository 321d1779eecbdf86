#include "libs/interceptor/waiting_bound.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>

namespace hermes::interceptor {
namespace {

TEST(WaitingBoundTest, AdmitsUpToTheLimit_RefusesBeyond_AdmitsAgainOnceAPlaceIsBack) {
  WaitingBound bound(2);
  std::shared_ptr<WaitingBound::Place> first = bound.Admit();
  std::shared_ptr<WaitingBound::Place> second = bound.Admit();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(bound.Admit(), nullptr);
  EXPECT_EQ(bound.Waiting(), 2) << "a refusal holds no place";

  first->Release();
  EXPECT_EQ(bound.Waiting(), 1);
  EXPECT_NE(bound.Admit(), nullptr);  // and dropped at once: back to 1
  EXPECT_EQ(bound.Waiting(), 1);
}

// The callbacks that hold a place are copied (std::function): the place goes back once, on
// Release or with the last copy, whichever comes first.
TEST(WaitingBoundTest, PlaceSharedByCopies_GivenBackOnce) {
  WaitingBound bound(1);
  std::function<void()> answer = [place = bound.Admit()] { place->Release(); };
  std::function<void()> copy = answer;
  EXPECT_EQ(bound.Waiting(), 1);
  answer();
  copy();  // a second Release
  EXPECT_EQ(bound.Waiting(), 0);
  answer = nullptr;
  copy = nullptr;  // and the last copy's destruction
  EXPECT_EQ(bound.Waiting(), 0);

  std::function<void()> never_run = [place = bound.Admit()] { place->Release(); };
  std::function<void()> its_copy = never_run;
  never_run = nullptr;
  EXPECT_EQ(bound.Waiting(), 1) << "given back while a copy still holds it";
  its_copy = nullptr;
  EXPECT_EQ(bound.Waiting(), 0);
}

TEST(WaitingBoundTest, Overloaded_ResourceExhaustedSayingNothingWasDone) {
  const grpc::Status status = WaitingBound::Overloaded();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), kOverloaded);
}

}  // namespace
}  // namespace hermes::interceptor
