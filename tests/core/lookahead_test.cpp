// The prefetching walk's queue: every item comes out once, in the order it
// went in, N pushes later or at the drain; back(k) is what was pushed k ago.
#include <catch2/catch.hpp>

#include <cstddef>
#include <vector>

#include "shoppulse/core/prefetch.hpp"

using namespace shoppulse;

TEST_CASE("a lookahead hands every item over once, in order, N pushes after it went in", "[core][prefetch]") {
  const std::size_t count = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9},
                                     std::size_t{100});
  INFO(count << " items");
  Lookahead<std::size_t, 8> queue;
  std::vector<std::size_t> out;
  const auto use = [&out](std::size_t item) { out.push_back(item); };
  for (std::size_t i = 0; i < count; ++i) {
    CHECK(queue.back(0) == nullptr);
    for (std::size_t k = 1; k <= 8; ++k) {
      const std::size_t* was = queue.back(k);
      if (k > i) {
        CHECK(was == nullptr);
      } else {
        REQUIRE(was != nullptr);
        CHECK(*was == i - k);
      }
    }
    CHECK(queue.back(9) == nullptr);
    queue.push(i, use);
    CHECK(out.size() == (i + 1 > 8 ? i + 1 - 8 : 0));  // N behind the pushes
  }
  queue.drain(use);
  REQUIRE(out.size() == count);
  for (std::size_t i = 0; i < count; ++i) CHECK(out[i] == i);
  // Drained, it starts anew.
  out.clear();
  queue.push(42, use);
  queue.drain(use);
  CHECK(out == std::vector<std::size_t>{42});
}
