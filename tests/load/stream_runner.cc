#include "tests/load/stream_runner.h"

#include <grpc/support/time.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tests/load/stop_signal.h"

namespace hermes::load {
namespace {

// Workers learn that another one ended the opening phase by looking; this bounds how late.
constexpr auto kMaxSleep = std::chrono::milliseconds(10);

gpr_timespec MonotonicIn(Clock::duration delay) {
  const int64_t nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count();
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_nanos(std::max<int64_t>(0, nanos), GPR_TIMESPAN));
}

int64_t Nanos(Clock::duration duration) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count();
}

}  // namespace

// ---- StreamWorkload ----------------------------------------------------------------------------

Clock::time_point StreamWorkload::opening_deadline() const {
  const double last_due_s = static_cast<double>(streams - 1) / open_rate;
  return start + std::chrono::nanoseconds(std::llround(last_due_s * 1e9)) +
         absl::ToChronoNanoseconds(timeout);
}

std::optional<Clock::time_point> StreamWorkload::window_start() const {
  const int64_t ticks = window_start_ns.load(std::memory_order_acquire);
  if (ticks == 0) return std::nullopt;
  return Clock::time_point(Clock::duration(ticks));
}

void StreamWorkload::EndWindow(Clock::time_point end) {
  const int64_t ticks = std::max<Clock::rep>(1, end.time_since_epoch().count());
  int64_t seen = window_end_ns.load(std::memory_order_relaxed);
  while (seen < ticks && !window_end_ns.compare_exchange_weak(seen, ticks)) {
  }
}

std::optional<Clock::time_point> StreamWorkload::window_end() const {
  const int64_t ticks = window_end_ns.load(std::memory_order_acquire);
  if (ticks == 0) return std::nullopt;
  return Clock::time_point(Clock::duration(ticks));
}

Clock::time_point StreamWorkload::EndOpening(Clock::time_point now) {
  int64_t expected = 0;
  const int64_t ticks = std::max<Clock::rep>(1, now.time_since_epoch().count());
  if (window_start_ns.compare_exchange_strong(expected, ticks, std::memory_order_acq_rel)) {
    if (!ready_file.empty()) std::ofstream(ready_file, std::ios::trunc) << opened.load() << "\n";
    const double ms = static_cast<double>(Nanos(now - start)) / 1e6;
    const int open = opened.load();
    std::string line = open == streams ? absl::StrCat("streams ready: ", open, " in ")
                                       : absl::StrCat("streams ready: ", open, " of ", streams,
                                                      " (", streams - open, " failed) in ");
    absl::StrAppend(&line, absl::StrFormat("%.1f", ms), " ms\n");
    std::cerr << line << std::flush;
  }
  return *window_start();
}

// ---- StreamWorker ------------------------------------------------------------------------------

struct StreamWorker::Tag {
  enum class Op { kStart, kHeaders, kRead, kWrite, kFinish };
  Stream* stream;
  Op op;
};

// One long-lived stream. Its tags point back at it, so it never moves (held by unique_ptr).
struct StreamWorker::Stream {
  Stream()
      : start{this, Tag::Op::kStart},
        headers{this, Tag::Op::kHeaders},
        read{this, Tag::Op::kRead},
        write{this, Tag::Op::kWrite},
        finish{this, Tag::Op::kFinish} {}

  Tag start, headers, read, write, finish;
  grpc::ClientContext context;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call;
  std::vector<grpc::ByteBuffer> outgoing;
  size_t next_message = 0;
  grpc::ByteBuffer incoming;
  grpc::Status status;
  Clock::time_point due;
  int pending = 0;  // operations whose tags have not come back
  bool started = false;
  bool write_pending = false;
  bool half_closed = false;
  bool want_half_close = false;  // bidi, closing phase
  bool finish_requested = false;
  bool finished = false;
  bool settled = false;
  bool open = false;
  bool cancelled_by_us = false;    // closing phase, server streaming
  bool cancelled_opening = false;  // no headers by the opening deadline
};

StreamWorker::StreamWorker(StreamWorkload& workload, int index, int count)
    : workload_(workload),
      index_(index),
      count_(count),
      my_streams_(workload.streams / count + (index < workload.streams % count)),
      renderer_(*workload.request) {
  for (const auto& channel : workload.channels) stubs_.emplace_back(channel);
  stats_.streams.requested = static_cast<uint64_t>(my_streams_);
}

StreamWorker::~StreamWorker() = default;

