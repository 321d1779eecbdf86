// StreamPump with a scripted reactor on a fake gRPC reactor base that records its writes: the
// write options (buffer hint or not) each message goes out with, the cap on hinted writes in a
// row, a looked-ahead message dropped by StillToSend, and the finish.
#include "libs/streams/stream_pump.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "libs/errors/app_error.h"
#include "user/v1/user.pb.h"

namespace hermes::streams {
namespace {

using Response = ::user::v1::WatchUsersResponse;

struct Write {
  int64_t sequence;
  bool buffered;
  bool operator==(const Write&) const = default;
};

// What the pump needs of grpc::ServerWriteReactor, recording instead of sending.
class FakeReactorBase {
 public:
  virtual ~FakeReactorBase() = default;
  virtual void OnWriteDone(bool /*ok*/) {}
  virtual void OnCancel() {}
  virtual void OnDone() {}
  void StartWrite(const Response* response, grpc::WriteOptions options) {
    EXPECT_TRUE(finishes.empty()) << "a write started after Finish";
    writes.push_back({response->sequence(), options.get_buffer_hint()});
    write_threads.push_back(std::this_thread::get_id());
  }
  void Finish(const grpc::Status& status) {
    finishes.push_back(status.error_code());
    finish_message = status.error_message();
  }

  std::vector<Write> writes;
  std::vector<std::thread::id> write_threads;  // where each write was started
  std::vector<grpc::StatusCode> finishes;
  std::string finish_message;
};

// Sends the sequences in `ready`, then finishes OK once `end` is set.
class Scripted final : public StreamPump<FakeReactorBase, Response, int> {
 public:
  explicit Scripted(DeliveryThread& delivery) : StreamPump(delivery) {}
  using StreamPump::Abort;
  using StreamPump::MarkStarted;
  using StreamPump::Pump;
  using StreamPump::SchedulePump;

  std::deque<int64_t> ready;
  bool end = false;
  std::function<bool(int64_t)> still_to_send;  // by sequence; unset: always
  int yields = 0;                              // Next says kYield this many times first
  std::vector<std::thread::id> yielded_on;     // where each of those Next calls ran
  int throw_on_call = 0;                       // the Next call (1, 2, ...) that throws; 0: none
  std::vector<bool> next_on_delivery_thread;   // OnDeliveryThread() in each Next call
  bool yield_off_delivery_thread = false;      // as a Next that would read the store

 private:
  Step Next(Response* out, bool /*looking_ahead*/) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    next_on_delivery_thread.push_back(OnDeliveryThread());
    if (++calls_ == throw_on_call) throw std::bad_alloc();
    if (yield_off_delivery_thread && !OnDeliveryThread()) return Step::kYield;
    if (yields > 0) {
      --yields;
      yielded_on.push_back(std::this_thread::get_id());
      return Step::kYield;
    }
    if (ready.empty()) {
      if (!end) return Step::kIdle;
      finish_status_ = grpc::Status::OK;
      return Step::kFinish;
    }
    out->set_sequence(ready.front());
    ready.pop_front();
    return Step::kWrite;
  }
  bool StillToSend(const Response& looked_ahead) override {
    return !still_to_send || still_to_send(looked_ahead.sequence());
  }

  int calls_ = 0;
};

class StreamPumpTest : public ::testing::Test {
 protected:
  // Completes the write in flight (which pumps at once, on this thread) and waits until any
  // Pump posted meanwhile has run.
  void CompleteWrite() {
    reactor_->OnWriteDone(true);
    Drain();
  }
  void Drain() {
    absl::Notification done;
    delivery_.Post([&done] { done.Notify(); });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  }
  void TearDown() override {
    Drain();
    reactor_->OnDone();  // deletes it: no task holds it any more
  }

