// WatchUsers' replay from the log, on a real server and a real SQLite store, with batches small
// enough to see each step: a filtered replay sends only the matches, in order, then goes live
// with no gap and no duplicate; events pruned while a replay reads them end the stream with
// OUT_OF_RANGE instead of being skipped, and pruning what the replay has passed does not.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <pthread.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "libs/errors/app_error.h"
#include "libs/interceptor/chain.h"
#include "libs/runtime/grpc_server.h"
#include "libs/storage/sqlite_database.h"
#include "services/user/sqlite_user_store.h"
#include "services/user/user_service.h"
#include "tests/support/captured_log.h"
#include "tests/support/held_request.h"
#include "tests/support/http.h"
#include "tests/support/json_lines.h"
#include "tests/support/loopback_server.h"
#include "tests/support/network.h"
#include "tests/unit/services/user/forwarding_store.h"

namespace hermes::user {
namespace {

using ::hermes::testing::HeldRequestProbe;
using ::hermes::testing::StartLoopbackServer;
using ::hermes::testing::StubTo;
using ::user::v1::WatchUsersRequest;
using ::user::v1::WatchUsersResponse;

// The calling thread's name: "hermes-delivery" for a service's delivery thread.
std::string ThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

// The real store, with a hook around each ReadEvents (the replay's read): where a test prunes
// the log "meanwhile", at a point the public API cannot time.
class HookedStore final : public ForwardingStore {
 public:
  enum class When { kBeforeRead, kAfterRead };
  using Hook = std::function<void(const EventQuery&, When)>;

  using ForwardingStore::ForwardingStore;

  void SetReadHook(Hook hook) {
    absl::MutexLock lock(&mu_);
    hook_ = std::move(hook);
  }
  int reads() const {
    absl::MutexLock lock(&mu_);
    return reads_;
  }
  // The name of the thread each RetainedEvents call ran on.
  std::vector<std::string> retained_events_threads() const {
    absl::MutexLock lock(&mu_);
    return retained_events_threads_;
  }
  std::atomic<bool> throw_in_retained_events{false};  // as an allocation failure would

  absl::StatusOr<EventPage> ReadEvents(const EventQuery& query) override {
    Hook hook;
    {
      absl::MutexLock lock(&mu_);
      ++reads_;
      hook = hook_;
    }
    if (hook) hook(query, When::kBeforeRead);
    absl::StatusOr<EventPage> page = real().ReadEvents(query);
    if (hook) hook(query, When::kAfterRead);
    return page;
  }
  absl::StatusOr<EventRange> RetainedEvents() override {
    if (throw_in_retained_events) throw std::bad_alloc();
    std::function<void()> before;
    {
      absl::MutexLock lock(&mu_);
      retained_events_threads_.push_back(ThreadName());
      before = std::exchange(before_retained_events_, nullptr);
    }
    if (before) before();
    return real().RetainedEvents();
  }
  // Runs `hook` once, in the next RetainedEvents call, before it reads where the log stands.
  void BeforeNextRetainedEvents(std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    before_retained_events_ = std::move(hook);
  }

