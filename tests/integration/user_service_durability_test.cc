// What hermes-user promises about its data and its event stream beyond one process's life and
// one well-behaved client, against the real binary over mTLS: a restart on the same data
// directory keeps users, etags and the event sequence, and resuming by sequence works across
// it; kill -9 during concurrent writes loses no acknowledged write and leaves no hole in the
// event log; pruned history is OUT_OF_RANGE; a stalled watcher is cut off (RESOURCE_EXHAUSTED)
// without slowing writers or other watchers; SIGTERM ends open streams with a resume hint.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/storage/sqlite_database.h"
#include "tests/integration/user_service_harness.h"
#include "tests/support/http.h"

namespace hermes::testing::user_service {
namespace {

using ::common::v1::ERROR_CODE_NOT_FOUND;
using ::common::v1::ERROR_CODE_UNSPECIFIED;

using UserServiceDurabilityTest = UserServiceTest;

TEST_F(UserServiceDurabilityTest,
       Restart_SameDataDir_UsersEtagsAndSequenceIntact_ResumeAcrossRestartExact) {
  ASSERT_TRUE(Start());
  User ada, bob, cy, dee;
  int64_t last_seen = 0;
  {
    const UserClient admin(Channel());
    WatchStream watch(Channel(), WatchAfter(0));
    watch.WaitForHeaders();
    ASSERT_TRUE(IsOk(admin.Create("ada@example.com", "Ada", &ada)));
    ASSERT_TRUE(IsOk(admin.Create("bob@example.com", "Bob", &bob)));
    ::user::v1::UpdateUserRequest rename;
    rename.set_id(ada.id());
    rename.set_display_name("Ada Lovelace");
    ASSERT_TRUE(IsOk(admin.Update(rename, &ada)));
    const std::vector<WatchUsersResponse> seen = watch.Take(3);
    ASSERT_EQ(seen.size(), 3u);
    last_seen = seen.back().sequence();
    ASSERT_EQ(last_seen, 3);
    watch.Cancel();
    // Committed after the last event the watcher saw, before the restart.
    ASSERT_TRUE(IsOk(admin.Create("cy@example.com", "Cy", &cy)));
    ASSERT_TRUE(IsOk(admin.Delete(bob.id())));
  }
  ASSERT_TRUE(Stop());
  ASSERT_TRUE(Start());

  const UserClient admin(Channel());
  User fetched;
  ASSERT_TRUE(IsOk(admin.Get(ada.id(), &fetched)));
  EXPECT_EQ(fetched.SerializeAsString(), ada.SerializeAsString())
      << fetched.ShortDebugString() << "\nvs before the restart\n"
      << ada.ShortDebugString();
  ASSERT_TRUE(IsOk(admin.Get(cy.id(), &fetched)));
  EXPECT_EQ(fetched.SerializeAsString(), cy.SerializeAsString());
  EXPECT_TRUE(
      IsAppError(admin.Get(bob.id()), grpc::StatusCode::NOT_FOUND, ERROR_CODE_NOT_FOUND, "id"));
  ::user::v1::ListUsersResponse list;
  ASSERT_TRUE(IsOk(admin.List({}, &list)));
  EXPECT_EQ(list.page().total(), 2);

  WatchStream resumed(Channel(), WatchAfter(last_seen));
  resumed.WaitForHeaders();
  ASSERT_TRUE(IsOk(admin.Create("dee@example.com", "Dee", &dee)));
  const std::vector<WatchUsersResponse> events = resumed.Take(3);
  ASSERT_EQ(events.size(), 3u) << IsOk(resumed.Finish()).message();
  EXPECT_EQ(events[0].sequence(), 4);
  EXPECT_EQ(events[0].type(), ::user::v1::USER_EVENT_TYPE_CREATED);
  EXPECT_EQ(events[0].user().id(), cy.id());
  EXPECT_EQ(events[1].sequence(), 5);
  EXPECT_EQ(events[1].type(), ::user::v1::USER_EVENT_TYPE_DELETED);
  EXPECT_EQ(events[1].user().id(), bob.id());
  EXPECT_EQ(events[2].sequence(), 6) << "the sequence continues across the restart";
  EXPECT_EQ(events[2].type(), ::user::v1::USER_EVENT_TYPE_CREATED);
  EXPECT_EQ(events[2].user().id(), dee.id());

  // The etag survived: it still guards updates.
  ::user::v1::UpdateUserRequest guarded;
  guarded.set_id(ada.id());
  guarded.set_etag(ada.etag());
  guarded.set_status(::user::v1::USER_STATUS_INACTIVE);
  EXPECT_TRUE(IsOk(admin.Update(guarded)));
}

TEST_F(UserServiceDurabilityTest,
       KillNine_DuringConcurrentCreates_AcknowledgedCreatesSurvive_EventLogHasNoHole) {
  ASSERT_TRUE(Start());
  {
    // Sequence 1, seen live, so that a replay after it covers every later event.
    WatchStream watch(Channel(), WatchAfter(0));
    watch.WaitForHeaders();
    ASSERT_TRUE(IsOk(UserClient(Channel()).Create("seed@example.com", "Seed")));
    const std::optional<WatchUsersResponse> first = watch.Next();
    ASSERT_TRUE(first.has_value());
    ASSERT_EQ(first->sequence(), 1);
  }

  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  constexpr size_t kKillAfter = 60;  // acknowledged creates before the kill
  std::mutex mutex;
  std::condition_variable acknowledged_more;
  std::vector<User> acknowledged;  // guarded by mutex
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      const UserClient client(Channel());
      for (int i = 0; i < kPerThread; ++i) {
        User user;
        if (!client.Create(absl::StrCat("w", t, "-", i, "@example.com"), "Writer", &user).ok()) {
          return;  // the server is gone
        }
        const std::lock_guard<std::mutex> lock(mutex);
        acknowledged.push_back(user);
        acknowledged_more.notify_all();
      }
    });
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    acknowledged_more.wait_for(lock, std::chrono::seconds(60),
                               [&] { return acknowledged.size() >= kKillAfter; });
  }
  server_->process().Signal(SIGKILL);
  for (std::thread& writer : writers) writer.join();
  const std::optional<int> killed = server_->process().WaitForExit(kExitTimeout);
  ASSERT_TRUE(killed.has_value());
  ASSERT_TRUE(WIFSIGNALED(*killed) && WTERMSIG(*killed) == SIGKILL)
      << "wait status " << *killed << "\n"
      << server_->Output();
  ASSERT_GE(acknowledged.size(), kKillAfter);
  ASSERT_LT(acknowledged.size(), size_t{kThreads * kPerThread})
      << "every create finished before the kill: the test did not kill mid-way";

  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  for (const User& user : acknowledged) {
    User fetched;
    EXPECT_TRUE(IsOk(admin.Get(user.id(), &fetched))) << "acknowledged create lost: " << user.id();
    EXPECT_EQ(fetched.email(), user.email());
  }

  // The whole log after sequence 1, then one live event: it must be 2..N, no hole, and hold
  // exactly the users that exist (creates committed but not acknowledged before the kill
  // included).
  WatchStream replay(Channel(), WatchAfter(1));
  replay.WaitForHeaders();
  User sentinel;
  ASSERT_TRUE(IsOk(admin.Create("sentinel@example.com", "Sentinel", &sentinel)));
  std::set<std::string> logged;
  int64_t expected_sequence = 2;
  while (true) {
    const std::optional<WatchUsersResponse> event = replay.Next();
    ASSERT_TRUE(event.has_value())
        << "the stream ended before the sentinel: " << IsOk(replay.Finish()).message();
    ASSERT_EQ(event->sequence(), expected_sequence) << "hole or disorder in the event log";
    ++expected_sequence;
    EXPECT_EQ(event->type(), ::user::v1::USER_EVENT_TYPE_CREATED);
    if (event->user().id() == sentinel.id()) break;
    logged.insert(event->user().id());
    ASSERT_LE(logged.size(), size_t{kThreads * kPerThread}) << "more events than creates";
  }
  for (const User& user : acknowledged) {
    EXPECT_TRUE(logged.count(user.id()) == 1) << "no event for acknowledged " << user.id();
  }
  for (const std::string& id : logged) {
    EXPECT_TRUE(IsOk(admin.Get(id))) << "an event without its user: " << id;
  }
  ::user::v1::ListUsersResponse list;
  ASSERT_TRUE(IsOk(admin.List({}, &list)));
  EXPECT_EQ(list.page().total(), static_cast<int64_t>(logged.size()) + 2)  // seed + sentinel
      << "users without their event";
}

