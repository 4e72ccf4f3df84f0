#pragma once
// Returns the heap's free memory to the system, for a thread that has just
// freed a large transient working set (a checkpoint decoded at start-up):
// glibc keeps freed chunks in its arenas otherwise, where they count in the
// process's RSS though nothing uses them. Costs a pass over the arenas, so it
// is for rare moments, not a hot path. Thread: any.
#include <cstdint>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace shoppulse {

inline void release_free_heap() noexcept {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

// Bytes the allocator holds free in its arenas: freed by the program, kept
// for reuse, so counted in RSS unless released since (malloc_trim releases
// whole free pages, which this still counts). glibc's mallinfo2: locks each
// arena and walks its free lists, so it is for status requests, not a hot
// path. 0 where unknown. Thread: any.
inline std::uint64_t heap_free_bytes() noexcept {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  return mallinfo2().fordblks;
#else
  return 0;
#endif
}

}  // namespace shoppulse