 private:
  mutable absl::Mutex mu_;
  Hook hook_ ABSL_GUARDED_BY(mu_);
  int reads_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> retained_events_threads_ ABSL_GUARDED_BY(mu_);
  std::function<void()> before_retained_events_ ABSL_GUARDED_BY(mu_);
};

class WatchUsersReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "watch_users_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    absl::StatusOr<std::unique_ptr<SqliteUserStore>> sqlite =
        SqliteUserStore::Open(dir_ + "/user.db", {});
    ASSERT_TRUE(sqlite.ok()) << sqlite.status();
    store_ = std::make_unique<HookedStore>(*std::move(sqlite));
    // What the service's main does, except for the events a test keeps from the fan-out.
    store_->SetEventListener([this](const UserEvent& event) {
      absl::MutexLock lock(&unpublished_mu_);
      if (!unpublished_.contains(event.sequence)) fanout_.Publish(event);
    });
  }
  // The events with these sequences reach the log but not the fan-out: the watcher learns of
  // them from the next live event's sequence, as when a publish is missed.
  void KeepFromTheFanout(std::vector<int64_t> sequences) {
    absl::MutexLock lock(&unpublished_mu_);
    unpublished_.insert(sequences.begin(), sequences.end());
  }
  // Starts the service, with replay batches small enough to see each step.
  void StartServer(
      WatchOptions options = {.replay_batch = 2},
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
          interceptors = {}) {
    service_ = std::make_unique<UserServiceImpl>(*store_, fanout_, options);
    server_ = StartLoopbackServer(service_.get(), "user.v1.UserService", std::move(interceptors));
    ASSERT_NE(server_, nullptr);
    stub_ = StubTo<::user::v1::UserService>(*server_);
  }
  void TearDown() override {
    fanout_.Close();
    server_.reset();
    service_.reset();
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Before (or right after) the replay's read of the events after `after`, prunes all but the
  // newest `keep`.
  void PruneWhenTheReplayReadsAfter(int64_t after, int64_t keep,
                                    HookedStore::When when = HookedStore::When::kBeforeRead) {
    store_->SetReadHook(
        [this, after, keep, when](const UserStore::EventQuery& query, HookedStore::When now) {
          if (query.after_sequence == after && now == when) {
            ASSERT_TRUE(store_->PruneEvents(keep).ok());
          }
        });
  }

  // Deletes the log's events `where` (SQL) as the sqlite3 shell would, outside the store.
  void DeleteEventsByHand(const std::string& where) {
    absl::StatusOr<std::unique_ptr<storage::SqliteDatabase>> db =
        storage::SqliteDatabase::Open(dir_ + "/user.db", {});
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Execute("DELETE FROM user_events WHERE " + where).ok());
  }

  // `count` users, emails prefix0@x, prefix1@x, ...: one CREATED event each, in order.
  std::vector<User> CreateUsers(int count, const std::string& prefix = "u") {
    std::vector<User> users;
    for (int i = 0; i < count; ++i) users.push_back(CreateOrDie(absl::StrCat(prefix, i, "@x")));
    return users;
  }
  User CreateOrDie(const std::string& email) {
    absl::StatusOr<User> user = store_->Create({.email = email, .display_name = "U"});
    EXPECT_TRUE(user.ok()) << user.status();
    return user.value_or(User{});
  }
  void BanOrDie(const User& user) {
    EXPECT_TRUE(store_->Update({.id = user.id, .status = UserStatus::kBanned}).ok());
  }

  // A WatchUsers call with a deadline, so a missing event fails the test instead of hanging it.
  struct Watch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<WatchUsersResponse>> reader;

    // The next `n` events' sequences (fewer if the stream ends first).
    std::vector<int64_t> Take(int n) {
      std::vector<int64_t> sequences;
      WatchUsersResponse event;
      while (static_cast<int>(sequences.size()) < n && reader->Read(&event)) {
        sequences.push_back(event.sequence());
      }
      return sequences;
    }
  };
  // The stream ended with OUT_OF_RANGE, saying what was pruned after the last event it sent.
  static void ExpectPrunedWhileReplaying(Watch& watch, int64_t last_sent) {
    const grpc::Status status = watch.reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE) << status.error_message();
    EXPECT_NE(status.error_message().find(absl::StrCat("events after ", last_sent, " were pruned")),
              std::string::npos)
        << status.error_message();
  }
  std::unique_ptr<Watch> StartWatch(int64_t after, std::optional<::user::v1::UserStatus> filter) {
    auto watch = std::make_unique<Watch>();
    watch->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    WatchUsersRequest request;
    request.set_after_sequence(after);
    if (filter.has_value()) request.set_status_filter(*filter);
    watch->reader = stub_->WatchUsers(&watch->context, request);
    return watch;
  }

  std::string dir_;
  std::unique_ptr<HookedStore> store_;
  UserEventFanout fanout_;
  std::unique_ptr<UserServiceImpl> service_;
  std::unique_ptr<runtime::GrpcServer> server_;
  absl::Mutex unpublished_mu_;
  std::set<int64_t> unpublished_ ABSL_GUARDED_BY(unpublished_mu_);
  std::unique_ptr<::user::v1::UserService::Stub> stub_;
};

