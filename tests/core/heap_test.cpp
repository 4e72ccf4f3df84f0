// The allocator calls against jemalloc, linked into this test as into the
// server: which allocator runs, what it keeps resident for reuse, and that
// release_free_heap() hands it back to the system at once.
#include <jemalloc/jemalloc.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/types.h>
#include <vector>

#include "shoppulse/core/heap.hpp"

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

// Resident bytes of this process, from the kernel.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Stops the calling thread's arena from purging on its own, so what it keeps
// after a free depends on nothing but the test.
void never_decay() {
  unsigned arena = 0;
  std::size_t length = sizeof arena;
  REQUIRE(mallctl("thread.arena", &arena, &length, nullptr, 0) == 0);
  ssize_t never = -1;
  const std::string name = "arena." + std::to_string(arena) + ".dirty_decay_ms";
  REQUIRE(mallctl(name.c_str(), nullptr, nullptr, &never, sizeof never) == 0);
}

}  // namespace

TEST_CASE("With jemalloc, freed memory shows as allocator free until release_free_heap hands it back", "[heap]") {
  REQUIRE(shoppulse::heap_allocator() == "jemalloc");
  never_decay();
  shoppulse::release_free_heap();
  const std::uint64_t free_at_start = shoppulse::heap_free_bytes();
  const std::size_t rss_at_start = resident_bytes();

  // 256 MiB in blocks of 256 KiB, each page written so it is resident.
  constexpr std::size_t kBlock = 256 * 1024;
  std::vector<char*> blocks;
  for (std::size_t i = 0; i < 1024; ++i) {
    blocks.push_back(static_cast<char*>(std::malloc(kBlock)));
    REQUIRE(blocks.back() != nullptr);
    std::memset(blocks.back(), static_cast<int>(i), kBlock);
  }
  const std::size_t rss_full = resident_bytes();
  CHECK(rss_full >= rss_at_start + 250 * kMiB);
  for (char* b : blocks) std::free(b);

  // Freed but kept: still resident, and counted as the allocator's.
  const std::uint64_t free_after = shoppulse::heap_free_bytes();
  CHECK(free_after >= free_at_start + 250 * kMiB);
  CHECK(resident_bytes() >= rss_at_start + 250 * kMiB);

  shoppulse::release_free_heap();
  const std::uint64_t free_released = shoppulse::heap_free_bytes();
  INFO("allocator free at start " << free_at_start << ", after the frees " << free_after << ", after release "
                                  << free_released);
  CHECK(free_released < free_at_start + 16 * kMiB);
  CHECK(resident_bytes() + 240 * kMiB <= rss_full);
}
