// StreamPump: the writing half of the services' streaming reactors (WatchUsers,
// StreamOrderUpdates), written once. A reactor derives from StreamPump<its gRPC reactor base,
// its response type, the fan-out's event type> and says only what to send next (Next); the
// pump holds the stream's fan-out subscription and its stream slot, writes one response at a
// time (see "Where Pump runs" below), finishes the stream, and lets both go in OnDone.
//
//   class WatchUsersReactor final
//       : public streams::StreamPump<grpc::ServerWriteReactor<Response>, Response, UserEvent> {
//     Step Next(Response* out, bool looking_ahead) override;   // under mutex_; TryPopNext
//   };
//   reactor->BeginChain(chain, path);          // first: the server's chain (DrivesChain)
//   reactor->slot_ = watchers.TryTake();       // or finish RESOURCE_EXHAUSTED
//   reactor->Subscribe(fanout, capacity);
//   reactor->StartSendInitialMetadata();
//   reactor->MarkStarted();   // from now on Pump writes
//   reactor->Pump();          // or SchedulePump(), if the first Next may read the store
//
// Looking ahead: after choosing a write, the pump asks Next for the one after it. While more
// is ready, a write carries gRPC's buffer hint, so a backlog leaves in one HTTP/2 write, TLS
// record and sendmsg instead of one each. (A write with the hint completes at once while the
// stream holds less than gRPC's write buffer, 64 KB; past that the transport flushes by itself,
// so waiting for OnWriteDone cannot stall.) Nothing is buffered without a write known to
// follow: the last one ready goes out unbuffered, which flushes the stream, and so does every
// (kMaxBufferedWrites + 1)-th, which bounds what a stream holds in gRPC. The price: a buffered
// message waits for this stream's next Pump, behind other streams' work on gRPC's threads —
// only ever on a backlog, which is late already. Measured on WatchUsers
// (tests/bench/HISTORY.md): about twice the messages delivered under overload.
//
// Exceptions: what Next or StillToSend throws ends the stream as a throwing handler's call
// ends (errors::HandlerThrew(): UNKNOWN, which the recovery stage makes INTERNAL), and so do
// a response that fails to serialize (raw methods) and a yield that cannot be posted, instead
// of escaping: into the delivery thread, that would end the process; into gRPC's thread (a pump
// from OnWriteDone), gRPC would swallow it and the call would never finish, its reactor and slot
// kept for good. A reactor's own callback that fails (a gRPC thread's) ends it with Abort, which
// never finishes ahead of a write about to start.
//
// A reactor registered raw (a grpc::ByteBuffer base: StreamOrderUpdates, which parses its own
// requests) still says what to send as a Response; the pump serializes it before writing.
//
// Where Pump runs: on any thread at the start; on the delivery thread when the fan-out's waker
// or a Next that yields posts it there (SchedulePump); and, when a write completes, at once on
// the gRPC thread that completed it (OnWriteDone), so that a stream with a backlog goes on
// writing without a hand-off to the delivery thread and back per message: measured on
// WatchUsers (tests/bench/HISTORY.md), 1,000 watchers at 200 writes/s got up to all 2,000,000
// messages instead of about a quarter of them before every watcher overflowed. So a Next must not
// block unless OnDeliveryThread(): one that would read the store returns kYield instead, and reads
// on the delivery thread (WatchUsers' replay). A stream whose first Next may read the store is
// started with SchedulePump. A posted Pump holds a reference, so the reactor is deleted when
// gRPC is done with it (its OnDone calls ReleaseGrpcReference) and no posted task is left.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/api/parse_request.h"
#include "libs/errors/app_error.h"
#include "libs/interceptor/chain.h"
#include "libs/interceptor/request_id.h"
#include "libs/streams/delivery_thread.h"
#include "libs/streams/event_fanout.h"
#include "libs/streams/stream_slots.h"
#include "libs/telemetry/log.h"