using Seqs = std::vector<int64_t>;

// gRPC keeps a stream's request until the stream ends: a watcher would hold what its request
// carried (unknown fields, up to the message limit) for as long as it watches.
TEST_F(WatchUsersReplayTest, Watch_KeepsNoRequest) {
  CreateUsers(2);
  // The method is registered raw: gRPC holds the request's bytes.
  HeldRequestProbe<grpc::ByteBuffer> probe("/user.v1.UserService/WatchUsers");
  StartServer({}, probe.Interceptors());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  WatchUsersRequest request;
  request.set_after_sequence(1);
  request.GetReflection()->MutableUnknownFields(&request)->AddLengthDelimited(
      999, std::string(1 << 20, 'x'));  // a field of a later version of the message
  auto reader = stub_->WatchUsers(&context, request);
  WatchUsersResponse event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 2);
  EXPECT_EQ(probe.sizes(), std::vector<size_t>{0});
  context.TryCancel();
}

TEST_F(WatchUsersReplayTest, FilteredReplay_OnlyTheMatchesInOrder_ThenLiveWithNoGap) {
  const std::vector<User> users = CreateUsers(30);  // 1-30
  BanOrDie(users[3]);                               // 31
  CreateUsers(20, "v");                             // 32-51
  BanOrDie(users[7]);                               // 52
  BanOrDie(users[9]);                               // 53
  BanOrDie(users[11]);                              // 54
  CreateOrDie("w@x");                               // 55

  StartServer();
  std::unique_ptr<Watch> watch = StartWatch(1, ::user::v1::USER_STATUS_BANNED);
  EXPECT_EQ(watch->Take(4), (Seqs{31, 52, 53, 54}));
  CreateOrDie("x@x");   // 56
  BanOrDie(users[12]);  // 57: live
  EXPECT_EQ(watch->Take(1), (Seqs{57}));
  // Four matches in batches of two, and a short batch that ends the replay: three reads, not
  // the 27 it takes to read the 54 events one batch of two at a time.
  EXPECT_EQ(store_->reads(), 3);
  watch->context.TryCancel();
}

// The replay reads the log on the service's delivery thread only. A completed write pumps the
// next one on gRPC's thread; a Next there that has to read (the next batch) yields to the
// delivery thread rather than block one of the few threads that serve every stream.
TEST_F(WatchUsersReplayTest, Replay_ReadsTheLogOnTheDeliveryThreadOnly) {
  CreateUsers(20);  // 1-20
  absl::Mutex mu;
  std::vector<std::string> readers;
  store_->SetReadHook([&](const UserStore::EventQuery&, HookedStore::When when) {
    if (when != HookedStore::When::kBeforeRead) return;
    absl::MutexLock lock(&mu);
    readers.push_back(ThreadName());
  });
  StartServer();  // batches of two
  std::unique_ptr<Watch> watch = StartWatch(1, std::nullopt);
  EXPECT_EQ(watch->Take(19).size(), 19u);
  watch->context.TryCancel();
  store_->SetReadHook(nullptr);  // it refers to this scope's locals
  absl::MutexLock lock(&mu);
  EXPECT_EQ(readers.size(), 10u);  // 2-3, 4-5, ..., 18-19, and 20 alone
  EXPECT_THAT(readers, ::testing::Each(std::string("hermes-delivery")));
}

