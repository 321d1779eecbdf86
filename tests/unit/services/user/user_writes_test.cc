// The user service's writes (CreateUser, UpdateUser, DeleteUser) are answered from the store's
// commit thread (UserStore::CreateThen, UpdateThen, DeleteThen): a write waiting for its commit
// holds no thread, and beyond max_writes_waiting of them a write is refused at once. Over a
// real socket, on a real SQLite file whose write lock the test holds from a second connection,
// as another process would: the commit then waits for it.
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/interceptor/handler_pool.h"
#include "libs/runtime/grpc_server.h"
#include "libs/storage/sqlite_database.h"
#include "services/user/sqlite_user_store.h"
#include "services/user/user_service.h"
#include "tests/support/calls_in_flight.h"
#include "tests/support/loopback_server.h"
#include "tests/unit/libs/storage/temp_database.h"
#include "tests/unit/services/user/forwarding_store.h"

namespace hermes::user {
namespace {

using ::hermes::testing::StartLoopbackServer;
using ::hermes::testing::StubTo;
using ::user::v1::CreateUserRequest;
using ::user::v1::CreateUserResponse;
using ::user::v1::DeleteUserRequest;
using ::user::v1::DeleteUserResponse;
using ::user::v1::UpdateUserRequest;
using ::user::v1::UpdateUserResponse;

// The real store, counting the writes handed to it.
class CountingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  int writes_handed_on() const { return writes_.load(); }

  void CreateThen(const NewUser& user, Abandoned abandoned, UserDone done) override {
    ++writes_;
    ForwardingStore::CreateThen(user, std::move(abandoned), std::move(done));
  }
  void UpdateThen(const UserUpdate& update, Abandoned abandoned, UserDone done) override {
    ++writes_;
    ForwardingStore::UpdateThen(update, std::move(abandoned), std::move(done));
  }
  void DeleteThen(absl::string_view id, Abandoned abandoned, StatusDone done) override {
    ++writes_;
    ForwardingStore::DeleteThen(id, std::move(abandoned), std::move(done));
  }

 private:
  std::atomic<int> writes_{0};
};

class UserWritesTest : public storage::TempDatabaseTest {
 protected:
  void SetUp() override {
    TempDatabaseTest::SetUp();
    // Long enough that no commit gives up on the lock while a test holds it.
    absl::StatusOr<std::unique_ptr<SqliteUserStore>> sqlite =
        SqliteUserStore::Open(Path(), {.busy_timeout = absl::Seconds(60)});
    ASSERT_TRUE(sqlite.ok()) << sqlite.status();
    store_ = std::make_unique<CountingStore>(*std::move(sqlite));
  }
  void StartServer(int max_writes_waiting) {
    service_ =
        std::make_unique<UserServiceImpl>(*store_, fanout_, WatchOptions{}, max_writes_waiting);
    server_ = StartLoopbackServer(service_.get(), "user.v1.UserService");
    ASSERT_NE(server_, nullptr);
    stub_ = StubTo<::user::v1::UserService>(*server_);
  }
  void TearDown() override {
    // A test that failed half-way may still hold the lock and have writes in flight: let them
    // end (their callbacks use calls_) before the server goes.
    lock_holder_.reset();
    calls_.AwaitAll();
    fanout_.Close();
    server_.reset();
    service_.reset();
    store_.reset();
    TempDatabaseTest::TearDown();
  }

