#pragma once
// Single-producer/single-consumer lock-free ring with batched hand-off.
//
// Role: carries events from the ingest thread (sole producer) to the engine
// thread (sole consumer). Lifecycle: created before both threads start, outlives
// them. Threading: push_* only from the producer thread, pop_* only from the
// consumer thread; size_approx() from anywhere.
//
// Each side owns one index and keeps a cached copy of the other side's index so
// that it touches the shared cache line only when its cached view says the ring
// is full (producer) or empty (consumer). Batches amortise the atomic traffic:
// one release store publishes a whole batch.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <span>
#include <type_traits>

namespace shoppulse {

template <class T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "ring slots are copied with memcpy semantics");

 public:
  // capacity is rounded up to a power of two.
  explicit SpscRing(std::size_t capacity) : mask_(round_up(capacity) - 1), slots_(new T[mask_ + 1]) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  std::size_t capacity() const noexcept { return mask_ + 1; }

  // Producer: copies as many items as fit (possibly 0); returns the count.
  std::size_t push_some(std::span<const T> items) noexcept {
    // relaxed: only this thread writes head_.
    const std::size_t head = head_.load(std::memory_order_relaxed);
    std::size_t free_slots = capacity() - (head - cached_tail_);
    if (free_slots < items.size()) {
      // acquire: pairs with the consumer's release store of tail_, so the slots
      // it has finished reading are really free before we overwrite them.
      cached_tail_ = tail_.load(std::memory_order_acquire);
      free_slots = capacity() - (head - cached_tail_);
    }
    const std::size_t n = std::min(free_slots, items.size());
    for (std::size_t i = 0; i < n; ++i) slots_[(head + i) & mask_] = items[i];
    // release: makes the slot writes above visible before the consumer sees the new head.
    if (n != 0) head_.store(head + n, std::memory_order_release);
    return n;
  }

  // Consumer: moves up to out.size() items into out; returns the count.
  std::size_t pop_some(std::span<T> out) noexcept {
    // relaxed: only this thread writes tail_.
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    std::size_t available = cached_head_ - tail;
    if (available < out.size()) {
      // acquire: pairs with the producer's release store of head_, so the slot
      // contents written before it are visible to us.
      cached_head_ = head_.load(std::memory_order_acquire);
      available = cached_head_ - tail;
    }
    const std::size_t n = std::min(available, out.size());
    for (std::size_t i = 0; i < n; ++i) out[i] = slots_[(tail + i) & mask_];
    // release: our reads of the slots happen before the producer may reuse them.
    if (n != 0) tail_.store(tail + n, std::memory_order_release);
    return n;
  }

  // Any thread; a momentary estimate (relaxed loads, may be stale).
  std::size_t size_approx() const noexcept {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    const std::size_t head = head_.load(std::memory_order_relaxed);
    return head >= tail ? head - tail : 0;
  }

 private:
  static std::size_t round_up(std::size_t n) noexcept {
    std::size_t p = 2;
    while (p < n) p <<= 1;
    return p;
  }
  static constexpr std::size_t kLine = 64;

  const std::size_t mask_;
  const std::unique_ptr<T[]> slots_;
  alignas(kLine) std::atomic<std::size_t> head_{0};  // written by producer
  alignas(kLine) std::size_t cached_tail_ = 0;       // producer's view of tail_
  alignas(kLine) std::atomic<std::size_t> tail_{0};  // written by consumer
  alignas(kLine) std::size_t cached_head_ = 0;       // consumer's view of head_
};

}  // namespace shoppulse