// A client that stops reading: flow control holds the stream's write up, and the stream, which
// learns of its overflow from its first read after that write, would stay open for good,
// holding the only place. The overflow check cancels it once the write has waited
// stuck_write_grace, and the place is free for the next watcher. The stalled client gets
// CANCELLED after what reached it, once it reads again.
TEST_F(WatchUsersReplayTest, ClientStopsReading_CancelledAfterTheGrace_ItsPlaceFreed) {
  // The warn line that says why (the access log says only Cancelled).
  const testing::CapturedLog log(spdlog::level::info);
  StartServer({.max_watchers = 1,
               .buffer_events = 16,
               .stuck_write_grace = absl::Milliseconds(300),
               .overflow_check = absl::Milliseconds(50)});
  grpc::ChannelArguments own_connection;
  own_connection.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  own_connection.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);  // its receive window stays at 64 KiB
  auto stalled_stub = ::user::v1::UserService::NewStub(
      grpc::CreateCustomChannel(testing::LoopbackAddress(server_->port()),
                                grpc::InsecureChannelCredentials(), own_connection));
  grpc::ClientContext stalled;
  stalled.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  stalled.AddMetadata("x-request-id", "stalled-watcher");
  auto never_read = stalled_stub->WatchUsers(&stalled, WatchUsersRequest());
  never_read->WaitForInitialMetadata();
  // 8 KB an event: 64 of them are four times the client's window, and 48 past the buffer.
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(store_
                    ->Create({.email = absl::StrCat("big", i, "@x"),
                              .display_name = std::string(8192, 'n')})
                    .ok());
  }

  // The place is free once a new watcher is live: it gets an event created after its headers
  // (a refused one's stream has ended, with RESOURCE_EXHAUSTED).
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  bool live = false;
  for (int probe = 0; !live && absl::Now() < deadline; ++probe) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto reader = stub_->WatchUsers(&context, WatchUsersRequest());
    reader->WaitForInitialMetadata();
    CreateOrDie(absl::StrCat("probe", probe, "@x"));
    WatchUsersResponse next;
    live = reader->Read(&next);
    if (live) context.TryCancel();  // (before a refusal's Finish it would turn it CANCELLED)
    const grpc::Status status = reader->Finish();
    if (!live) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      absl::SleepFor(absl::Milliseconds(20));  // the place is still held: ask again
    }
  }
  EXPECT_TRUE(live) << "the stalled watcher still holds the only place";

  WatchUsersResponse event;
  int received = 0;
  while (never_read->Read(&event)) ++received;
  EXPECT_LT(received, 64);  // and the probes' events
  const grpc::Status status = never_read->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << status.error_message();

  const testing::JsonLines lines = testing::ParseJsonLines(log.Text());
  const std::vector<google::protobuf::Struct> cancels =
      lines.Where({{"msg", "stream cancelled: its client stopped reading"}});
  ASSERT_EQ(cancels.size(), 1u) << log.Text();
  EXPECT_EQ(testing::StringField(cancels[0], "level"), "warning");
  EXPECT_EQ(testing::StringField(cancels[0], "request_id"), "stalled-watcher");
  EXPECT_TRUE(absl::StartsWith(testing::StringField(cancels[0], "peer_address"), "ipv"));
}

