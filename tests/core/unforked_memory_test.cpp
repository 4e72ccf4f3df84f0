#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "shoppulse/core/unforked_memory.hpp"

using namespace shoppulse;

namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Writes one byte on every page: a page shared with a live child is copied
// on the first write (a minor fault each).
void touch_pages(char* p, std::size_t bytes, char value) {
  for (std::size_t i = 0; i < bytes; i += 4096) p[i] = value;
}

}  // namespace

TEST_CASE("unforked memory is not shared with a forked child, so the parent's writes copy no pages",
          "[core][unforked]") {
  constexpr std::size_t kBytes = std::size_t{16} << 20;
  constexpr long kPages = static_cast<long>(kBytes / 4096);
  std::vector<char, UnforkedAllocator<char>> unforked(kBytes, 1);
  std::vector<char> ordinary(kBytes, 1);  // the control: shared copy-on-write

  int hold[2];
  REQUIRE(pipe(hold) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The unforked block is not mapped here (mincore: ENOMEM); the ordinary is.
    unsigned char vec[1];
    const bool absent = mincore(unforked.data(), 4096, vec) != 0 && errno == ENOMEM;
    const bool present = mincore(ordinary.data() + (4096 - reinterpret_cast<std::uintptr_t>(ordinary.data()) % 4096),
                                 4096, vec) == 0;
    char c;
    close(hold[1]);
    (void)!read(hold[0], &c, 1);  // lives until the parent has written
    _exit(absent && present ? 0 : 3);
  }
  close(hold[0]);
  const long before = minor_faults();
  touch_pages(unforked.data(), kBytes, 2);
  const long after_unforked = minor_faults();
  touch_pages(ordinary.data(), kBytes, 2);
  const long after_ordinary = minor_faults();
  close(hold[1]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);

  INFO("minor faults: " << after_unforked - before << " writing the unforked block, " << after_ordinary - after_unforked
                        << " the ordinary one, " << kPages << " pages each");
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(after_unforked - before < kPages / 16);
  CHECK(after_ordinary - after_unforked > kPages / 2);
  CHECK(unforked[kBytes - 1] == 1);
  CHECK(unforked[0] == 2);
}

TEST_CASE("small unforked allocations come from the heap, large ones are mapped apart", "[core][unforked]") {
  std::vector<int, UnforkedAllocator<int>> small(100, 7);
  std::vector<int, UnforkedAllocator<int>> large(kUnforkedMinBytes / sizeof(int), 7);
  large.resize(large.size() * 2, 8);  // regrows through a second mapping, copying the first
  CHECK(small[99] == 7);
  CHECK(large[kUnforkedMinBytes / sizeof(int) - 1] == 7);
  CHECK(large.back() == 8);
  CHECK(reinterpret_cast<std::uintptr_t>(large.data()) % 4096 == 0);  // a mapping of its own
}
