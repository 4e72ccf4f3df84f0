// The prefetching walk's queue: every item comes out once, in the order it
// went in, N pushes later or at the drain; back(k) is what was pushed k ago.
// The lines a hint covers, and the staged hints' distances.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
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

TEST_CASE("prefetch_lines covers every line the bytes touch, from the line of their first byte", "[core][prefetch]") {
  // An aligned object of one line, and of two.
  CHECK(lines_of(640, 64, 5).first == 640);
  CHECK(lines_of(640, 64, 5).count == 1);
  CHECK(lines_of(640, 65, 5).count == 2);
  // 112 bytes at 48 past a boundary reach into a third line (ceil(112 / 64)
  // = 2 from the object's start would leave the tail out).
  CHECK(lines_of(640 + 48, 112, 5).first == 640);
  CHECK(lines_of(640 + 48, 112, 5).count == 3);
  // Its last byte on the last byte of a line: no line more.
  CHECK(lines_of(640 + 16, 112, 5).count == 2);
  // One byte, wherever it is, is one line.
  for (std::uintptr_t at = 640; at < 704; ++at) {
    CHECK(lines_of(at, 1, 5).first == 640);
    CHECK(lines_of(at, 1, 5).count == 1);
  }
  // No bytes at a boundary: nothing.
  CHECK(lines_of(640, 0, 5).count == 0);
  // At most max_lines, from the first.
  CHECK(lines_of(640 + 8, 64 * 10, 5).count == 5);
  CHECK(lines_of(640 + 8, 64 * 10, 5).first == 640);
  // prefetch_all: every line of an array, however long or placed.
  for (std::size_t bytes : {std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{1000}, std::size_t{4096}})
    for (std::uintptr_t at : {std::uintptr_t{640}, std::uintptr_t{641}, std::uintptr_t{703}}) {
      const std::size_t touched = (at + bytes - 1) / 64 - at / 64 + 1;
      CHECK(lines_of(at, bytes, bytes / 64 + 2).count == touched);
    }
}

TEST_CASE("prefetch_ahead hints each later item at its distance, farthest first, never past the end", "[core][prefetch]") {
  const std::vector<int> items{10, 11, 12, 13, 14, 15};
  const std::size_t i = GENERATE(std::size_t{0}, std::size_t{2}, std::size_t{4}, std::size_t{5});
  INFO("item " << i);
  std::vector<std::pair<int, std::size_t>> hinted;
  prefetch_ahead<3>(std::span<const int>(items), i,
                    [&](const int& item, std::size_t k) { hinted.emplace_back(item, k); });
  std::vector<std::pair<int, std::size_t>> expected;
  for (std::size_t k = 3; k >= 1; --k)
    if (i + k < items.size()) expected.emplace_back(items[i + k], k);
  CHECK(hinted == expected);
  if (i == 0) CHECK(hinted == std::vector<std::pair<int, std::size_t>>{{13, 3}, {12, 2}, {11, 1}});
  if (i == 5) CHECK(hinted.empty());
}