// WatchUsers runs the server's chain itself (StreamPump::BeginChain; the chain installs no gRPC
// interceptor on its calls): an operator sees its streams as any other call, with the request
// id in the response headers and the log line, each event counted as a message sent, and each
// end, a refusal too, counted by its code.
TEST_F(WatchUsersReplayTest, DrivesTheServerChain_RequestIdMessagesAndEndsCountedAndLogged) {
  const testing::CapturedLog log(spdlog::level::info);
  auto registry = std::make_shared<prometheus::Registry>();
  // The server and service go before the registry their chain counts into (and before `log`).
  const absl::Cleanup stop_server = [this] {
    server_.reset();
    service_.reset();
  };
  CreateUsers(4);  // 1-4: 2-4 replayed
  service_ = std::make_unique<UserServiceImpl>(*store_, fanout_, WatchOptions{.max_watchers = 1});
  auto chain =
      interceptor::ServerChain::Create({.services = {"user.v1.UserService"},
                                        .registry = registry.get(),
                                        .driven_by_handlers = service_->ChainDrivenMethods()});
  ASSERT_TRUE(chain.ok()) << chain.status();
  service_->UseChain(*chain);
  server_ =
      StartLoopbackServer(service_.get(), "user.v1.UserService", (*chain)->InterceptorFactories());
  ASSERT_NE(server_, nullptr);
  stub_ = StubTo<::user::v1::UserService>(*server_);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  context.AddMetadata("x-request-id", "watch-42");
  WatchUsersRequest after_first;
  after_first.set_after_sequence(1);
  auto reader = stub_->WatchUsers(&context, after_first);
  WatchUsersResponse event;
  for (int i = 2; i <= 4; ++i) {
    ASSERT_TRUE(reader->Read(&event));
    EXPECT_EQ(event.sequence(), i);
  }
  const auto header = context.GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(header, context.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(header->second.data(), header->second.size()), "watch-42");

  grpc::ClientContext second;  // the only place is taken
  second.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto refused = stub_->WatchUsers(&second, WatchUsersRequest());
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  context.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  const testing::MetricLabels watch =
      testing::MethodLabels("user.v1.UserService", "WatchUsers", "server_stream");
  auto with_code = [&](const char* code) { return testing::WithCode(watch, code); };
  auto metrics = [&] { return prometheus::TextSerializer().Serialize(registry->Collect()); };
  // The server learns of the cancel a moment after the client (and counts the end before it
  // takes the call out of the in-flight gauge).
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  auto ended = [&] {
    const std::string body = metrics();
    return testing::MetricValue(body, "grpc_server_handled_total", with_code("Canceled"))
                   .value_or(0) >= 1 &&
           testing::MetricValue(body, "grpc_server_in_flight", watch).value_or(1) == 0;
  };
  while (!ended() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  const std::string body = metrics();
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_handled_total", with_code("Canceled")), 1);
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_handled_total", with_code("ResourceExhausted")),
            1);
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_started_total", watch), 2);
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_msg_received_total", watch), 2);
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_msg_sent_total", watch), 3);
  EXPECT_EQ(testing::MetricValue(body, "grpc_server_in_flight", watch), 0);

  const std::vector<google::protobuf::Struct> lines =
      testing::ParseJsonLines(log.Text())
          .Where({{"msg", "rpc finished"}, {"method", "/user.v1.UserService/WatchUsers"}});
  ASSERT_EQ(lines.size(), 2u) << log.Text();
  EXPECT_EQ(testing::StringField(lines[0], "code"), "ResourceExhausted");
  EXPECT_EQ(testing::StringField(lines[1], "code"), "Canceled");
  EXPECT_EQ(testing::StringField(lines[1], "request_id"), "watch-42");
}

