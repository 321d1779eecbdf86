// CreateUser is answered from the store's commit thread (UserStore::CreateThen): a create
// waiting for its commit holds no thread, and beyond max_creates_waiting of them a create is
// refused at once. Over a real socket, on a real SQLite file whose write lock the test holds
// from a second connection, as another process would: the commit then waits for it.
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/interceptor/handler_pool.h"
#include "libs/runtime/grpc_server.h"
#include "libs/storage/sqlite_database.h"
#include "services/user/sqlite_user_store.h"
#include "services/user/user_service.h"
#include "tests/support/loopback_server.h"
#include "tests/unit/services/user/forwarding_store.h"

namespace hermes::user {
namespace {

using ::hermes::testing::StartLoopbackServer;
using ::hermes::testing::StubTo;
using ::user::v1::CreateUserRequest;
using ::user::v1::CreateUserResponse;

// The real store, counting the creates handed to it.
class CountingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  int creates_handed_on() const { return creates_.load(); }

  void CreateThen(const NewUser& user, Abandoned abandoned, CreateDone done) override {
    ++creates_;
    ForwardingStore::CreateThen(user, std::move(abandoned), std::move(done));
  }

 private:
  std::atomic<int> creates_{0};
};

class CreateUserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "create_user_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    // Long enough that no commit gives up on the lock while a test holds it.
    absl::StatusOr<std::unique_ptr<SqliteUserStore>> sqlite =
        SqliteUserStore::Open(dir_ + "/user.db", {.busy_timeout = absl::Seconds(60)});
    ASSERT_TRUE(sqlite.ok()) << sqlite.status();
    store_ = std::make_unique<CountingStore>(*std::move(sqlite));
  }
  void StartServer(int max_creates_waiting) {
    service_ =
        std::make_unique<UserServiceImpl>(*store_, fanout_, WatchOptions{}, max_creates_waiting);
    server_ = StartLoopbackServer(service_.get(), "user.v1.UserService");
    ASSERT_NE(server_, nullptr);
    stub_ = StubTo<::user::v1::UserService>(*server_);
  }
  void TearDown() override {
    // A test that failed half-way may still hold the lock and have creates in flight: let them
    // end (their callbacks use creates_) before the server goes.
    lock_holder_.reset();
    creates_.AwaitAnswered(static_cast<int>(creates_.calls.size()));
    fanout_.Close();
    server_.reset();
    service_.reset();
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Takes the database's write lock, as another process's transaction would, until
  // ReleaseWriteLock.
  void HoldWriteLock() {
    absl::StatusOr<std::unique_ptr<storage::SqliteDatabase>> db =
        storage::SqliteDatabase::Open(dir_ + "/user.db", {});
    ASSERT_TRUE(db.ok()) << db.status();
    lock_holder_ = *std::move(db);
    ASSERT_TRUE(lock_holder_->Execute("BEGIN IMMEDIATE").ok());
  }
  void ReleaseWriteLock() { ASSERT_TRUE(lock_holder_->Execute("ROLLBACK").ok()); }

  // CreateUser calls in flight at once, on the stub's callback API.
  struct Creates {
    struct Call {
      grpc::ClientContext context;
      CreateUserRequest request;
      CreateUserResponse response;
      grpc::Status status;
    };
    std::vector<std::unique_ptr<Call>> calls;
    absl::Mutex mu;
    int answered ABSL_GUARDED_BY(mu) = 0;

    // Waits (at most 30 s) until `n` calls have been answered.
    bool AwaitAnswered(int n) {
      absl::MutexLock lock(&mu);
      auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return answered >= n; };
      return mu.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
    }
  };
  void Send(Creates& creates, int count, const std::string& prefix) {
    for (int i = 0; i < count; ++i) {
      auto call = std::make_unique<Creates::Call>();
      call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      call->request.set_email(absl::StrCat(prefix, i, "@example.com"));
      call->request.set_display_name("Waiting");
      Creates::Call* raw = call.get();
      creates.calls.push_back(std::move(call));
      stub_->async()->CreateUser(&raw->context, &raw->request, &raw->response,
                                 [&creates, raw](grpc::Status status) {
                                   raw->status = std::move(status);
                                   absl::MutexLock lock(&creates.mu);
                                   ++creates.answered;
                                 });
    }
  }
  // One CreateUser, waited for.
  grpc::Status CreateNow(const std::string& email) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    CreateUserRequest request;
    request.set_email(email);
    request.set_display_name("Now");
    CreateUserResponse response;
    return stub_->CreateUser(&context, request, &response);
  }
  // Waits (at most 30 s) until the store has been handed `n` creates.
  bool AwaitHandedOn(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (store_->creates_handed_on() < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return store_->creates_handed_on() >= n;
  }

  std::string dir_;
  std::unique_ptr<CountingStore> store_;
  UserEventFanout fanout_;
  std::unique_ptr<UserServiceImpl> service_;
  std::unique_ptr<runtime::GrpcServer> server_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
  std::unique_ptr<storage::SqliteDatabase> lock_holder_;
  Creates creates_;
};

