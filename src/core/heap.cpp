#include "shoppulse/core/heap.hpp"

#include <cstddef>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

// jemalloc's control interface. Weak: null unless jemalloc is linked into the
// process (or preloaded), so the same code runs on glibc's malloc.
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp, std::size_t newlen)
    __attribute__((weak));

namespace shoppulse {
namespace {

bool have_jemalloc() noexcept { return mallctl != nullptr; }

// A size_t statistic of jemalloc, current as of the last epoch bump.
std::size_t je_stat(const char* name) noexcept {
  std::size_t value = 0;
  std::size_t length = sizeof value;
  if (mallctl(name, &value, &length, nullptr, 0) != 0) return 0;
  return value;
}

}  // namespace

std::string_view heap_allocator() noexcept {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return "sanitizer";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return "sanitizer";
#endif
#endif
  if (have_jemalloc()) return "jemalloc";
#if defined(__GLIBC__)
  return "glibc";
#else
  return "other";
#endif
}

void release_free_heap() noexcept {
  if (have_jemalloc()) {
    // MALLCTL_ARENAS_ALL (4096): every arena's dirty and muzzy pages.
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

std::uint64_t heap_free_bytes() noexcept {
  if (have_jemalloc()) {
    // Statistics are refreshed only when the epoch is written.
    std::uint64_t epoch = 1;
    std::size_t length = sizeof epoch;
    if (mallctl("epoch", &epoch, &length, &epoch, sizeof epoch) != 0) return 0;
    const std::size_t resident = je_stat("stats.resident");
    const std::size_t allocated = je_stat("stats.allocated");
    return resident > allocated ? resident - allocated : 0;
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  return mallinfo2().fordblks;
#else
  return 0;
#endif
}

}  // namespace shoppulse