void StreamWorker::Open(Clock::time_point due) {
  streams_.push_back(std::make_unique<Stream>());
  Stream* stream = streams_.back().get();
  stream->due = due;
  const uint64_t n = workload_.request->varies_per_call() ? workload_.next_n.fetch_add(1) : 0;
  absl::StatusOr<const std::vector<grpc::ByteBuffer>*> messages = renderer_.Render(n);
  if (!messages.ok()) {
    stream->status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  absl::StrCat("hermes-load: ", messages.status().message()));
    stream->finished = true;
    Finished(stream);
    return;
  }
  stream->outgoing = **messages;
  // Streams spread over the connections round-robin, across workers too.
  const size_t global = static_cast<size_t>(index_) + (streams_.size() - 1) * count_;
  stream->call =
      stubs_[global % stubs_.size()].PrepareCall(&stream->context, workload_.method->path, &queue_);
  ++live_;
  ++stream->pending;
  stream->call->StartCall(&stream->start);
}

void StreamWorker::WriteNext(Stream* stream) {
  if (!stream->started || stream->write_pending || stream->half_closed || stream->finished) return;
  const bool server_streaming = workload_.method->kind == RpcKind::kServerStreaming;
  if (stream->next_message < stream->outgoing.size()) {
    const size_t i = stream->next_message++;
    stream->write_pending = true;
    ++stream->pending;
    if (server_streaming && i + 1 == stream->outgoing.size()) {
      stream->half_closed = true;
      stream->call->Write(stream->outgoing[i], grpc::WriteOptions().set_last_message(),
                          &stream->write);
    } else {
      stream->call->Write(stream->outgoing[i], &stream->write);
    }
    return;
  }
  if (server_streaming || stream->want_half_close) {
    stream->half_closed = true;
    stream->write_pending = true;
    ++stream->pending;
    stream->call->WritesDone(&stream->write);
  }
}

void StreamWorker::MaybeFinish(Stream* stream) {
  if (stream->finish_requested) return;
  stream->finish_requested = true;
  ++stream->pending;
  stream->call->Finish(&stream->status, &stream->finish);
}

void StreamWorker::OnMessage(Stream* stream) {
  // Counted only for --stream_messages: every worker's messages would meet on this one atomic.
  if (workload_.expect_messages > 0) workload_.received.fetch_add(1, std::memory_order_relaxed);
  if (!window_start_.has_value()) return;  // still opening: not counted
  const Clock::time_point now = Clock::now();
  if (now < measure_start_ || now >= end_) return;
  ++stats_.streams.messages;
  if (!workload_.latency_field.has_value()) return;
  const std::optional<int64_t> stamped = workload_.latency_field->UnixNanos(&stream->incoming);
  if (!stamped.has_value()) {
    ++stats_.streams.messages_without_timestamp;
  } else if (const int64_t delay = absl::GetCurrentTimeNanos() - *stamped; delay >= 0) {
    stats_.streams.delivery.Record(delay);
  } else {
    ++stats_.streams.messages_stamped_ahead;
  }
}

void StreamWorker::Settle(Stream* stream, bool open) {
  if (stream->settled) return;
  stream->settled = true;
  const Clock::time_point now = Clock::now();
  if (open) {
    stream->open = true;
    ++stats_.streams.opened;
    stats_.latency.Record(Nanos(now - stream->due));
    workload_.opened.fetch_add(1);
  }
  if (workload_.settled.fetch_add(1) + 1 == workload_.streams) workload_.EndOpening(now);
}

void StreamWorker::Finished(Stream* stream) {
  Settle(stream, /*open=*/false);
  grpc::Status status = stream->status;
  if (stream->cancelled_opening && status.error_code() == grpc::StatusCode::CANCELLED) {
    status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "hermes-load: no response headers within --timeout of opening");
  }
  // One that failed to open counts as failed even when the run is already closing (when no
  // stream opened, it closes as the opening ends).
  if (!closing_ || stream->cancelled_opening) {
    ++stats_.streams.ended_early;
    stats_.streams.ended_early_status.Add(status);
    stats_.status.Add(status);
    return;
  }
  if (stream->cancelled_by_us && status.error_code() == grpc::StatusCode::CANCELLED) {
    stats_.status.Add(grpc::Status::OK);  // we ended it: the run was over
  } else {
    stats_.status.Add(status);
  }
}

void StreamWorker::OnEvent(Tag* tag, bool ok) {
  Stream* stream = tag->stream;
  --stream->pending;
  switch (tag->op) {
    case Tag::Op::kStart:
      if (!ok) {
        MaybeFinish(stream);
        break;
      }
      stream->started = true;
      stream->pending += 2;
      stream->call->ReadInitialMetadata(&stream->headers);
      stream->call->Read(&stream->incoming, &stream->read);
      WriteNext(stream);
      break;
    case Tag::Op::kHeaders:
      // A refusal without headers (trailers only) completes this too; the read that fails
      // right after tells, and the stream then counts as ended early. Headers after the
      // opening phase ended (whichever worker ended it) are too late: the stream stays
      // unsettled, and this worker cancels it when it looks (CancelRemaining).
      if (ok && !stream->finish_requested && !stream->cancelled_opening &&
          !workload_.window_start().has_value()) {
        Settle(stream, /*open=*/true);
      }
      break;
    case Tag::Op::kRead:
      if (!ok) {
        MaybeFinish(stream);
        break;
      }
      OnMessage(stream);
      stream->incoming.Clear();
      ++stream->pending;
      stream->call->Read(&stream->incoming, &stream->read);
      break;
    case Tag::Op::kWrite:
      stream->write_pending = false;
      if (ok) WriteNext(stream);  // a failed write: the read side will see the end
      break;
    case Tag::Op::kFinish:
      stream->finished = true;
      Finished(stream);
      break;
  }
  if (stream->finished && stream->pending == 0) --live_;
}

