// HandlerPool: the threads that run the handlers which wait — for a commit's fsync, for a
// read: the unary methods' (UnaryMethods::AddOnPool, unary_methods.h; a handler that also waits
// for another service, AddOnPoolAnsweringLater, gives its thread back meanwhile) and
// UploadOrderEvents' messages.
//
// The unary calls complete on four completion-queue threads, the streams' on gRPC's few shared
// callback threads (two on machines of up to 5 cores); a handler that waits cannot run on
// either without stalling every call behind it, so these threads are where it waits instead.
// Threads are started on demand, when a task arrives and no thread is idle, up to `max_threads`,
// and then kept: the same steady state as the sync API's thread pool (which kept up to 64 idle
// threads, see runtime::kUnaryThreadReserve), without its completion queue. Tasks run in the order
// posted; beyond `max_threads` busy, they queue.
//
// A new call is admitted with TryPost, which refuses it once `max_waiting` tasks already wait
// for a thread: under a load beyond what the threads get through, the caller answers at once
// (RESOURCE_EXHAUSTED, see unary_methods.h) instead of the queue, its memory and every call's wait
// growing for as long as the overload lasts. Post is for work of a call already admitted (the
// next message of a stream), which must not be dropped half-way: it always queues.
//
//   HandlerPool pool(64);
//   if (!pool.TryPost([...] { ...; reactor->Finish(status); })) reactor->Finish(overloaded);
//
// Destroy it only after the server that posts to it has shut down (Shutdown returns once every
// call has ended, so nothing is queued by then); the services declare it after everything its
// tasks use. Post never fails to run a task: when no thread can be started at all, or the pool
// is being destroyed, it runs the task on the caller's thread.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hermes::interceptor {

// As many calls as the sync API let wait at once (runtime::kUnaryThreadReserve): enough for a
// group commit to gather 64 writers into one fsync.
inline constexpr int kDefaultHandlerThreads = 64;
// Calls that may wait for one of them: 16 a thread, ~0.15-0.2 s of queued work at the
// services' rates with every thread busy (tests/bench/HISTORY.md: CreateUser ~7k/s, ListUsers ~5k/s
// at 64 in flight). Beyond that a caller is better told at once to go elsewhere or back off.
inline constexpr size_t kDefaultMaxWaiting = 1024;

// The message of the RESOURCE_EXHAUSTED that a call refused by TryPost is answered.
inline constexpr char kOverloaded[] =
    "too many calls are waiting on this instance; nothing was done, retry later";

class HandlerPool {
 public:
  explicit HandlerPool(int max_threads = kDefaultHandlerThreads,
                       size_t max_waiting = kDefaultMaxWaiting);
  // Runs what is still queued, then joins.
  ~HandlerPool();
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  // Queues `task` unless `max_waiting` tasks already wait beyond those the idle threads and
  // the threads still to be started will take: then it returns false and `task` is neither run
  // nor kept.
  [[nodiscard]] bool TryPost(std::function<void()> task);
  // Queues `task` however many wait.
  void Post(std::function<void()> task);

  // Threads started so far (they are never stopped before the destructor), and how many of
  // them are waiting for a task.
  size_t threads() const;
  size_t idle_threads() const;
  // Tasks queued that no idle thread is about to take.
  size_t waiting() const;

 private:
  void Run();
  // Post, or TryPost when `admit` (whose refusal leaves `task` untouched).
  bool Enqueue(std::function<void()>& task, bool admit);

  const size_t max_threads_;
  const size_t max_waiting_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;  // threads waiting for a task
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hermes::interceptor