TEST_F(UserServiceDurabilityTest, WatchUsers_AfterSequencePruned_OutOfRangeWithField) {
  ASSERT_TRUE(Start({"--event_retention=5"}));
  const absl::Time started = absl::Now();
  const UserClient admin(Channel());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(IsOk(admin.Create(absl::StrCat("old", i, "@example.com"), "Old")));
  }
  // The log is pruned every 10 s on the server's own timer (not configurable), so there is
  // nothing to wait on but the outcome: poll, bounded.
  const absl::Time deadline = started + absl::Seconds(20);
  grpc::Status status;
  while (true) {
    WatchStream watch(Channel(), WatchAfter(1), kCallTimeout);
    const std::optional<WatchUsersResponse> event = watch.Next();
    if (!event.has_value()) {
      status = watch.Finish();
      break;
    }
    ASSERT_EQ(event->sequence(), 2) << "not pruned yet: the replay starts after 1";
    ASSERT_LT(absl::Now(), deadline) << "events after 1 still retained 20 s after start with "
                                        "--event_retention=5\n"
                                     << server_->Output();
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(
      IsAppError(status, grpc::StatusCode::OUT_OF_RANGE, ERROR_CODE_UNSPECIFIED, "after_sequence"));

  // The 5 newest (16..20) are retained: resuming after 15 works, after 14 is too old.
  WatchStream tail(Channel(), WatchAfter(15));
  const std::vector<WatchUsersResponse> retained = tail.Take(5);
  ASSERT_EQ(retained.size(), 5u) << IsOk(tail.Finish()).message();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(retained[i].sequence(), 16 + i);
  WatchStream too_old(Channel(), WatchAfter(14));
  EXPECT_FALSE(too_old.Next().has_value());
  EXPECT_TRUE(IsAppError(too_old.Finish(), grpc::StatusCode::OUT_OF_RANGE, ERROR_CODE_UNSPECIFIED,
                         "after_sequence"));
}

