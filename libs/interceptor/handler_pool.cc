#include "libs/interceptor/handler_pool.h"

#include <algorithm>
#include <system_error>
#include <utility>

#include "libs/telemetry/log.h"

namespace hermes::interceptor {

HandlerPool::HandlerPool(int max_threads, size_t max_waiting)
    : max_threads_(static_cast<size_t>(std::max(1, max_threads))), max_waiting_(max_waiting) {}

HandlerPool::~HandlerPool() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    threads.swap(threads_);  // from now on Post runs its task itself
  }
  for (std::thread& thread : threads) thread.join();
}

bool HandlerPool::TryPost(std::function<void()> task) { return Enqueue(task, true); }

void HandlerPool::Post(std::function<void()> task) { Enqueue(task, false); }

bool HandlerPool::Enqueue(std::function<void()>& task, bool admit) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      // Every idle thread will take one task, and every thread still to be started one more:
      // the rest wait. (Counted so, not by whether the pool is at max_threads, so that a pool
      // where a thread could not be started still bounds its queue.)
      const bool all_busy = threads_.size() >= max_threads_;
      const size_t can_take = idle_ + (max_threads_ - threads_.size());
      if (admit && tasks_.size() >= can_take + max_waiting_) return false;
      tasks_.push_back(std::move(task));
      if (tasks_.size() <= idle_ || all_busy) return true;
      try {
        threads_.emplace_back([this] { Run(); });
        return true;
      } catch (const std::system_error& error) {
        HERMES_LOG(spdlog::level::warn, "the handler pool could not start a thread")
            .Str("error", error.what())
            .Int("threads", static_cast<int64_t>(threads_.size()));
        if (!threads_.empty()) return true;  // a thread that is there will take the task
        task = std::move(tasks_.back());
        tasks_.pop_back();
      }
    }
  }
  // No thread to run it (none could be started, or the pool is being destroyed, which must not
  // happen while a server can still call): run it here rather than never answer the call.
  task();
  return true;
}

size_t HandlerPool::threads() const {
  absl::MutexLock lock(&mu_);
  return threads_.size();
}

size_t HandlerPool::idle_threads() const {
  absl::MutexLock lock(&mu_);
  return idle_;
}

size_t HandlerPool::waiting() const {
  absl::MutexLock lock(&mu_);
  return tasks_.size() > idle_ ? tasks_.size() - idle_ : 0;
}

void HandlerPool::Run() {
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !tasks_.empty() || stopping_; };
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      ++idle_;
      mu_.Await(absl::Condition(&ready));
      --idle_;
      if (tasks_.empty()) return;  // stopping, and everything posted has run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace hermes::interceptor
