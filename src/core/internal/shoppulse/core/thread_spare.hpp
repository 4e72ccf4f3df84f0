#pragma once
// A buffer kept per thread for the next request of its kind.
//
// Role: a request of megabytes (an HTTP body, the events parsed from it)
// would otherwise take a fresh allocation each time, which jemalloc hands
// back to the system when it is freed (blocks of 1 MiB and more), so every
// request faulted its pages in afresh. take() gives the calling thread's
// spare (empty, its capacity kept; a default-constructed Buffer when there
// is none); give() keeps a buffer the caller is done with, emptied, as that
// thread's spare when its capacity is within [MinBytes, MaxBytes] and
// larger than the spare's, and otherwise frees it. Memory: at most
// MaxBytes per thread and Buffer type. Threading: any thread; each has its
// own spare, so a buffer given on one thread is taken only on that one.
// Buffer: std::string or std::vector (capacity(), clear(), value_type).
#include <cstddef>
#include <string>
#include <utility>

namespace shoppulse {

template <class Buffer, std::size_t MinBytes, std::size_t MaxBytes>
class ThreadSpare {
 public:
  static Buffer take() noexcept { return std::exchange(slot(), Buffer()); }
  static void give(Buffer&& buffer) noexcept {
    Buffer& spare = slot();
    const std::size_t bytes = buffer.capacity() * sizeof(typename Buffer::value_type);
    if (bytes < MinBytes || bytes > MaxBytes || buffer.capacity() <= spare.capacity()) return;
    buffer.clear();
    spare = std::move(buffer);
  }

 private:
  static Buffer& slot() noexcept {
    thread_local Buffer spare;
    return spare;
  }
};

// Request bodies: the HTTP layer reads a body of at least kSpareBodyMin
// bytes into SpareBody::take(); the API handler gives the body back once
// no route reads it (api/handler.hpp).
inline constexpr std::size_t kSpareBodyMin = std::size_t{64} << 10;
using SpareBody = ThreadSpare<std::string, kSpareBodyMin, std::size_t{8} << 20>;

}  // namespace shoppulse