  // Write calls in flight at once, on the stub's callback API; each call uses the request and
  // response of its kind.
  struct Call {
    grpc::ClientContext context;
    CreateUserRequest create;
    CreateUserResponse created;
    UpdateUserRequest update;
    UpdateUserResponse updated;
    DeleteUserRequest remove;
    DeleteUserResponse removed;
    grpc::Status status;
  };
  using Calls = testing::CallsInFlight<Call>;
  void SendCreates(int count, const std::string& prefix) {
    for (int i = 0; i < count; ++i) {
      auto [call, done] = calls_.Start();
      call->create.set_email(absl::StrCat(prefix, i, "@example.com"));
      call->create.set_display_name("Waiting");
      stub_->async()->CreateUser(&call->context, &call->create, &call->created, std::move(done));
    }
  }
  void SendUpdates(int count, const std::string& id, const std::string& prefix) {
    for (int i = 0; i < count; ++i) {
      auto [call, done] = calls_.Start();
      call->update.set_id(id);
      call->update.set_display_name(absl::StrCat(prefix, i));
      stub_->async()->UpdateUser(&call->context, &call->update, &call->updated, std::move(done));
    }
  }
  void SendDelete(const std::string& id) {
    auto [call, done] = calls_.Start();
    call->remove.set_id(id);
    stub_->async()->DeleteUser(&call->context, &call->remove, &call->removed, std::move(done));
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
  // A user created straight in the store (no write lock held).
  User CreateInStore(const std::string& email) {
    absl::StatusOr<User> user = store_->Create({.email = email, .display_name = "Before"});
    EXPECT_TRUE(user.ok()) << user.status();
    return user.ok() ? *user : User{};
  }
  // Waits (at most 30 s) until the store has been handed `n` writes in all.
  bool AwaitHandedOn(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (store_->writes_handed_on() < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return store_->writes_handed_on() >= n;
  }
  // Waits (at most 30 s) until the server has seen `n` calls end.
  bool AwaitEndsSeen(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (service_->unary_methods().EndsSeenForTesting() < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return service_->unary_methods().EndsSeenForTesting() >= n;
  }

  std::unique_ptr<CountingStore> store_;
  UserEventFanout fanout_;
  std::unique_ptr<UserServiceImpl> service_;
  std::unique_ptr<runtime::GrpcServer> server_;
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
  Calls calls_;
};

// More creates, and more updates, wait for a commit than the handler pool has threads, and a
// ListUsers, which needs a pool thread, is still answered meanwhile. (When a write held a pool
// thread through its commit, 64 of them waiting left ListUsers queued until the commit could
// go on.)
TEST_F(UserWritesTest, WritesWaitingForTheirCommit_HoldNoThread_ListUsersStillAnswered) {
  const User ada = CreateInStore("ada@example.com");
  StartServer(interceptor::kMaxWritesWaiting);
  HoldWriteLock();
  constexpr int kEach = interceptor::kDefaultHandlerThreads + 36;
  SendCreates(kEach, "w");
  SendUpdates(kEach, ada.id, "Ada ");
  ASSERT_TRUE(AwaitHandedOn(2 * kEach)) << store_->writes_handed_on() << " of " << 2 * kEach;

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ::user::v1::ListUsersResponse page;
  const grpc::Status listed = stub_->ListUsers(&context, ::user::v1::ListUsersRequest(), &page);
  EXPECT_TRUE(listed.ok()) << listed.error_code() << " " << listed.error_message();
  EXPECT_EQ(calls_.Answered(), 0) << "a write was answered before its commit could run";

  ReleaseWriteLock();
  ASSERT_TRUE(calls_.AwaitAnswered(2 * kEach));
  for (const auto& call : calls_.calls) {
    EXPECT_TRUE(call->status.ok()) << call->status.error_message();
    if (call->create.email().empty()) {
      EXPECT_EQ(call->updated.user().display_name(), call->update.display_name());
    } else {
      EXPECT_EQ(call->created.user().email(), call->create.email());
    }
  }
  EXPECT_EQ(store_->List({})->total, kEach + 1);
  // Every update was made, each with its event.
  EXPECT_EQ(store_->ReadEvents({.limit = 1000})->events.size(), 2u * kEach + 1);
}

// Beyond max_writes_waiting writes waiting for their commit, a write is refused at once,
// having done nothing; once the waiting ones are answered, writes are admitted again.
TEST_F(UserWritesTest, TooManyCreatesWaiting_RefusedAtOnce_ResourceExhausted) {
  StartServer(/*max_writes_waiting=*/4);
  HoldWriteLock();
  SendCreates(10, "r");
  ASSERT_TRUE(calls_.AwaitAnswered(6));
  ASSERT_TRUE(AwaitHandedOn(4));
  EXPECT_EQ(store_->writes_handed_on(), 4);
  int refused = 0;
  for (const auto& call : calls_.calls) {
    if (call->status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) continue;
    ++refused;
    EXPECT_EQ(call->status.error_message(), interceptor::kOverloaded);
  }
  EXPECT_EQ(refused, 6);

  ReleaseWriteLock();
  ASSERT_TRUE(calls_.AwaitAnswered(10));
  int created = 0;
  for (const auto& call : calls_.calls) created += call->status.ok() ? 1 : 0;
  EXPECT_EQ(created, 4);
  EXPECT_EQ(store_->List({})->total, 4) << "a refused create wrote something";

  const grpc::Status status = CreateNow("after@example.com");
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// Creates, updates and deletes count against one bound: with it taken by one of each, an
// update, a delete and a create are all refused, and change nothing.
TEST_F(UserWritesTest, UpdatesAndDeletesShareTheBound_RefusedBeyondIt_NothingChanged) {
  const User ada = CreateInStore("ada@example.com");
  const User bob = CreateInStore("bob@example.com");
  StartServer(/*max_writes_waiting=*/3);
  HoldWriteLock();
  SendCreates(1, "first");
  SendUpdates(1, ada.id, "Admitted ");
  SendDelete(bob.id);
  ASSERT_TRUE(AwaitHandedOn(3));
  SendUpdates(1, ada.id, "Refused ");
  SendDelete(ada.id);
  SendCreates(1, "refused");
  ASSERT_TRUE(calls_.AwaitAnswered(3));
  EXPECT_EQ(store_->writes_handed_on(), 3);
  for (int i = 3; i < 6; ++i) {
    EXPECT_EQ(calls_.calls[i]->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << i;
  }

  ReleaseWriteLock();
  ASSERT_TRUE(calls_.AwaitAnswered(6));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(calls_.calls[i]->status.ok())
        << i << " " << calls_.calls[i]->status.error_message();
  }
  absl::StatusOr<User> ada_now = store_->Get(ada.id);
  ASSERT_TRUE(ada_now.ok()) << "a refused delete deleted";
  EXPECT_EQ(ada_now->display_name, "Admitted 0") << "a refused update wrote";
  EXPECT_EQ(store_->Get(bob.id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->List({})->total, 2) << "ada and first0";
}

// A write whose caller has gone while it waited for its batch is not committed for (as a call
// whose client had gone while it waited for a pool thread was never run): nothing is written,
// and the place it took is given back. One create, one update and one delete.
TEST_F(UserWritesTest, CallerGoneWhileTheWriteWaitedForItsCommit_NothingWritten) {
  const User ada = CreateInStore("ada@example.com");
  const User bob = CreateInStore("bob@example.com");
  StartServer(/*max_writes_waiting=*/3);
  HoldWriteLock();
  SendCreates(1, "gone");
  SendUpdates(1, ada.id, "Gone ");
  SendDelete(bob.id);
  ASSERT_TRUE(AwaitHandedOn(3));
  for (const auto& call : calls_.calls) call->context.TryCancel();
  // The server has seen the calls end (their AsyncNotifyWhenDone), bounded.
  ASSERT_TRUE(AwaitEndsSeen(3));

  ReleaseWriteLock();
  // Each place is given back once its write's answer has been made: then the write is decided.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (service_->WritesWaitingForTesting() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(service_->WritesWaitingForTesting(), 0) << "a place was not given back";
  absl::StatusOr<User> ada_now = store_->Get(ada.id);
  ASSERT_TRUE(ada_now.ok());
  EXPECT_EQ(ada_now->display_name, "Before") << "the update of a caller that had gone was made";
  EXPECT_TRUE(store_->Get(bob.id).ok()) << "the delete of a caller that had gone was made";
  EXPECT_EQ(store_->List({})->total, 2) << "the create of a caller that had gone was made";
  EXPECT_EQ(store_->ReadEvents({.limit = 10})->events.size(), 2u) << "an event was written";
}

}  // namespace
}  // namespace hermes::user
