#include "libs/streams/delivery_thread.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>

namespace hermes::streams {

DeliveryThread::DeliveryThread(Options options) : thread_([this, options] { Run(options); }) {}

DeliveryThread::~DeliveryThread() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void DeliveryThread::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

void DeliveryThread::Run(Options options) {
  if (options.nice != 0) {
    // Linux keeps a nice value per thread: this lowers this thread only. Failing to (a
    // sandbox that forbids it) leaves delivery at normal priority, which is still correct.
    const auto tid = static_cast<id_t>(syscall(SYS_gettid));
    const int current = getpriority(PRIO_PROCESS, tid);
    (void)setpriority(PRIO_PROCESS, tid, current + options.nice);
  }
  std::deque<std::function<void()>> batch;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !tasks_.empty() || stopping_; };
      mu_.Await(absl::Condition(&ready));
      if (tasks_.empty()) return;  // stopping, and everything posted has run
      batch.swap(tasks_);
    }
    for (auto& task : batch) task();
    batch.clear();
  }
}

void PumpedByDeliveryThread::SchedulePump() {
  if (pump_scheduled_.exchange(true)) return;  // the posted Pump will find this work too
  refs_.fetch_add(1);
  delivery_.Post([this] {
    pump_scheduled_.store(false);  // before Pump: work queued from now on posts again
    Pump();
    Unref();
  });
}

}  // namespace hermes::streams
