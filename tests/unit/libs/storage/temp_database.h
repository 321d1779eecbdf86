// A fresh directory per test for database files, removed afterwards, and connections to them.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "libs/storage/sqlite_database.h"

namespace hermes::storage {

class TempDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "storage_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string Path(const std::string& name = "test.db") const { return dir_ + "/" + name; }

  // A connection to Path(), or a test failure and nullptr.
  std::unique_ptr<SqliteDatabase> OpenOrDie(const ConnectionOptions& options = {}) const {
    absl::StatusOr<std::unique_ptr<SqliteDatabase>> db = SqliteDatabase::Open(Path(), options);
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? *std::move(db) : nullptr;
  }

  // Takes Path()'s write lock, as another process's transaction would, until ReleaseWriteLock
  // (or the test's end): a store's commits then wait for it.
  void HoldWriteLock() {
    lock_holder_ = OpenOrDie();
    ASSERT_NE(lock_holder_, nullptr);
    ASSERT_TRUE(lock_holder_->Execute("BEGIN IMMEDIATE").ok());
  }
  void ReleaseWriteLock() {
    ASSERT_NE(lock_holder_, nullptr);
    ASSERT_TRUE(lock_holder_->Execute("ROLLBACK").ok());
  }

  std::string dir_;
  std::unique_ptr<SqliteDatabase> lock_holder_;  // HoldWriteLock's connection
};

}  // namespace hermes::storage
