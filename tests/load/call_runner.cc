#include "tests/load/call_runner.h"

#include <grpc/support/time.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "tests/load/stop_signal.h"

namespace hermes::load {
namespace {

// How long calls still in flight after the last send may take beyond their own deadline before
// they are cancelled (a deadline is enforced by gRPC; this only guards against a stuck one).
constexpr auto kDrainGrace = std::chrono::seconds(1);
// The longest the loop sleeps without a reason to wake, so nothing depends on one wake-up.
constexpr auto kMaxSleep = std::chrono::milliseconds(200);

gpr_timespec MonotonicIn(Clock::duration delay) {
  const int64_t nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count();
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_nanos(std::max<int64_t>(0, nanos), GPR_TIMESPAN));
}

}  // namespace

// One call slot: a call in flight, or free. Reused, so a call allocates no slot of its own.
struct CallWorker::Call {
  enum class Step { kUnary, kStarting, kWriting, kReading, kFinishing };

  std::optional<grpc::ClientContext> context;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> unary;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> stream;
  std::vector<grpc::ByteBuffer> outgoing;  // client streaming: this call's messages
  size_t next_message = 0;
  bool half_closed = false;
  grpc::ByteBuffer response;
  grpc::Status status;
  Step step = Step::kUnary;
  Clock::time_point intended;
  bool counted = false;
  bool busy = false;
};

CallWorker::CallWorker(CallWorkload& workload, int index, int count)
    : workload_(workload),
      schedule_(workload.schedule),
      count_(count),
      cap_(workload.schedule.concurrency / count + (index < workload.schedule.concurrency % count)),
      next_stub_(static_cast<size_t>(index)),
      renderer_(*workload.request),
      next_index_(static_cast<uint64_t>(index)) {
  for (const auto& channel : workload.channels) stubs_.emplace_back(channel);
  if (schedule_.rps > 0) {
    const double warmup_ns =
        std::chrono::duration<double, std::nano>(schedule_.measure_start - schedule_.start).count();
    first_counted_index_ = static_cast<uint64_t>(std::ceil(warmup_ns * schedule_.rps / 1e9));
    if (schedule_.total > 0) end_index_ = first_counted_index_ + schedule_.total;
  }
}

CallWorker::~CallWorker() = default;

Clock::time_point CallWorker::Due(uint64_t i) const {
  return schedule_.start +
         std::chrono::nanoseconds(std::llround(static_cast<double>(i) * 1e9 / schedule_.rps));
}

CallWorker::Call* CallWorker::FreeCall() {
  if (!free_.empty()) {
    Call* call = free_.back();
    free_.pop_back();
    return call;
  }
  if (static_cast<int>(calls_.size()) >= cap_) return nullptr;
  calls_.push_back(std::make_unique<Call>());
  return calls_.back().get();
}

void CallWorker::Issue(Call* call, Clock::time_point intended, bool counted) {
  const uint64_t n = workload_.request->varies_per_call() ? workload_.next_n.fetch_add(1) : 0;
  absl::StatusOr<const std::vector<grpc::ByteBuffer>*> messages = renderer_.Render(n);
  if (!messages.ok()) {  // a body that only fails for some n: counted as a failed call
    if (counted) {       // with no latency: it never left (a 0 would pull the figures down)
      stats_.status.Add(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("hermes-load: ", messages.status().message()));
      stats_.last_completion = Clock::now();
    }
    free_.push_back(call);
    return;
  }
  call->busy = true;
  call->intended = intended;
  call->counted = counted;
  call->context.emplace();
  call->context->set_deadline(MonotonicIn(absl::ToChronoNanoseconds(schedule_.timeout)));
  grpc::GenericStub& stub = stubs_[next_stub_++ % stubs_.size()];
  ++in_flight_;
  if (workload_.method->kind == RpcKind::kUnary) {
    call->step = Call::Step::kUnary;
    call->unary =
        stub.PrepareUnaryCall(&*call->context, workload_.method->path, (**messages)[0], &queue_);
    call->unary->StartCall();
    call->unary->Finish(&call->response, &call->status, call);
    return;
  }
  call->outgoing = **messages;
  call->next_message = 0;
  call->half_closed = false;
  call->step = Call::Step::kStarting;
  call->stream = stub.PrepareCall(&*call->context, workload_.method->path, &queue_);
  call->stream->StartCall(call);
}

void CallWorker::OnEvent(Call* call, bool ok) {
  if (call->step == Call::Step::kUnary || call->step == Call::Step::kFinishing) {
    Complete(call);
  } else {
    Advance(call, ok);
  }
}

// Client streaming: every message (the last one with the half-close), then the response, then
// the status. A failed step means the call is over: its status says why.
void CallWorker::Advance(Call* call, bool ok) {
  if (!ok || call->step == Call::Step::kReading) {
    call->step = Call::Step::kFinishing;
    call->stream->Finish(&call->status, call);
    return;
  }
  if (call->next_message < call->outgoing.size()) {
    const size_t i = call->next_message++;
    call->step = Call::Step::kWriting;
    if (i + 1 == call->outgoing.size()) {
      call->half_closed = true;
      call->stream->Write(call->outgoing[i], grpc::WriteOptions().set_last_message(), call);
    } else {
      call->stream->Write(call->outgoing[i], call);
    }
    return;
  }
  if (!call->half_closed) {  // a stream of no messages
    call->half_closed = true;
    call->step = Call::Step::kWriting;
    call->stream->WritesDone(call);
    return;
  }
  call->step = Call::Step::kReading;
  call->stream->Read(&call->response, call);
}

