#pragma once
// Large request bodies, reused per thread. The HTTP layer reads a body of
// at least kSpareBodyMin bytes into take_spare_body(), the calling thread's
// spare (empty, its capacity kept); the API handler hands the body back
// with recycle_body() once nothing reads it any more, and it becomes the
// spare of the thread that does so (the same I/O thread: the handler runs
// on it). A body of megabytes is memory the allocator returns to the system
// when freed (jemalloc's blocks of 1 MiB and more), so without this every
// large request faulted its pages in afresh. A thread keeps one spare of
// kSpareBodyMin to kSpareBodyMax bytes of capacity, the larger of the two
// it holds and is offered. Any thread; each has its own.
#include <cstddef>
#include <string>

namespace shoppulse {

inline constexpr std::size_t kSpareBodyMin = std::size_t{64} << 10;
inline constexpr std::size_t kSpareBodyMax = std::size_t{8} << 20;

// The thread's spare, or an empty string when it has none.
std::string take_spare_body() noexcept;
// Keeps `body`, emptied, as the thread's spare when its capacity is within
// the bounds and larger than the spare's; otherwise it is just freed.
void recycle_body(std::string&& body) noexcept;

}  // namespace shoppulse
