#include <catch2/catch.hpp>
#include <deque>
#include <random>
#include <string>

#include "shoppulse/core/ring_fifo.hpp"

using shoppulse::RingFifo;

TEST_CASE("RingFifo answers as std::deque under random pushes and pops across wraps and growth", "[core][ring_fifo]") {
  std::mt19937_64 rng(7);
  RingFifo<std::string> fifo;
  std::deque<std::string> oracle;
  std::size_t largest = 0;
  for (int step = 0; step < 200000; ++step) {
    // Phases that mostly grow, then mostly shrink, so the ring wraps at many sizes.
    const bool growing = (step / 20000) % 2 == 0;
    const bool push = oracle.empty() || (rng() % 100) < (growing ? 70u : 30u);
    if (push) {
      std::string v = std::to_string(step);
      fifo.push_back(v);
      oracle.push_back(v);
    } else {
      REQUIRE(fifo.front() == oracle.front());
      fifo.pop_front();
      oracle.pop_front();
    }
    REQUIRE(fifo.size() == oracle.size());
    largest = std::max(largest, oracle.size());
    // At most four times the length (rounded up to a power of two), or the small ring kept.
    REQUIRE(fifo.capacity() <= std::max<std::size_t>(RingFifo<std::string>::kKeptSlots, 8 * oracle.size()));
    if (step % 997 == 0)
      for (std::size_t k = 0; k < oracle.size(); ++k) REQUIRE(fifo[k] == oracle[k]);
  }
  CHECK(largest > 4 * RingFifo<std::string>::kKeptSlots);  // the phases made it grow and shrink
  std::size_t k = 0;
  fifo.for_each([&](const std::string& v) { CHECK(v == oracle[k++]); });
  CHECK(k == oracle.size());
}

TEST_CASE("RingFifo allocates nothing once grown to its largest length", "[core][ring_fifo]") {
  RingFifo<int> fifo;
  for (int i = 0; i < 1000; ++i) fifo.push_back(i);
  const std::size_t capacity = fifo.capacity();
  for (int round = 0; round < 99000; ++round) {
    fifo.pop_front();
    fifo.push_back(round);
  }
  CHECK(fifo.capacity() == capacity);  // growing is its only allocation
  CHECK(fifo.size() == 1000);
  for (int k = 0; k < 1000; ++k) REQUIRE(fifo[static_cast<std::size_t>(k)] == 98000 + k);
}
