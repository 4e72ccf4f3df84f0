#include "shoppulse/core/unforked_memory.hpp"

#include <sys/mman.h>

#include <new>

namespace shoppulse {

void* allocate_unforked(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // Without the advice (an old kernel) the block is ordinary memory: a fork
  // then shares it copy-on-write, which costs time, not correctness.
  (void)::madvise(p, bytes, MADV_DONTFORK);
  return p;
}

void release_unforked(void* p, std::size_t bytes) noexcept { ::munmap(p, bytes); }

}  // namespace shoppulse