namespace hermes::streams {

// The reactor base of a method registered raw writes bytes; the pump then serializes each
// response itself.
template <typename ReactorBase>
concept WritesBytes = requires(ReactorBase& base, const grpc::ByteBuffer* bytes) {
  base.StartWrite(bytes, grpc::WriteOptions());
};

template <typename ReactorBase, typename Response, typename Event>
class StreamPump : public ReactorBase, protected PumpedByDeliveryThread {
 public:
  void OnWriteDone(bool ok) override {
    bool finish = false;
    {
      absl::MutexLock lock(&mutex_);
      writing_ = false;
      // The client is gone. Finished in the same critical section, so that a Pump posted
      // earlier cannot start a write between this and Finish (no operation after Finish).
      if (!ok && !finished_) finish = finished_ = true;
    }
    if (ok) {
      Pump();  // here, on gRPC's thread: see the top of the file
    } else if (finish) {
      FinishCall(grpc::Status::CANCELLED);
    }
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mutex_);
      cancelled_ = true;
      // A write in flight completes, and its OnWriteDone (not ok) or the Pump after it (a
      // buffered write completes ok at once) finishes the stream; before the start, the first
      // Pump sees cancelled_.
      if (!started_ || writing_ || finished_) return;
      finished_ = true;
    }
    FinishCall(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    {
      // gRPC destroys the call's context once this returns: a Pump that decided to cancel the
      // call (before it finished) must be done with the context first.
      absl::MutexLock lock(&mutex_);
      mutex_.Await(absl::Condition(
          +[](bool* cancelling) { return !*cancelling; }, &cancelling_));
    }
    // So must the chain's stages. (Every end of ours passes through FinishCall, and gRPC calls
    // OnDone only after a Finish: this is a safety net.)
    if (chained_.has_value()) chained_->EndIfUnfinished();
    // After this no waker runs (Unsubscribe waits for a wake in progress), and no Pump gets
    // past `finished_`, so nothing touches the subscription any more.
    subscription_.reset();
    // The stream no longer counts against the limit, even while a posted Pump still holds the
    // reactor.
    slot_.reset();
    ReleaseGrpcReference();
  }

 protected:
  // kYield: nothing to write yet, but more work to do (a replay whose batch was all filtered
  // out, or a store read while !OnDeliveryThread()): the pump is posted again, so that one Pump
  // does a bounded amount of work, other streams' pumps on the delivery thread get their turn,
  // and nothing blocks a gRPC thread.
  enum class Step { kWrite, kIdle, kYield, kFinish };
  using Fanout = EventFanout<Event>;

  // `context`: the call's, for cancelling a stream whose write has been held up for
  // `stuck_write_grace` while its subscription overflowed (see StuckBehindItsClient); nullptr:
  // never cancelled so.
  explicit StreamPump(DeliveryThread& delivery, grpc::ServerContextBase* context = nullptr,
                      absl::Duration stuck_write_grace = absl::InfiniteDuration())
      : PumpedByDeliveryThread(delivery),
        context_(context),
        stuck_write_grace_(stuck_write_grace) {}
  // Runs after OnDone, which released the subscription and the stream slot.
  ~StreamPump() override = default;

  // Runs the server's chain on this call, a method of a DrivesChain service (chain.h), from the
  // request's arrival: first thing in the method's handler, before anything reads the request
  // metadata. No-op with a null `chain` (a server without one, or --bench_no_chain). The
  // response headers carry the request id from here; every write counts as a message sent, and
  // the stream's finish passes through the stages.
  void BeginChain(std::shared_ptr<const interceptor::ServerChain> chain, absl::string_view path) {
    interceptor::ChainedCall::BeginIfDriven(chained_, std::move(chain), path, context_);
  }
  // A request message arrived (the one of a server-streaming call, or each of a bidirectional
  // one's): counted by the chain.
  void ChainReceived() {
    if (chained_.has_value()) chained_->MessageReceived();
  }

  // Follows `fanout` from now on: its waker pumps this stream on the delivery thread.
  void Subscribe(Fanout& fanout, size_t capacity) {
    subscription_.emplace(fanout.Subscribe(capacity, [this] { SchedulePump(); }));
  }

  // For Next: the subscription's next item. Looking ahead, finding nothing does not ask for a
  // wake (the write about to start pumps again when it completes).
  typename Fanout::Next TryPopNext(bool looking_ahead, std::shared_ptr<const Event>* event) {
    return looking_ahead ? subscription_->TryPopWhileBusy(event) : subscription_->TryPop(event);
  }

