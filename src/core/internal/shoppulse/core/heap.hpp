#pragma once
// The process's heap allocator, as far as memory accounting needs it.
//
// The shoppulse executable links jemalloc (Debian's libjemalloc2) when the
// build found it, for memory that stays level over long runs: freed pages
// are handed back to the system by jemalloc's background thread after a
// decay time, where glibc's arenas kept them (a 45-minute soak grew glibc's
// free lists from 317 to 559 MiB while every part stayed level). Libraries
// and tests run on the system's malloc, sanitizer builds on the sanitizer's.
// These calls find out at run time which one is in use (jemalloc's mallctl,
// looked up as a weak symbol), so one core library serves all of them.
#include <cstdint>
#include <string_view>

namespace shoppulse {

// "jemalloc", "glibc", "sanitizer" (a sanitizer build's own malloc) or
// "other". Thread: any.
std::string_view heap_allocator() noexcept;

// Returns the heap's free memory to the system, for a thread that has just
// freed a large transient working set (a checkpoint encoded or decoded):
// jemalloc purges every arena's dirty pages at once instead of after its
// decay time; glibc's malloc_trim gives back the whole free pages of its
// arenas. Costs a pass over the arenas, so it is for rare moments, not a
// hot path. Thread: any.
void release_free_heap() noexcept;

// Bytes the allocator keeps resident that no live allocation uses: with
// jemalloc, stats.resident - stats.allocated (dirty pages not yet purged,
// partly used pages and its metadata); with glibc, mallinfo2().fordblks
// (free chunks in the arenas, which still counts pages malloc_trim has
// given back). For status requests, not a hot path. 0 where unknown.
// Thread: any.
std::uint64_t heap_free_bytes() noexcept;

}  // namespace shoppulse
