#pragma once
// Memory that a forked child does not inherit. Blocks of at least
// kUnforkedMinBytes are mapped on their own and marked MADV_DONTFORK, so a
// fork (the background checkpoints of the windows and the recommender)
// neither copies their page tables nor turns the parent's later writes to
// them into page copies while the child lives. Only for state that no
// forked child reads: the dictionary, which the ingest thread keeps
// writing while a child encodes a checkpoint. Smaller blocks come from the
// usual heap. Any thread.
#include <cstddef>
#include <memory>

namespace shoppulse {

inline constexpr std::size_t kUnforkedMinBytes = std::size_t{1} << 20;

// Throws std::bad_alloc when the mapping fails; bytes >= kUnforkedMinBytes.
void* allocate_unforked(std::size_t bytes);
// p and bytes as allocate_unforked took and returned them.
void release_unforked(void* p, std::size_t bytes) noexcept;

template <class T>
struct UnforkedAllocator {
  using value_type = T;
  UnforkedAllocator() noexcept = default;
  template <class U>
  UnforkedAllocator(const UnforkedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n * sizeof(T) < kUnforkedMinBytes) return std::allocator<T>{}.allocate(n);
    return static_cast<T*>(allocate_unforked(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) < kUnforkedMinBytes) std::allocator<T>{}.deallocate(p, n);
    else release_unforked(p, n * sizeof(T));
  }
  template <class U>
  bool operator==(const UnforkedAllocator<U>&) const noexcept { return true; }
};

}  // namespace shoppulse