  // The next response into `out` (kWrite), nothing yet (kIdle), not yet but pump again
  // (kYield), or the end (kFinish, with finish_status_ set). `looking_ahead`: a write is about
  // to be in flight and its completion pumps again, so on kIdle the fan-out need not wake this
  // stream (TryPopWhileBusy), and kYield is as kIdle.
  virtual Step Next(Response* out, bool looking_ahead) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) = 0;

  // Asked before the response looked ahead at goes out, since the stream's state may have
  // changed meanwhile (a request read while the write before it was in flight): false drops
  // it and asks Next again. A reactor applies here what its Next skipped when looking ahead.
  // A dropped response is sent all the same when the write before it was buffered and Next
  // has nothing else: it is the one write that flushes the stream.
  virtual bool StillToSend(const Response& /*looked_ahead*/) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return true;
  }

  // Pump writes from now on (after the response headers were started).
  void MarkStarted() {
    absl::MutexLock lock(&mutex_);
    started_ = true;
  }

  // Writes the next response if none is in flight, or finishes the stream. With a write in
  // flight, cancels a stream stuck behind a client that stopped reading (StuckBehindItsClient).
  void Pump() final {
    Step step = Step::kIdle;
    grpc::Status status;
    grpc::WriteOptions options;
    bool cancel_stuck = false;
    {
      absl::MutexLock lock(&mutex_);
      if (writing_) {
        if (!StuckBehindItsClient()) return;
        stuck_cancelled_ = true;
        cancelling_ = true;  // OnDone waits for it: the call may finish meanwhile
        cancel_stuck = true;
      } else if (!started_ || finished_) {
        return;
      } else {
        try {
          step = Choose(&options);
        } catch (...) {
          // Choosing the next message threw (an allocation failed, in a replay's read, say):
          // this stream ends as a handler that throws does, which the recovery stage reports as
          // INTERNAL, logged and counted; the thread and the other streams go on.
          ahead_ = Step::kIdle;
          finish_status_ = errors::HandlerThrew();
          step = Step::kFinish;
        }
        switch (step) {
          case Step::kIdle:
            return;
          case Step::kYield:
            break;
          case Step::kWrite:
            writing_ = true;
            write_started_ = absl::Now();
            break;
          case Step::kFinish:
            finished_ = true;
            status = finish_status_;
            break;
        }
      }
    }
    if (cancel_stuck) {
      // The access log shows the call as an ordinary Cancelled; this line says why, under the
      // same request id.
      LogStuckCancel(*context_);
      // gRPC ends the call: the write completes not ok, and OnWriteDone finishes the stream.
      context_->TryCancel();
      absl::MutexLock lock(&mutex_);
      cancelling_ = false;
      return;
    }
    // Outside the lock: gRPC may run OnWriteDone, which pumps again, on another thread at once.
    if (step == Step::kWrite) {
      StartWriting(options);
    } else if (step == Step::kYield) {
      try {
        SchedulePump();
      } catch (...) {
        // Not posted (an allocation failed), so nothing would pump this stream again: it ends
        // as a throwing handler's call, after a write that another Pump may have started
        // meanwhile (Abort waits for it).
        Abort(errors::HandlerThrew());
      }
    } else {
      FinishCall(status);
    }
  }

  // Ends the stream with `status` from one of the reactor's own callbacks (a request that could
  // not be handled): at once, unless a write is in flight or about to start, which must not
  // follow Finish; then the Pump after its completion finishes the stream.
  void Abort(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mutex_);
      if (finished_ || abort_status_.has_value()) return;
      abort_status_ = status;
      if (writing_) return;
      finished_ = true;
    }
    FinishCall(status);
  }

  // Finishes the stream with `status` unless it is finished already. Only where no write can be
  // in flight (before MarkStarted); elsewhere Abort.
  void FinishOnce(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mutex_);
      if (finished_) return;
      finished_ = true;
    }
    FinishCall(status);
  }

  bool finished() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return finished_; }

  // gRPC's Finish, after the chain's stages have seen (and may have rewritten) the status.
  // Called once: every caller owns `finished_`'s setting.
  void FinishCall(grpc::Status status) {
    if (chained_.has_value()) chained_->Finish(status);  // its stages do not throw (chain.h)
    this->Finish(status);
  }

  // Guards the pump's state and the deriving reactor's (Next runs under it).
  absl::Mutex mutex_;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mutex_);  // set by Next when it says kFinish
  std::optional<StreamSlots::Slot> slot_;  // the stream's place under the limit, until OnDone
  // Set by Subscribe; reset in OnDone, so that no waker runs once gRPC is done with the call
  // (it would post a task for a reactor about to go).
  std::optional<typename Fanout::Handle> subscription_;

 private:
  static constexpr bool kWritesBytes = WritesBytes<ReactorBase>;

  // What Pump does next: the response in response_ to write (and `options`, with the buffer
  // hint when the next one is ready too), nothing, a yield, or the finish with finish_status_.
  // Throws what Next throws.
  Step Choose(grpc::WriteOptions* options) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    Step step;
    if (cancelled_) {
      step = Step::kFinish;
      finish_status_ = grpc::Status::CANCELLED;
    } else if (abort_status_.has_value()) {
      step = Step::kFinish;
      finish_status_ = *abort_status_;
    } else if (ahead_ == Step::kWrite) {
      if (StillToSend(next_response_)) {
        response_.Swap(&next_response_);  // the response looked ahead at last time
        step = Step::kWrite;
      } else {
        step = Next(&response_, /*looking_ahead=*/false);
        // The write before went out with the buffer hint, on the promise of this one, and
        // nothing else is ready to flush it: it would sit in gRPC's buffer until the stream's
        // next message, maybe for good. The dropped response goes out after all: it was chosen
        // before what made it unwanted was read, as if that request had come a moment later.
        if (buffered_writes_ > 0 && (step == Step::kIdle || step == Step::kYield)) {
          response_.Swap(&next_response_);
          step = Step::kWrite;
        }
      }
    } else if (ahead_ == Step::kFinish) {
      step = Step::kFinish;
    } else {
      step = Next(&response_, /*looking_ahead=*/false);
    }
    ahead_ = Step::kIdle;
    if (step != Step::kWrite) return step;
    ahead_ = Next(&next_response_, /*looking_ahead=*/true);
    if (ahead_ == Step::kYield) ahead_ = Step::kIdle;  // the write's completion pumps
    if (ahead_ == Step::kWrite && buffered_writes_ < kMaxBufferedWrites) {
      options->set_buffer_hint();
      ++buffered_writes_;
    } else {
      buffered_writes_ = 0;
    }
    return step;
  }

  // Starts the write of response_ (serialized first, for a raw method).
  void StartWriting(grpc::WriteOptions options) {
    if constexpr (kWritesBytes) {
      // Replaces the previous write's bytes, done with (gRPC sent its own reference). What
      // serializing throws (an allocation) ends the stream too, rather than gRPC's thread.
      grpc::Status serialized;
      try {
        serialized = api::SerializeResponse(response_, &wire_);
      } catch (...) {
        serialized = errors::HandlerThrew();
      }
      if (!serialized.ok()) {
        {
          absl::MutexLock lock(&mutex_);
          writing_ = false;
          if (finished_) return;
          finished_ = true;
        }
        FinishCall(serialized);
        return;
      }
      if (chained_.has_value()) chained_->MessageSent();
      this->StartWrite(&wire_, options);
    } else {
      if (chained_.has_value()) chained_->MessageSent();
      this->StartWrite(&response_, options);
    }
  }

  static void LogStuckCancel(grpc::ServerContextBase& context) {
    const auto& metadata = context.client_metadata();
    // The chain leaves exactly one.
    const auto request_id = metadata.find(interceptor::kRequestIdHeader);
    HERMES_LOG(spdlog::level::warn, "stream cancelled: its client stopped reading")
        .Str("peer_address", context.peer())
        .Str("request_id",
             request_id == metadata.end()
                 ? absl::string_view()
                 : absl::string_view(request_id->second.data(), request_id->second.size()));
  }

  // A write in flight for stuck_write_grace_ while the subscription overflowed: the client has
  // stopped reading (HTTP/2 flow control holds the write up, and gRPC completes it only once the
  // bytes are sent), and the stream, which learns of its overflow from its first read after the
  // write completes, would stay open for good, holding its place under the stream limit. The
  // fan-out's overflow check wakes such a stream every so often (EventFanout::WakeOverflowing),
  // which is when this is asked. A status could not reach the client past the data it has not
  // read, so the call is cancelled: the client sees CANCELLED once it reads again.
  bool StuckBehindItsClient() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return context_ != nullptr && !finished_ && !stuck_cancelled_ &&
           absl::Now() - write_started_ >= stuck_write_grace_ && subscription_.has_value() &&
           subscription_->Overflowed();
  }

  // Responses a stream's writes may leave in gRPC's buffer before one flushes them (~150
  // bytes each): enough for one transport write to carry a backlog, little memory per stream.
  static constexpr int kMaxBufferedWrites = 32;

  grpc::ServerContextBase* const context_;
  // The chain's pass over this call, when this stream drives it (BeginChain).
  std::optional<interceptor::ChainedCall> chained_;
  const absl::Duration stuck_write_grace_;
  absl::Time write_started_ ABSL_GUARDED_BY(mutex_);  // of the write in flight
  bool stuck_cancelled_ ABSL_GUARDED_BY(mutex_) = false;
  bool cancelling_ ABSL_GUARDED_BY(mutex_) = false;  // a Pump is calling context_->TryCancel()
  bool started_ ABSL_GUARDED_BY(mutex_) = false;
  bool writing_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mutex_) = false;
  std::optional<grpc::Status> abort_status_ ABSL_GUARDED_BY(mutex_);  // set by Abort
  // Filled under mutex_ when no write is in flight; the write in flight owns it.
  Response response_;
  // A raw method's response_, serialized; the write in flight owns it.
  [[no_unique_address]] std::conditional_t<kWritesBytes, grpc::ByteBuffer, std::monostate> wire_;
  // What Next said after the write in flight was chosen: kWrite with the next response in
  // next_response_ (the write in flight may have been buffered), kFinish (finish after it), or
  // kIdle.
  Step ahead_ ABSL_GUARDED_BY(mutex_) = Step::kIdle;
  Response next_response_ ABSL_GUARDED_BY(mutex_);
  int buffered_writes_ ABSL_GUARDED_BY(mutex_) = 0;  // in a row, since the last flush
};

}  // namespace hermes::streams
