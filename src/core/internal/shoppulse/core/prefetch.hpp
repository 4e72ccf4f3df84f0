#pragma once
// Cache hints that the compiler keeps.
//
// GCC (12, at -O2 and above) counts __builtin_prefetch as no effect in its
// function summaries (IPA modref): a helper whose only effect is a prefetch
// (DenseRows::prefetch_row, IdSlots::prefetch, ...) is found to do nothing,
// and a call to it is deleted before it is inlined, prefetch and all. The
// empty volatile asm after the hint is an effect the summaries must keep; it
// emits no instruction. Use these instead of __builtin_prefetch everywhere.
#include <cstddef>

namespace shoppulse {

// A read of the cache line holding p is coming.
inline void prefetch(const void* p) noexcept {
  __builtin_prefetch(p);
  asm volatile("");
}

// Reads of the first `bytes` bytes at p (rounded up to whole 64-byte lines,
// at most `max_lines` of them) are coming.
inline void prefetch_lines(const void* p, std::size_t bytes, std::size_t max_lines = 4) noexcept {
  const char* at = static_cast<const char*>(p);
  for (std::size_t line = 0; line < max_lines && line * 64 < bytes; ++line) __builtin_prefetch(at + line * 64);
  asm volatile("");
}

// Reads of all `bytes` bytes at p are coming (a short array read whole).
inline void prefetch_all(const void* p, std::size_t bytes) noexcept { prefetch_lines(p, bytes, bytes / 64 + 1); }

}  // namespace shoppulse
