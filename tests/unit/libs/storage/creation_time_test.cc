// NewCreatedAt: a new record's created_at comes after the newest one's, and a wall clock that is
// well behind it is reported to the operator, without flooding the log.
#include "libs/storage/creation_time.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "tests/support/captured_log.h"
#include "tests/unit/libs/storage/temp_database.h"

namespace hermes::storage {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kNewest[] = "SELECT MAX(created_at) FROM records";
const absl::Time kNewestTime = absl::FromUnixMicros(1'800'000'000'000'000);

class NewCreatedAtTest : public TempDatabaseTest {
 protected:
  void SetUp() override {
    TempDatabaseTest::SetUp();
    db_ = OpenOrDie();
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Execute("CREATE TABLE records (created_at INTEGER NOT NULL)").ok());
  }

  void Insert(absl::Time created_at) {
    ASSERT_TRUE(db_->Execute(absl::StrCat("INSERT INTO records VALUES (",
                                          absl::ToUnixMicros(created_at), ")"))
                    .ok());
  }

  absl::Time CreatedAt(absl::Time now) {
    absl::StatusOr<absl::Time> created_at = NewCreatedAt(
        *db_, kNewest, [](Statement&) {}, now);
    EXPECT_TRUE(created_at.ok()) << created_at.status();
    return created_at.value_or(absl::InfinitePast());
  }

  std::unique_ptr<SqliteDatabase> db_;
};

TEST_F(NewCreatedAtTest, NoRecordYet_IsTheClocksTime) {
  EXPECT_EQ(CreatedAt(kNewestTime), kNewestTime);
}

TEST_F(NewCreatedAtTest, ClockAheadOfTheNewest_IsTheClocksTime) {
  Insert(kNewestTime);
  EXPECT_EQ(CreatedAt(kNewestTime + absl::Microseconds(1)), kNewestTime + absl::Microseconds(1));
}

TEST_F(NewCreatedAtTest, ClockAtOrBehindTheNewest_IsOneMicrosecondAfterIt) {
  Insert(kNewestTime);
  EXPECT_EQ(CreatedAt(kNewestTime), kNewestTime + absl::Microseconds(1));
  EXPECT_EQ(CreatedAt(kNewestTime - absl::Hours(1)), kNewestTime + absl::Microseconds(1));
}

// A clock less than a second behind (the same microsecond, a slew) is routine and not logged; an
// hour behind is a warning saying how far and from what; the next records, still behind, add no
// line within the minute.
TEST_F(NewCreatedAtTest, ClockASecondOrMoreBehind_IsOneWarningAMinute) {
  const testing::CapturedLog log(spdlog::level::info);
  internal::ResetClockBehindLogForTesting();  // whatever the tests before it logged
  Insert(kNewestTime);

  CreatedAt(kNewestTime - absl::Milliseconds(999));
  EXPECT_EQ(log.Text(), "") << "less than a second behind is not worth a line";

  EXPECT_EQ(CreatedAt(kNewestTime - absl::Hours(1)), kNewestTime + absl::Microseconds(1));
  CreatedAt(kNewestTime - absl::Hours(1));
  Insert(kNewestTime + absl::Seconds(5));
  CreatedAt(kNewestTime - absl::Hours(1));
  const std::string text = log.Text();
  const std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(1)) << text;
  EXPECT_THAT(lines[0], HasSubstr(R"("level":"warning")"));
  EXPECT_THAT(lines[0], HasSubstr("the wall clock is behind the newest record"));
  EXPECT_THAT(lines[0], HasSubstr(R"("behind_ms":3600000)"));
  EXPECT_THAT(lines[0], HasSubstr(R"("newest_created_at":"2027-01-15T08:00:00Z")"));
}

}  // namespace
}  // namespace hermes::storage
