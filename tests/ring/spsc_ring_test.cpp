#include <catch2/catch.hpp>

#include <cstdint>
#include <numeric>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/ring/spsc_ring.hpp"

using namespace shoppulse;

namespace {
std::vector<int> iota(int from, int count) {
  std::vector<int> v(static_cast<std::size_t>(count));
  std::iota(v.begin(), v.end(), from);
  return v;
}
}  // namespace

TEST_CASE("ring capacity is rounded up to a power of two", "[ring]") {
  CHECK(SpscRing<int>(0).capacity() == 2);
  CHECK(SpscRing<int>(1).capacity() == 2);
  CHECK(SpscRing<int>(2).capacity() == 2);
  CHECK(SpscRing<int>(3).capacity() == 4);
  CHECK(SpscRing<int>(4).capacity() == 4);
  CHECK(SpscRing<int>(5).capacity() == 8);
  CHECK(SpscRing<int>(1000).capacity() == 1024);
  CHECK(SpscRing<int>(1024).capacity() == 1024);
  CHECK(SpscRing<int>(1025).capacity() == 2048);
}

TEST_CASE("a new ring is empty and pops nothing", "[ring]") {
  SpscRing<int> ring(8);
  std::vector<int> out(4, -1);
  CHECK(ring.size_approx() == 0);
  CHECK(ring.pop_some(out) == 0);
  CHECK(out == std::vector<int>(4, -1));
}

TEST_CASE("items come out in the order they went in", "[ring]") {
  SpscRing<int> ring(8);
  const auto in = iota(10, 5);
  REQUIRE(ring.push_some(in) == 5);
  CHECK(ring.size_approx() == 5);
  std::vector<int> out(5);
  REQUIRE(ring.pop_some(out) == 5);
  CHECK(out == in);
  CHECK(ring.size_approx() == 0);
}

TEST_CASE("push_some into a nearly full ring copies only what fits", "[ring]") {
  SpscRing<int> ring(8);
  REQUIRE(ring.push_some(iota(0, 6)) == 6);
  CHECK(ring.push_some(iota(6, 5)) == 2);  // only 6 and 7 fit
  CHECK(ring.size_approx() == 8);
  CHECK(ring.push_some(iota(100, 1)) == 0);
  std::vector<int> out(10, -1);
  REQUIRE(ring.pop_some(out) == 8);
  out.resize(8);
  CHECK(out == iota(0, 8));
}

TEST_CASE("pop_some from a ring holding fewer items returns what is there", "[ring]") {
  SpscRing<int> ring(16);
  REQUIRE(ring.push_some(iota(1, 3)) == 3);
  std::vector<int> out(10, -1);
  CHECK(ring.pop_some(out) == 3);
  CHECK(std::vector<int>(out.begin(), out.begin() + 3) == iota(1, 3));
  CHECK(out[3] == -1);  // untouched beyond the count
}

TEST_CASE("pop_some into a smaller buffer leaves the rest in the ring", "[ring]") {
  SpscRing<int> ring(16);
  REQUIRE(ring.push_some(iota(0, 10)) == 10);
  std::vector<int> out(4);
  REQUIRE(ring.pop_some(out) == 4);
  CHECK(out == iota(0, 4));
  REQUIRE(ring.pop_some(out) == 4);
  CHECK(out == iota(4, 4));
  REQUIRE(ring.pop_some(out) == 2);
  CHECK(out[0] == 8);
  CHECK(out[1] == 9);
}

TEST_CASE("empty spans push and pop nothing", "[ring]") {
  SpscRing<int> ring(4);
  CHECK(ring.push_some(std::span<const int>()) == 0);
  REQUIRE(ring.push_some(iota(0, 4)) == 4);
  CHECK(ring.push_some(std::span<const int>()) == 0);  // full and empty input
  CHECK(ring.pop_some(std::span<int>()) == 0);
  CHECK(ring.size_approx() == 4);
}

TEST_CASE("a full ring accepts new items after the consumer frees slots", "[ring]") {
  SpscRing<int> ring(4);
  REQUIRE(ring.push_some(iota(0, 4)) == 4);
  CHECK(ring.push_some(iota(4, 1)) == 0);
  std::vector<int> one(1);
  REQUIRE(ring.pop_some(one) == 1);
  CHECK(one[0] == 0);
  CHECK(ring.push_some(iota(4, 3)) == 1);
  std::vector<int> out(8);
  REQUIRE(ring.pop_some(out) == 4);
  out.resize(4);
  CHECK(out == iota(1, 4));
}

TEST_CASE("items stay in order when the indices wrap around the buffer many times", "[ring]") {
  SpscRing<int> ring(8);
  int next_in = 0;
  int next_out = 0;
  std::vector<int> out(8);
  // Batch sizes that do not divide the capacity make every slot boundary occur.
  for (int round = 0; round < 1000; ++round) {
    const int want = 1 + round % 7;
    const auto pushed = ring.push_some(iota(next_in, want));
    next_in += static_cast<int>(pushed);
    out.assign(static_cast<std::size_t>(1 + (round * 5) % 6), -1);
    const auto popped = ring.pop_some(out);
    for (std::size_t i = 0; i < popped; ++i) REQUIRE(out[i] == next_out++);
  }
  out.assign(8, -1);
  const auto rest = ring.pop_some(out);
  for (std::size_t i = 0; i < rest; ++i) REQUIRE(out[i] == next_out++);
  CHECK(next_out == next_in);
  CHECK(next_in > 2000);
}

TEST_CASE("the ring carries whole events", "[ring]") {
  SpscRing<Event> ring(4);
  Event e;
  e.time_ms = 1511658000000;
  e.sequence = 7;
  e.price_minor = 1999;
  e.user = 3;
  e.product = 4;
  e.quantity = 2;
  e.type = EventType::purchase;
  REQUIRE(ring.push_some(std::span<const Event>(&e, 1)) == 1);
  Event got;
  REQUIRE(ring.pop_some(std::span<Event>(&got, 1)) == 1);
  CHECK(got.time_ms == e.time_ms);
  CHECK(got.sequence == 7);
  CHECK(got.revenue_minor() == 3998);
  CHECK(got.user == 3);
  CHECK(got.product == 4);
  CHECK(got.type == EventType::purchase);
}
