#pragma once
// Cache hints that the compiler keeps.
//
// GCC (12, at -O2 and above) counts __builtin_prefetch as no effect in its
// function summaries (IPA modref): a helper whose only effect is a prefetch
// (DenseRows::prefetch_row, IdSlots::prefetch, ...) is found to do nothing,
// and a call to it is deleted before it is inlined, prefetch and all. The
// empty volatile asm after the hint is an effect the summaries must keep; it
// emits no instruction. Use these instead of __builtin_prefetch everywhere.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace shoppulse {

// A read of the cache line holding p is coming.
inline void prefetch(const void* p) noexcept {
  __builtin_prefetch(p);
  asm volatile("");
}

// Reads of the first `bytes` bytes at p are coming: every cache line they
// touch, at most `max_lines` of them from the one holding p. Counted from
// p's own line, not from p: an object in an array is seldom line-aligned
// (112 bytes at 48 past a line boundary span three lines, and a count of
// ceil(112 / 64) = 2 from p would leave its tail out).
struct CacheLines {
  std::uintptr_t first = 0;  // the address of the first line
  std::size_t count = 0;
};
constexpr CacheLines lines_of(std::uintptr_t at, std::size_t bytes, std::size_t max_lines) noexcept {
  const std::uintptr_t first = at & ~std::uintptr_t{63};
  const std::uintptr_t end = at + bytes;
  return {first, std::min<std::size_t>((end - first + 63) / 64, max_lines)};
}
inline void prefetch_lines(const void* p, std::size_t bytes, std::size_t max_lines = 5) noexcept {
  const CacheLines lines = lines_of(reinterpret_cast<std::uintptr_t>(p), bytes, max_lines);
  for (std::size_t i = 0; i < lines.count; ++i) __builtin_prefetch(reinterpret_cast<const void*>(lines.first + 64 * i));
  asm volatile("");
}

// Reads of all `bytes` bytes at p are coming (a short array read whole).
inline void prefetch_all(const void* p, std::size_t bytes) noexcept { prefetch_lines(p, bytes, bytes / 64 + 2); }

// Staged hints in a walk over `items`, called before item i is used:
// hint(items[i + k], k) for each distance k from Ahead down to 1 that lies
// inside the span. A stage's hint at distance k can then read what the
// stage at k + 1 asked for one item earlier (an index entry, then the state
// it points at), so the misses of consecutive items overlap.
template <std::size_t Ahead, class T, class Hint>
inline void prefetch_ahead(std::span<const T> items, std::size_t i, Hint&& hint) {
  static_assert(Ahead >= 1);
  for (std::size_t k = Ahead; k >= 1; --k)
    if (i + k < items.size()) hint(items[i + k], k);
}

// A walk that asks for each item's memory some steps before it uses it:
// push() takes the next item (whose prefetch the caller has just issued)
// and hands `use` the item pushed N steps before, if any; drain() hands
// over the last ones. back(k) is the item pushed k steps ago (1 <= k <= N), for a
// second stage of prefetches. Items come out in the order they went in.
template <class Item, std::size_t N>
class Lookahead {
 public:
  template <class Use>
  void push(const Item& item, Use&& use) {
    Item& slot = ring_[pushed_ % N];
    if (pushed_ >= N) use(slot);
    slot = item;
    ++pushed_;
  }
  const Item* back(std::size_t k) const noexcept {
    return k != 0 && k <= pushed_ && k <= N ? &ring_[(pushed_ - k) % N] : nullptr;
  }
  template <class Use>
  void drain(Use&& use) {
    for (std::size_t i = pushed_ > N ? pushed_ - N : 0; i < pushed_; ++i) use(ring_[i % N]);
    pushed_ = 0;
  }

 private:
  std::array<Item, N> ring_{};
  std::size_t pushed_ = 0;
};

}  // namespace shoppulse
