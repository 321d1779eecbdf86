#include "libs/streams/delivery_thread.h"

#include <pthread.h>

#include <utility>

namespace hermes::streams {

DeliveryThread::DeliveryThread() : thread_([this] { Run(); }) {}

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

void DeliveryThread::Run() {
  pthread_setname_np(pthread_self(), "hermes-delivery");  // at most 15 characters
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
  try {
    delivery_.Post([this] {
      pump_scheduled_.store(false);  // before Pump: work queued from now on posts again
      Pump();
      Unref();
    });
  } catch (...) {  // not posted (an allocation failed): as if never scheduled
    pump_scheduled_.store(false);
    Unref();  // never the last reference: gRPC holds one until OnDone
    throw;
  }
}

}  // namespace hermes::streams