void CallWorker::Complete(Call* call) {
  const Clock::time_point now = Clock::now();
  if (call->counted) {
    stats_.latency.Record(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - call->intended).count());
    stats_.status.Add(call->status);
    stats_.last_completion = std::max(stats_.last_completion, now);
  }
  call->unary.reset();
  call->stream.reset();
  call->context.reset();
  call->outgoing.clear();
  call->response.Clear();
  call->busy = false;
  free_.push_back(call);
  --in_flight_;
}

void CallWorker::StopIssuing(Clock::time_point now) {
  if (!issuing_) return;
  issuing_ = false;
  drain_deadline_ = now + absl::ToChronoNanoseconds(schedule_.timeout) + kDrainGrace;
}

void CallWorker::IssueClosedLoop(Clock::time_point now) {
  while (issuing_) {
    if (now >= schedule_.end || StopRequested()) return StopIssuing(now);
    if (free_.empty() && static_cast<int>(calls_.size()) >= cap_) return;
    const bool counted = now >= schedule_.measure_start;
    if (counted && schedule_.total > 0 && workload_.claimed.fetch_add(1) >= schedule_.total) {
      return StopIssuing(now);
    }
    Issue(FreeCall(), now, counted);
    now = Clock::now();
  }
}

void CallWorker::IssueOpenLoop(Clock::time_point now) {
  // A run stopped by a signal ends now, as if its duration had been this long.
  const bool stopped = StopRequested();
  const Clock::time_point end = stopped ? std::min(now, schedule_.end) : schedule_.end;
  while (next_index_ < end_index_) {
    const Clock::time_point due = Due(next_index_);
    if (due >= end) return StopIssuing(now);  // everything due in the window has left
    if (due > now) return;
    Call* call = FreeCall();
    if (call == nullptr) break;  // the cap is full
    Issue(call, due, next_index_ >= first_counted_index_);
    next_index_ += static_cast<uint64_t>(count_);
  }
  if (next_index_ >= end_index_) return StopIssuing(now);
  // Calls due before the end that have not left: the cap is full. They may still leave, late,
  // for one call timeout past the end, their latency counted from when they were due (so the
  // figures show how far behind the run fell, rather than leaving its slowest calls out); a
  // stop by signal ends at once.
  // (A run without a duration, ended by --total, has no end to add to.)
  const auto timeout = absl::ToChronoNanoseconds(schedule_.timeout);
  const Clock::time_point backlog_deadline =
      stopped || end > Clock::time_point::max() - timeout ? end : end + timeout;
  if (now >= backlog_deadline) {
    // Calls due before the end that never left.
    const auto window_ns = std::chrono::duration<double, std::nano>(end - schedule_.start);
    const uint64_t due_before_end = std::min(
        end_index_, static_cast<uint64_t>(std::ceil(window_ns.count() * schedule_.rps / 1e9)));
    uint64_t first = next_index_;
    if (first < first_counted_index_) {
      first += (first_counted_index_ - first + count_ - 1) / count_ * count_;
    }
    if (first < due_before_end) stats_.unsent += (due_before_end - first + count_ - 1) / count_;
    StopIssuing(now);
  }
  // Else the cap is full: a call that completes frees a place.
}

void CallWorker::Run() {
  const bool open_loop = schedule_.rps > 0;
  while (true) {
    const Clock::time_point now = Clock::now();
    if (issuing_) {
      if (open_loop) {
        IssueOpenLoop(now);
      } else {
        IssueClosedLoop(now);
      }
    }
    if (!issuing_ && in_flight_ == 0) break;
    if (!issuing_ && !cancelled_ && now >= drain_deadline_) {
      for (const auto& call : calls_) {
        if (call->busy) call->context->TryCancel();
      }
      cancelled_ = true;
    }
    Clock::time_point wake = now + kMaxSleep;
    if (issuing_) {
      // Past the end, an open loop still issuing has calls waiting for a place: a completion
      // wakes it, and kMaxSleep bounds its wait for the backlog's deadline.
      if (schedule_.end > now) wake = std::min(wake, schedule_.end);
      const bool can_send = !free_.empty() || static_cast<int>(calls_.size()) < cap_;
      if (open_loop && can_send && next_index_ < end_index_)
        wake = std::min(wake, Due(next_index_));
    } else if (!cancelled_) {
      wake = std::min(wake, drain_deadline_);
    }
    void* tag = nullptr;
    bool ok = false;
    switch (queue_.AsyncNext(&tag, &ok, MonotonicIn(wake - now))) {
      case grpc::CompletionQueue::GOT_EVENT:
        OnEvent(static_cast<Call*>(tag), ok);
        break;
      case grpc::CompletionQueue::TIMEOUT:
        break;
      case grpc::CompletionQueue::SHUTDOWN:
        return;
    }
  }
  queue_.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue_.Next(&tag, &ok)) {
  }
}

}  // namespace hermes::load
