#pragma once
// A first-in first-out queue in one contiguous ring that doubles when full.
//
// For queues that take and drop an element per event on a hot path: once
// the ring has grown to the queue's usual length it allocates nothing
// (std::deque allocates and frees a block every few elements, and writes each
// new element into memory it has just allocated, which is cold). Memory: at
// most four times the length, rounded up to a power of two: a ring of more
// than kKeptSlots slots halves once it is less than a quarter full, so
// growing and shrinking each cost O(1) per element, amortised. Elements must
// be default-constructible and movable. Threading: none.
#include <cstddef>
#include <utility>
#include <vector>

namespace shoppulse {

template <class T>
class RingFifo {
 public:
  static constexpr std::size_t kKeptSlots = 1024;  // a ring this small never shrinks

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return slots_.size(); }

  T& front() noexcept { return slots_[head_]; }
  const T& front() const noexcept { return slots_[head_]; }
  // The k-th element from the front (k < size()).
  T& operator[](std::size_t k) noexcept { return slots_[(head_ + k) & (slots_.size() - 1)]; }
  const T& operator[](std::size_t k) const noexcept { return slots_[(head_ + k) & (slots_.size() - 1)]; }

  // Where the k-th push from now writes (k = 0: the next), if the ring does
  // not grow before it; null while it holds nothing. For cache hints.
  const T* push_slot(std::size_t k) const noexcept {
    return slots_.empty() ? nullptr : &slots_[(head_ + size_ + k) & (slots_.size() - 1)];
  }

  void push_back(T value) {
    if (size_ == slots_.size()) reallocate(slots_.empty() ? 16 : 2 * slots_.size());
    slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(value);
    ++size_;
  }
  void pop_front() {
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
    if (slots_.size() > kKeptSlots && size_ < slots_.size() / 4) reallocate(slots_.size() / 2);
  }

  template <class F>
  void for_each(F&& f) const {
    for (std::size_t k = 0; k < size_; ++k) f((*this)[k]);
  }

 private:
  void reallocate(std::size_t capacity) {  // to grow or to shrink
    std::vector<T> next(capacity);
    for (std::size_t k = 0; k < size_; ++k) next[k] = std::move((*this)[k]);
    slots_ = std::move(next);
    head_ = 0;
  }

  std::vector<T> slots_;  // a power of two in size, or empty
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace shoppulse