  DeliveryThread delivery_;
  Scripted* reactor_ = new Scripted(delivery_);
};

TEST_F(StreamPumpTest, Backlog_BufferedWhileMoreIsReady_LastOneFlushes_ThenFinish) {
  reactor_->ready = {1, 2, 3};
  reactor_->MarkStarted();
  reactor_->Pump();
  CompleteWrite();
  CompleteWrite();
  EXPECT_EQ(reactor_->writes, (std::vector<Write>{{1, true}, {2, true}, {3, false}}));
  CompleteWrite();  // nothing ready: idle
  EXPECT_EQ(reactor_->writes.size(), 3u);
  EXPECT_TRUE(reactor_->finishes.empty());
  reactor_->end = true;
  reactor_->Pump();
  EXPECT_EQ(reactor_->finishes, std::vector<grpc::StatusCode>{grpc::StatusCode::OK});
}

// A Next with more to do than it should do at once (WatchUsers reading a long stretch of log
// that its filter drops) yields: the pump posts itself to the delivery thread and writes
// nothing meanwhile; the next Pump goes on.
TEST_F(StreamPumpTest, NextYields_PumpedAgainOnTheDeliveryThread_ThenWrites) {
  reactor_->yields = 3;
  reactor_->ready = {1};
  reactor_->MarkStarted();
  reactor_->Pump();
  for (int drains = 0; drains < 10 && reactor_->writes.empty(); ++drains) Drain();
  EXPECT_EQ(reactor_->writes, (std::vector<Write>{{1, false}}));
  ASSERT_EQ(reactor_->yielded_on.size(), 3u);
  EXPECT_EQ(reactor_->yielded_on[0], std::this_thread::get_id());
  EXPECT_NE(reactor_->yielded_on[1], std::this_thread::get_id());
  EXPECT_NE(reactor_->yielded_on[2], std::this_thread::get_id());
  EXPECT_TRUE(reactor_->finishes.empty());
}

// A completed write starts the next one at once, on the thread that completed it (gRPC's),
// without a hand-off to the delivery thread and back; a Next called there learns that it is not
// on the delivery thread (and must not block).
TEST_F(StreamPumpTest, WriteDone_NextWriteStartsOnTheCompletingThread) {
  reactor_->ready = {1, 2};
  reactor_->MarkStarted();
  reactor_->SchedulePump();
  Drain();  // the first write, and a look at the second, on the delivery thread
  reactor_->OnWriteDone(true);
  EXPECT_EQ(reactor_->writes, (std::vector<Write>{{1, true}, {2, false}}));
  ASSERT_EQ(reactor_->write_threads.size(), 2u);
  EXPECT_NE(reactor_->write_threads[0], std::this_thread::get_id());
  EXPECT_EQ(reactor_->write_threads[1], std::this_thread::get_id());
  EXPECT_EQ(reactor_->next_on_delivery_thread, (std::vector<bool>{true, true, false}));
}

// A Next that must not run on gRPC's thread (one that would read the store) yields there: the
// completion posts the pump, and the next write starts on the delivery thread.
TEST_F(StreamPumpTest, WriteDone_NextYieldsOffTheDeliveryThread_WrittenFromTheDeliveryThread) {
  reactor_->yield_off_delivery_thread = true;
  reactor_->ready = {1};
  reactor_->MarkStarted();
  reactor_->SchedulePump();
  Drain();
  reactor_->ready = {2};
  CompleteWrite();  // Next yields on this thread; the posted pump writes
  EXPECT_EQ(reactor_->writes, (std::vector<Write>{{1, false}, {2, false}}));
  ASSERT_EQ(reactor_->write_threads.size(), 2u);
  EXPECT_EQ(reactor_->write_threads[1], reactor_->write_threads[0]);  // the delivery thread
  EXPECT_NE(reactor_->write_threads[1], std::this_thread::get_id());
}

TEST_F(StreamPumpTest, LongBacklog_AtMost32BufferedInARow) {
  for (int64_t i = 1; i <= 40; ++i) reactor_->ready.push_back(i);
  reactor_->MarkStarted();
  reactor_->Pump();
  for (int i = 1; i < 40; ++i) CompleteWrite();
  ASSERT_EQ(reactor_->writes.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(reactor_->writes[i].sequence, i + 1);
    // 1-32 buffered, the 33rd flushes, 34-39 buffered, the last flushes.
    EXPECT_EQ(reactor_->writes[i].buffered, i != 32 && i != 39) << "write " << i + 1;
  }
}

TEST_F(StreamPumpTest, LookedAheadMessageNoLongerWanted_Dropped_NextOneSentAndFlushed) {
  reactor_->ready = {1, 2, 3};
  reactor_->still_to_send = [](int64_t sequence) { return sequence != 2; };
  reactor_->MarkStarted();
  reactor_->Pump();  // writes 1, looks ahead at 2
  CompleteWrite();   // 2 is dropped; 3 goes out, nothing after it: unbuffered
  EXPECT_EQ(reactor_->writes, (std::vector<Write>{{1, true}, {3, false}}));
}

// Dropping the looked-ahead message when nothing else is ready would leave the write before it
// in gRPC's buffer (it carried the hint on the promise of this one) until the stream's next
// message, maybe for good: the client would not get it. It goes out after all, and flushes.
TEST_F(StreamPumpTest, LookedAheadMessageNoLongerWanted_NothingElseReady_SentAnywayToFlush) {
  reactor_->ready = {1, 2};
  reactor_->still_to_send = [](int64_t sequence) { return sequence != 2; };
  reactor_->MarkStarted();
  reactor_->Pump();  // writes 1 buffered, looks ahead at 2
  CompleteWrite();   // 2 is no longer wanted, but nothing else would flush 1
  EXPECT_EQ(reactor_->writes, (std::vector<Write>{{1, true}, {2, false}}));
  CompleteWrite();
  EXPECT_EQ(reactor_->writes.size(), 2u);
}

// ... but only then: after a write that flushed (the 33rd in a row), it is dropped.
TEST_F(StreamPumpTest, LookedAheadMessageNoLongerWanted_AfterAFlushingWrite_Dropped) {
  for (int64_t i = 1; i <= 34; ++i) reactor_->ready.push_back(i);
  reactor_->still_to_send = [](int64_t sequence) { return sequence != 34; };
  reactor_->MarkStarted();
  reactor_->Pump();
  for (int i = 1; i <= 33; ++i) CompleteWrite();
  ASSERT_EQ(reactor_->writes.size(), 33u);
  EXPECT_FALSE(reactor_->writes.back().buffered);  // the 33rd flushed, looking ahead at 34
}

TEST_F(StreamPumpTest, CancelledWhileWriting_FinishesCancelledAfterTheWrite) {
  reactor_->ready = {1, 2};
  reactor_->MarkStarted();
  reactor_->Pump();
  reactor_->OnCancel();  // a write is in flight: the finish waits for it
  EXPECT_TRUE(reactor_->finishes.empty());
  CompleteWrite();
  EXPECT_EQ(reactor_->writes, (std::vector<Write>{{1, true}}));
  EXPECT_EQ(reactor_->finishes, std::vector<grpc::StatusCode>{grpc::StatusCode::CANCELLED});
}

TEST_F(StreamPumpTest, NotStarted_PumpWritesNothing) {
  reactor_->ready = {1};
  reactor_->Pump();
  EXPECT_TRUE(reactor_->writes.empty());
}

// Recovery for the streams: what the reactor's own work throws ends that stream as a throwing
// handler's call ends (UNKNOWN, which the recovery stage makes INTERNAL), on the delivery
// thread, which goes on serving the other streams.
TEST_F(StreamPumpTest, NextThrows_StreamFinishesAsAThrowingHandler_DeliveryThreadGoesOn) {
  reactor_->ready = {1};
  reactor_->throw_on_call = 1;
  reactor_->MarkStarted();
  reactor_->SchedulePump();
  Drain();  // the delivery thread ran the throwing Pump, and runs this after it
  EXPECT_TRUE(reactor_->writes.empty());
  EXPECT_EQ(reactor_->finishes, std::vector<grpc::StatusCode>{grpc::StatusCode::UNKNOWN});
  EXPECT_EQ(reactor_->finish_message, errors::kHandlerThrew);
  reactor_->Pump();  // finished: nothing more
  EXPECT_EQ(reactor_->finishes.size(), 1u);
}

TEST_F(StreamPumpTest, LookAheadThrows_StreamFinishesWithoutTheWrite) {
  reactor_->ready = {1, 2};
  reactor_->throw_on_call = 2;  // looking ahead, after 1 was chosen
  reactor_->MarkStarted();
  reactor_->Pump();
  EXPECT_TRUE(reactor_->writes.empty());
  EXPECT_EQ(reactor_->finishes, std::vector<grpc::StatusCode>{grpc::StatusCode::UNKNOWN});
}

// A reactor's own callback that fails (StreamOrderUpdates answering a request) aborts the
// stream; with a write in flight the finish waits for the write's completion, since no
// operation may follow Finish.
TEST_F(StreamPumpTest, AbortedWhileWriting_FinishesAfterTheWrite_NothingWrittenAfter) {
  reactor_->ready = {1, 2, 3};
  reactor_->MarkStarted();
  reactor_->Pump();  // writes 1
  reactor_->Abort(errors::HandlerThrew());
  EXPECT_TRUE(reactor_->finishes.empty());
  CompleteWrite();
  EXPECT_EQ(reactor_->writes, (std::vector<Write>{{1, true}}));
  EXPECT_EQ(reactor_->finishes, std::vector<grpc::StatusCode>{grpc::StatusCode::UNKNOWN});
  reactor_->Abort(grpc::Status::CANCELLED);  // once only
  EXPECT_EQ(reactor_->finishes.size(), 1u);
}

TEST_F(StreamPumpTest, AbortedWithNoWriteInFlight_FinishesAtOnce) {
  reactor_->MarkStarted();
  reactor_->Pump();  // nothing ready: idle
  reactor_->Abort(errors::HandlerThrew());
  EXPECT_EQ(reactor_->finishes, std::vector<grpc::StatusCode>{grpc::StatusCode::UNKNOWN});
  reactor_->ready = {1};
  reactor_->Pump();
  EXPECT_TRUE(reactor_->writes.empty());
}

}  // namespace
}  // namespace hermes::streams
