// StreamSlots: how many streams of one kind an instance holds open, against a limit (the
// services' --max_streams). The streaming reactors (WatchUsers, StreamOrderUpdates, and the
// health service's Watch) take a slot when they start and give it back in OnDone, when gRPC is
// done with the call (not when the reactor is deleted, which may be later: a task posted to the
// delivery thread can still hold it).
//
//   StreamSlots slots(options.max_streams);               // one per service, outlives its streams
//   std::optional<StreamSlots::Slot> slot = slots.TryTake();
//   if (!slot) return RESOURCE_EXHAUSTED;                  // at the limit: nothing was taken
//   ...
//   slot.reset();                                          // OnDone: the stream no longer counts
#pragma once

#include <atomic>
#include <optional>
#include <utility>

namespace hermes::streams {

class StreamSlots {
 public:
  explicit StreamSlots(int limit) : limit_(limit) {}
  StreamSlots(const StreamSlots&) = delete;
  StreamSlots& operator=(const StreamSlots&) = delete;

  // One open stream's place; given back when destroyed. Movable, so it can live in an optional.
  class Slot {
   public:
    Slot(Slot&& other) noexcept : slots_(std::exchange(other.slots_, nullptr)) {}
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        GiveBack();
        slots_ = std::exchange(other.slots_, nullptr);
      }
      return *this;
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() { GiveBack(); }

   private:
    friend class StreamSlots;
    explicit Slot(StreamSlots* slots) : slots_(slots) {}
    void GiveBack() {
      if (slots_ != nullptr) slots_->open_.fetch_sub(1);
      slots_ = nullptr;
    }
    StreamSlots* slots_;
  };

  // A slot, or nullopt when `limit` are taken. Lock-free; never over the limit, even when many
  // threads race for the last one.
  std::optional<Slot> TryTake() {
    if (open_.fetch_add(1) >= limit_) {
      open_.fetch_sub(1);
      return std::nullopt;
    }
    return Slot(this);
  }

  int open() const { return open_.load(); }

 private:
  const int limit_;
  std::atomic<int> open_{0};
};

}  // namespace hermes::streams
