#pragma once
// Returns the heap's free memory to the system, for a thread that has just
// freed a large transient working set (a checkpoint decoded at start-up):
// glibc keeps freed chunks in its arenas otherwise, where they count in the
// process's RSS though nothing uses them. Costs a pass over the arenas, so it
// is for rare moments, not a hot path. Thread: any.
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace shoppulse {

inline void release_free_heap() noexcept {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace shoppulse