// More creates wait for a commit than the handler pool has threads, and a ListUsers, which
// needs a pool thread, is still answered meanwhile. (When a create held a pool thread through
// its commit, 64 of them waiting left ListUsers queued until the commit could go on.)
TEST_F(CreateUserTest, CreatesWaitingForTheirCommit_HoldNoThread_ListUsersStillAnswered) {
  StartServer(kMaxCreatesWaiting);
  HoldWriteLock();
  constexpr int kCreates = interceptor::kDefaultHandlerThreads + 36;
  Creates& creates = creates_;
  Send(creates, kCreates, "w");
  ASSERT_TRUE(AwaitHandedOn(kCreates)) << store_->creates_handed_on() << " of " << kCreates;

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ::user::v1::ListUsersResponse page;
  const grpc::Status listed = stub_->ListUsers(&context, ::user::v1::ListUsersRequest(), &page);
  EXPECT_TRUE(listed.ok()) << listed.error_code() << " " << listed.error_message();
  {
    absl::MutexLock lock(&creates.mu);
    EXPECT_EQ(creates.answered, 0) << "a create was answered before its commit could run";
  }

  ReleaseWriteLock();
  ASSERT_TRUE(creates.AwaitAnswered(kCreates));
  for (const auto& call : creates.calls) {
    EXPECT_TRUE(call->status.ok()) << call->status.error_message();
    EXPECT_EQ(call->response.user().email(), call->request.email());
  }
  EXPECT_EQ(store_->List({})->total, kCreates);
}

// Beyond max_creates_waiting creates waiting for their commit, a create is refused at once,
// having done nothing; once the waiting ones are answered, creates are admitted again.
TEST_F(CreateUserTest, TooManyCreatesWaiting_RefusedAtOnce_ResourceExhausted) {
  StartServer(/*max_creates_waiting=*/4);
  HoldWriteLock();
  Creates& creates = creates_;
  Send(creates, 10, "r");
  ASSERT_TRUE(creates.AwaitAnswered(6));
  ASSERT_TRUE(AwaitHandedOn(4));
  EXPECT_EQ(store_->creates_handed_on(), 4);
  int refused = 0;
  for (const auto& call : creates.calls) {
    if (call->status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) continue;
    ++refused;
    EXPECT_EQ(call->status.error_message(), interceptor::kOverloaded);
  }
  EXPECT_EQ(refused, 6);

  ReleaseWriteLock();
  ASSERT_TRUE(creates.AwaitAnswered(10));
  int created = 0;
  for (const auto& call : creates.calls) created += call->status.ok() ? 1 : 0;
  EXPECT_EQ(created, 4);
  EXPECT_EQ(store_->List({})->total, 4) << "a refused create wrote something";

  const grpc::Status status = CreateNow("after@example.com");
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// A create whose caller has gone while it waited for its batch is not committed for (as a
// call whose client had gone while it waited for a pool thread was never run): nothing is
// written, and the place it took is given back.
TEST_F(CreateUserTest, CallerGoneWhileTheCreateWaitedForItsCommit_NothingWritten) {
  StartServer(/*max_creates_waiting=*/1);
  HoldWriteLock();
  Send(creates_, 1, "gone");
  ASSERT_TRUE(AwaitHandedOn(1));
  creates_.calls[0]->context.TryCancel();
  // The server has seen the call end (its AsyncNotifyWhenDone), bounded.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (service_->unary_methods().EndsSeenForTesting() < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GE(service_->unary_methods().EndsSeenForTesting(), 1);

  ReleaseWriteLock();
  // Batches run in order: once a later create is answered, the cancelled one has been handled,
  // and its place is free again (the bound is 1).
  const absl::Time retry_until = absl::Now() + absl::Seconds(30);
  grpc::Status later = CreateNow("later@example.com");
  while (later.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && absl::Now() < retry_until) {
    absl::SleepFor(absl::Milliseconds(5));
    later = CreateNow("later@example.com");
  }
  EXPECT_TRUE(later.ok()) << later.error_message();
  ASSERT_TRUE(creates_.AwaitAnswered(1));
  EXPECT_EQ(creates_.calls[0]->status.error_code(), grpc::StatusCode::CANCELLED);
  const absl::StatusOr<UserPage> page = store_->List({.limit = 10});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->total, 1) << "the create of a caller that had gone was committed";
  EXPECT_EQ(page->users[0].email, "later@example.com");
}

}  // namespace
}  // namespace hermes::user