void StreamWorker::Close(Clock::time_point now) {
  closing_ = true;
  close_deadline_ = now + absl::ToChronoNanoseconds(workload_.timeout);
  for (const auto& stream : streams_) {
    // One that never opened was cancelled as the opening phase ended (CancelRemaining): it is
    // not ours to end as the run's, which would count it OK.
    if (stream->finish_requested || !stream->settled) continue;
    if (workload_.method->kind == RpcKind::kBidiStreaming) {
      stream->want_half_close = true;
      WriteNext(stream.get());
    } else {
      stream->cancelled_by_us = true;
      stream->context.TryCancel();
    }
  }
}

void StreamWorker::CancelRemaining(Cancel which) {
  for (const auto& stream : streams_) {
    if (stream->finish_requested || (which != Cancel::kAll && stream->settled)) continue;
    if (which == Cancel::kUnopenedTimedOut) stream->cancelled_opening = true;
    stream->context.TryCancel();
  }
}

void StreamWorker::Run() {
  const Clock::time_point opening_deadline = workload_.opening_deadline();
  auto due_of = [&](int local) {
    const double global = static_cast<double>(index_ + local * count_);
    return workload_.start +
           std::chrono::nanoseconds(std::llround(global * 1e9 / workload_.open_rate));
  };
  // Whether this worker opens more streams: until the opening phase ends (every stream
  // settled, its deadline, or a stop), none after, or a Ctrl-C would go on opening streams
  // nobody then closes.
  auto may_open = [&] {
    return !window_start_.has_value() && !StopRequested() &&
           static_cast<int>(streams_.size()) < my_streams_;
  };
  while (true) {
    const Clock::time_point now = Clock::now();
    while (may_open() && due_of(static_cast<int>(streams_.size())) <= now) {
      Open(due_of(static_cast<int>(streams_.size())));
    }
    if (!window_start_.has_value()) {
      // The opening phase ends for every worker at once: at its deadline, on a stop, or when
      // every stream has settled, whichever worker sees it first. A stream of this worker still
      // without headers then did not open in time, also when another worker ended the phase
      // just before this one looked (it was counted OK, ended by us, before): if the phase
      // ended at the deadline it failed to open; before it (a stop), it was only cut short.
      if (workload_.window_start().has_value() || now >= opening_deadline || StopRequested()) {
        window_start_ = workload_.EndOpening(now);
        CancelRemaining(*window_start_ >= opening_deadline ? Cancel::kUnopenedTimedOut
                                                           : Cancel::kUnopenedStopped);
        measure_start_ = *window_start_ + absl::ToChronoNanoseconds(workload_.warmup);
        end_ = workload_.opened.load() == 0
                   ? *window_start_  // nothing open: nothing to measure
                   : measure_start_ + absl::ToChronoNanoseconds(workload_.duration);
      }
    }
    // Once the window has started nothing more is opened: with none of this worker's streams
    // live, its run is over.
    if (window_start_.has_value() && !closing_ &&
        (now >= end_ || StopRequested() || live_ == 0 || workload_.AllExpectedReceived())) {
      end_ = std::min(end_, now);  // nothing after it is counted
      workload_.EndWindow(std::max(end_, measure_start_));
      Close(now);
    }
    if (closing_ && !cancelled_ && now >= close_deadline_) {
      CancelRemaining(Cancel::kAll);
      cancelled_ = true;
    }
    if (closing_ && live_ == 0) break;

    Clock::time_point wake = now + kMaxSleep;
    if (may_open()) wake = std::min(wake, due_of(static_cast<int>(streams_.size())));
    if (window_start_.has_value() && !closing_) wake = std::min(wake, end_);
    if (closing_ && !cancelled_) wake = std::min(wake, close_deadline_);
    void* tag = nullptr;
    bool ok = false;
    if (queue_.AsyncNext(&tag, &ok, MonotonicIn(wake - now)) == grpc::CompletionQueue::GOT_EVENT) {
      OnEvent(static_cast<Tag*>(tag), ok);
    }
  }
  queue_.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue_.Next(&tag, &ok)) {
  }
}

}  // namespace hermes::load