// Live events committed while a watcher replays pile up in its subscription however fast the
// client reads: past buffer_events, it takes a new subscription and reads what it missed from
// the log (as a resume would) instead of ending RESOURCE_EXHAUSTED right after the replay.
TEST_F(WatchUsersReplayTest, FellBehindWhileReplaying_CatchesUpFromTheLog_NoGapNoDuplicate) {
  CreateUsers(6);  // 1-6
  std::atomic<bool> written{false};
  store_->SetReadHook([&](const UserStore::EventQuery&, HookedStore::When when) {
    // 7-11, published during the replay's first read: more than the buffer of 4.
    if (when == HookedStore::When::kBeforeRead && !written.exchange(true)) CreateUsers(5, "w");
  });
  StartServer({.buffer_events = 4, .replay_batch = 10});
  std::unique_ptr<Watch> watch = StartWatch(1, std::nullopt);
  EXPECT_EQ(watch->Take(10), (Seqs{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  CreateOrDie("live@x");  // 12: live, on the new subscription
  EXPECT_EQ(watch->Take(1), (Seqs{12}));
  watch->context.TryCancel();
  // Where the log stands: read as the call starts, on gRPC's thread that received it, then for
  // the catch-up on the delivery thread, like every read after the start.
  const std::vector<std::string> threads = store_->retained_events_threads();
  ASSERT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads[1], "hermes-delivery");
}

// An event committed after the watcher subscribed but before it read where the log stands
// reaches it twice, in the replay and live: it is sent once, in sequence order, and the live
// events after it follow with no gap.
TEST_F(WatchUsersReplayTest, EventBetweenSubscribingAndReadingTheLog_SentOnce) {
  CreateUsers(3);  // 1-3
  StartServer();
  store_->BeforeNextRetainedEvents([this] { CreateOrDie("between@x"); });  // 4
  std::unique_ptr<Watch> watch = StartWatch(1, std::nullopt);
  EXPECT_EQ(watch->Take(3), (Seqs{2, 3, 4}));
  CreateOrDie("live@x");  // 5
  EXPECT_EQ(watch->Take(1), (Seqs{5})) << "4 sent a second time, or 5 lost";
  watch->context.TryCancel();
}

// A watcher that falls behind during every replay (the writes outpace what it reads) catches
// up kMaxCatchUps times in a row, then ends RESOURCE_EXHAUSTED with the usual resume hint.
TEST_F(WatchUsersReplayTest, FellBehindWhileReplayingEveryTime_EndsResourceExhaustedAfterTheCap) {
  static_assert(kMaxCatchUps == 3, "the sequences below count three catch-ups");
  CreateUsers(6);  // 1-6
  store_->SetReadHook([&](const UserStore::EventQuery&, HookedStore::When when) {
    // Each replay read brings 5 live events, more than the buffer of 4 holds: 7-11, then
    // 12-16, 17-21 and 22-26 during the three catch-ups' reads.
    if (when == HookedStore::When::kBeforeRead) CreateUsers(5, absl::StrCat("r", store_->reads()));
  });
  StartServer({.buffer_events = 4, .replay_batch = 10});
  std::unique_ptr<Watch> watch = StartWatch(1, std::nullopt);
  Seqs expected;
  for (int64_t sequence = 2; sequence <= 21; ++sequence) expected.push_back(sequence);
  EXPECT_EQ(watch->Take(100), expected);
  const grpc::Status status = watch->reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_TRUE(absl::EndsWith(status.error_message(), "; resume with after_sequence=21"))
      << status.error_message();
  EXPECT_EQ(store_->reads(), 4);  // the replay, then one read a catch-up
}

// A filter on ACTIVE reads the log itself (no index): a long stretch with no ACTIVE user is read
// a window of replay_scan sequences at a time, and the matches still come in order, each once.
TEST_F(WatchUsersReplayTest, FilteredOnActive_ReadsTheLogAWindowAtATime_NoGapNoDuplicate) {
  const std::vector<User> users = CreateUsers(10);  // 1-10
  for (int i = 0; i < 10; ++i) BanOrDie(users[i]);  // 11-20
  CreateOrDie("w@x");                               // 21
  absl::Mutex mu;
  int64_t widest = 0;
  store_->SetReadHook([&](const UserStore::EventQuery& query, HookedStore::When) {
    absl::MutexLock lock(&mu);
    widest = std::max(widest, query.through_sequence - query.after_sequence);
  });
  StartServer({.replay_batch = 2, .replay_scan = 5});
  std::unique_ptr<Watch> watch = StartWatch(1, ::user::v1::USER_STATUS_ACTIVE);
  EXPECT_EQ(watch->Take(10), (Seqs{2, 3, 4, 5, 6, 7, 8, 9, 10, 21}));
  CreateOrDie("x@x");  // 22: live
  EXPECT_EQ(watch->Take(1), (Seqs{22}));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(widest, 5);
  watch->context.TryCancel();
}

TEST_F(WatchUsersReplayTest, PrunedWhileReplaying_Unfiltered_OutOfRange) {
  CreateUsers(10);
  PruneWhenTheReplayReadsAfter(3, 5);  // keeps 6-10
  StartServer();
  std::unique_ptr<Watch> watch = StartWatch(1, std::nullopt);
  EXPECT_EQ(watch->Take(10), (Seqs{2, 3}));
  ExpectPrunedWhileReplaying(*watch, 3);
}

TEST_F(WatchUsersReplayTest, PrunedWhileReplaying_Filtered_OutOfRange) {
  const std::vector<User> users = CreateUsers(10);
  BanOrDie(users[0]);                   // 11
  BanOrDie(users[1]);                   // 12
  BanOrDie(users[2]);                   // 13: pruned before the second batch reads it
  CreateUsers(5, "v");                  // 14-18
  PruneWhenTheReplayReadsAfter(12, 4);  // keeps 15-18
  StartServer();
  std::unique_ptr<Watch> watch = StartWatch(1, ::user::v1::USER_STATUS_BANNED);
  EXPECT_EQ(watch->Take(10), (Seqs{11, 12}));
  ExpectPrunedWhileReplaying(*watch, 12);
}

TEST_F(WatchUsersReplayTest, PrunedOnlyUpToWhereTheReplayStands_Filtered_GoesOn) {
  const std::vector<User> users = CreateUsers(10);
  BanOrDie(users[0]);                   // 11
  BanOrDie(users[1]);                   // 12
  CreateOrDie("v@x");                   // 13
  BanOrDie(users[2]);                   // 14
  PruneWhenTheReplayReadsAfter(12, 2);  // keeps 13-14
  StartServer();
  std::unique_ptr<Watch> watch = StartWatch(1, ::user::v1::USER_STATUS_BANNED);
  EXPECT_EQ(watch->Take(3), (Seqs{11, 12, 14}));
  BanOrDie(users[3]);  // 15: live
  EXPECT_EQ(watch->Take(1), (Seqs{15}));
  watch->context.TryCancel();
}

// Sequences are contiguous unless someone deleted events by hand (the sqlite3 shell): a hole an
// unfiltered replay meets is reported as missing events, never skipped.
TEST_F(WatchUsersReplayTest, HoleDeletedByHand_Unfiltered_OutOfRange) {
  CreateUsers(6);
  ASSERT_NO_FATAL_FAILURE(DeleteEventsByHand("sequence = 3"));
  StartServer();
  std::unique_ptr<Watch> watch = StartWatch(1, std::nullopt);
  EXPECT_EQ(watch->Take(10), Seqs{});  // the first batch, {2, 4}, has the hole
  ExpectPrunedWhileReplaying(*watch, 1);
}

// The newest events deleted by hand: the log's newest sequence (which deleting does not lower)
// says they were committed, so the replay's last, short read reports them missing rather than
// going live past them.
TEST_F(WatchUsersReplayTest, NewestEventsDeletedByHand_Unfiltered_OutOfRange) {
  CreateUsers(6);
  ASSERT_NO_FATAL_FAILURE(DeleteEventsByHand("sequence >= 5"));
  StartServer();
  std::unique_ptr<Watch> watch = StartWatch(1, std::nullopt);
  EXPECT_EQ(watch->Take(10), (Seqs{2, 3}));  // then {4} where 4-5 were due
  ExpectPrunedWhileReplaying(*watch, 3);
}

// The regression a review found: the oldest retained event was looked up after the read, in a
// snapshot of its own, so a prune right after a read that had everything ended the stream.
TEST_F(WatchUsersReplayTest, PrunedRightAfterTheRead_Filtered_TheEventsReadStillGo) {
  const std::vector<User> users = CreateUsers(10);
  BanOrDie(users[0]);                                                 // 11
  CreateOrDie("v@x");                                                 // 12
  CreateOrDie("w@x");                                                 // 13
  PruneWhenTheReplayReadsAfter(1, 1, HookedStore::When::kAfterRead);  // keeps 13
  StartServer();
  std::unique_ptr<Watch> watch = StartWatch(1, ::user::v1::USER_STATUS_BANNED);
  EXPECT_EQ(watch->Take(1), (Seqs{11}));
  BanOrDie(users[1]);  // 14: live
  EXPECT_EQ(watch->Take(1), (Seqs{14}));
  watch->context.TryCancel();
}

// A live event beyond the next sequence sends the watcher to the log for those in between, with
// its filter; then the live event, in order.
TEST_F(WatchUsersReplayTest, LiveGap_Filtered_TheMissedMatchesFromTheLogThenTheLiveOne) {
  const std::vector<User> users = CreateUsers(5);  // 1-5
  StartServer();
  std::unique_ptr<Watch> watch = StartWatch(0, ::user::v1::USER_STATUS_BANNED);  // live only
  watch->reader->WaitForInitialMetadata();
  KeepFromTheFanout({6, 7});
  BanOrDie(users[0]);                                                          // 6
  ASSERT_TRUE(store_->Update({.id = users[1].id, .display_name = "R"}).ok());  // 7: ACTIVE
  BanOrDie(users[2]);                                                          // 8: live
  EXPECT_EQ(watch->Take(2), (Seqs{6, 8}));
  watch->context.TryCancel();
}

// The resume hint counts the stretch a filtered read covered as seen: resuming after it misses
// nothing, and does not read the stretch again.
TEST_F(WatchUsersReplayTest, FilteredReplay_ShutdownHint_PointsPastTheStretchRead) {
  const std::vector<User> users = CreateUsers(3);  // 1-3
  BanOrDie(users[0]);                              // 4
  CreateUsers(6, "v");                             // 5-10
  StartServer();
  std::unique_ptr<Watch> watch = StartWatch(1, ::user::v1::USER_STATUS_BANNED);
  EXPECT_EQ(watch->Take(1), (Seqs{4}));
  fanout_.Close();  // what SIGTERM does
  EXPECT_EQ(watch->Take(1), Seqs{});
  const grpc::Status status = watch->reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_NE(status.error_message().find("resume with after_sequence=10"), std::string::npos)
      << status.error_message();
}

// A shutdown in the middle of a replay ends it there (UNAVAILABLE, resume from the last event
// sent), not after the rest of the retained log.
TEST_F(WatchUsersReplayTest, ShutdownDuringReplay_EndsThere_HintAtTheLastEventSent) {
  CreateUsers(20);  // 1-20
  StartServer();    // replay batches of 2
  store_->SetReadHook([this](const UserStore::EventQuery& query, HookedStore::When now) {
    if (query.after_sequence == 5 && now == HookedStore::When::kBeforeRead) fanout_.Close();
  });
  std::unique_ptr<Watch> watch = StartWatch(1, std::nullopt);
  EXPECT_EQ(watch->Take(19), (Seqs{2, 3, 4, 5}));
  const grpc::Status status = watch->reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_NE(status.error_message().find("resume with after_sequence=5"), std::string::npos)
      << status.error_message();
}

// What the stream's own work throws (an allocation failure) ends that stream as a throwing
// handler's call ends (UNKNOWN "Unexpected error in RPC handling", which the chain's recovery
// stage makes INTERNAL), whether it is thrown where the call starts (a gRPC thread) or in the
// replay (the delivery thread): the process, and the other watchers, go on.
TEST_F(WatchUsersReplayTest, StoreThrows_TheStreamEndsAsAThrowingHandler_ServerGoesOn) {
  CreateUsers(3);  // 1-3
  StartServer();
  std::unique_ptr<Watch> live = StartWatch(0, std::nullopt);
  live->reader->WaitForInitialMetadata();

  store_->throw_in_retained_events = true;
  std::unique_ptr<Watch> at_start = StartWatch(1, std::nullopt);
  EXPECT_EQ(at_start->Take(1), Seqs{});
  grpc::Status status = at_start->reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  EXPECT_EQ(status.error_message(), errors::kHandlerThrew);
  store_->throw_in_retained_events = false;

  store_->SetReadHook(
      [](const UserStore::EventQuery&, HookedStore::When) { throw std::bad_alloc(); });
  std::unique_ptr<Watch> replaying = StartWatch(1, std::nullopt);
  EXPECT_EQ(replaying->Take(1), Seqs{});
  status = replaying->reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  EXPECT_EQ(status.error_message(), errors::kHandlerThrew);

  store_->SetReadHook(nullptr);
  CreateOrDie("after@x");  // 4
  EXPECT_EQ(live->Take(1), (Seqs{4}));
  std::unique_ptr<Watch> again = StartWatch(1, std::nullopt);
  EXPECT_EQ(again->Take(3), (Seqs{2, 3, 4}));
  live->context.TryCancel();
  again->context.TryCancel();
}

}  // namespace
}  // namespace hermes::user