// A user whose event is as large as API.md allows (254-character email, 100 four-byte code
// points), so that few events fill the transport's buffers.
std::string LargeEmail(int thread, int i) {
  std::string local = absl::StrCat("w", thread, "-", i, "-");
  local.resize(64, 'x');
  return absl::StrCat(local, "@", std::string(63, 'd'), ".", std::string(63, 'e'), ".",
                      std::string(57, 'f'), ".com");
}

std::string LargeDisplayName() {
  std::string name;
  for (int i = 0; i < 100; ++i) name += "😀";
  return name;
}

TEST_F(UserServiceDurabilityTest,
       SlowWatcher_BufferOverflows_ResourceExhausted_WritersAndOtherWatcherUnaffected) {
  ASSERT_TRUE(Start());
  // The stalled watcher is another client: its own connection, never read while writes go on.
  // Without BDP probing its receive window stays at HTTP/2's 64 KiB, so flow control stops the
  // server's writes to it after ~90 events and its 1024-event buffer (WatchOptions) overflows
  // well before kTotal; with probing, the client would absorb megabytes first.
  grpc::ChannelArguments own_connection;
  own_connection.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  own_connection.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  WatchStream stalled(
      grpc::CreateCustomChannel(server_->address(), SharedTestCa().ClientCredentials("admin"),
                                own_connection),
      WatchAfter(0));
  stalled.WaitForHeaders();
  WatchStream reading(Channel(), WatchAfter(0));
  reading.WaitForHeaders();

  constexpr int kThreads = 4;
  constexpr int kPerThread = 400;
  constexpr int kTotal = kThreads * kPerThread;
  std::vector<WatchUsersResponse> received;
  std::thread reader([&] { received = reading.Take(kTotal); });

  const std::string name = LargeDisplayName();
  std::atomic<int> failed_writes{0};
  const absl::Time writes_started = absl::Now();
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      const UserClient client(Channel());
      for (int i = 0; i < kPerThread; ++i) {
        if (!client.Create(LargeEmail(t, i), name).ok()) failed_writes.fetch_add(1);
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  const absl::Duration writes_took = absl::Now() - writes_started;
  reader.join();

  EXPECT_EQ(failed_writes.load(), 0);
  ASSERT_EQ(received.size(), size_t{kTotal})
      << "the reading watcher ended early: " << IsOk(reading.Finish()).message();
  for (int i = 0; i < kTotal; ++i) {
    ASSERT_EQ(received[i].sequence(), i + 1) << "the reading watcher missed or reordered";
  }

  // Now read the stalled one: what the transport buffered, then its end.
  int64_t last = 0;
  int stalled_received = 0;
  while (stalled_received < kTotal) {
    const std::optional<WatchUsersResponse> event = stalled.Next();
    if (!event.has_value()) break;
    ++stalled_received;
    ASSERT_EQ(event->sequence(), last + 1);
    last = event->sequence();
  }
  ASSERT_LT(stalled_received, kTotal)
      << "the stalled watcher received every event: its buffer never overflowed (writes took "
      << writes_took << ")";
  const grpc::Status status = stalled.Finish();
  EXPECT_TRUE(IsAppError(status, grpc::StatusCode::RESOURCE_EXHAUSTED, ERROR_CODE_UNSPECIFIED, ""));
  // Where to resume from: the message names the last sequence this stream sent.
  EXPECT_TRUE(
      absl::EndsWith(status.error_message(), absl::StrCat("; resume with after_sequence=", last)))
      << status.error_message();
}

TEST_F(UserServiceDurabilityTest, Sigterm_WithOpenWatch_StreamEndsUnavailableWithResumeHint_Exit0) {
  ASSERT_TRUE(Start());
  WatchStream watch(Channel(), WatchAfter(0));
  watch.WaitForHeaders();
  ASSERT_TRUE(IsOk(UserClient(Channel()).Create("last@example.com", "Last")));
  const std::optional<WatchUsersResponse> event = watch.Next();
  ASSERT_TRUE(event.has_value());

  server_->process().Signal(SIGTERM);
  EXPECT_FALSE(watch.Next().has_value());
  const grpc::Status status = watch.Finish();
  EXPECT_TRUE(IsAppError(status, grpc::StatusCode::UNAVAILABLE, ERROR_CODE_UNSPECIFIED, ""));
  const std::optional<::common::v1::AppError> error = errors::AppErrorOf(status);
  ASSERT_TRUE(error.has_value());
  // Where to resume from: the message names the last sequence this stream sent.
  EXPECT_TRUE(absl::EndsWith(error->message(),
                             absl::StrCat("; resume with after_sequence=", event->sequence())))
      << error->message();
  // Streams are ended at once on drain, so the exit does not wait out the 10 s grace period.
  EXPECT_TRUE(ExitsCleanly(absl::Seconds(8)));
}

// A write still waiting for its commit when SIGTERM arrives is a running call: the drain lets it
// finish, it is answered OK, and it is there after a restart. Its commit waits for SQLite's write
// lock, which the test holds from a connection of its own (as another process would) until the
// service has logged that it is draining: the commit comes once the shutdown has begun.
TEST_F(UserServiceDurabilityTest, Sigterm_WhileAWriteWaitsForItsCommit_AnsweredOkAndKept) {
  ASSERT_TRUE(Start());
  const UserClient admin(Channel());
  ASSERT_TRUE(IsOk(admin.Create("before@example.com", "Before")));
  absl::StatusOr<std::unique_ptr<storage::SqliteDatabase>> locker =
      storage::SqliteDatabase::Open(data_dir_.path() + "/user.db", {});
  ASSERT_TRUE(locker.ok()) << locker.status();
  ASSERT_TRUE((*locker)->Execute("BEGIN IMMEDIATE").ok());  // the write lock, until COMMIT
  const double started_before =
      CallsStarted(server_->metrics_port(), "user.v1.UserService", "CreateUser");

  User during;
  grpc::Status created = grpc::Status(grpc::StatusCode::UNKNOWN, "not answered");
  std::thread writer([&] { created = admin.Create("during@example.com", "During", &during); });
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (CallsStarted(server_->metrics_port(), "user.v1.UserService", "CreateUser") <=
             started_before &&
         absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  server_->process().Signal(SIGTERM);
  const bool draining = server_->WaitForOutput(R"("msg":"draining")");
  const bool released = (*locker)->Execute("COMMIT").ok();  // the service's commit may go on now
  writer.join();                                            // before any ASSERT can return
  ASSERT_TRUE(released);
  ASSERT_TRUE(draining) << server_->Output();
  EXPECT_TRUE(IsOk(created)) << "the write waiting at SIGTERM was not answered OK";
  EXPECT_TRUE(ExitsCleanly());

  ASSERT_TRUE(Start());
  User fetched;
  ASSERT_TRUE(IsOk(UserClient(Channel()).Get(during.id(), &fetched)));
  EXPECT_EQ(fetched.email(), "during@example.com");
}

}  // namespace
}  // namespace hermes::testing::user_service
