#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "shoppulse/ring/spsc_ring.hpp"

using namespace shoppulse;

namespace {
#ifdef NDEBUG
constexpr std::uint64_t kItems = 5'000'000;
#else
constexpr std::uint64_t kItems = 500'000;
#endif
}  // namespace

TEST_CASE("a producer and a consumer thread hand over every item once and in order", "[ring][concurrency]") {
  // A small ring forces both the full and the empty path many times.
  SpscRing<std::uint64_t> ring(1024);
  std::atomic<bool> producer_done{false};

  std::thread producer([&] {
    std::mt19937_64 rng(12345);
    std::uniform_int_distribution<std::size_t> batch_size(1, 700);
    std::vector<std::uint64_t> batch;
    std::uint64_t next = 0;
    while (next < kItems) {
      const std::size_t want = std::min<std::uint64_t>(batch_size(rng), kItems - next);
      batch.resize(want);
      for (std::size_t i = 0; i < want; ++i) batch[i] = next + i;
      std::size_t done = 0;
      while (done < want) {
        const std::size_t n = ring.push_some(std::span<const std::uint64_t>(batch).subspan(done));
        done += n;
        if (n == 0) std::this_thread::yield();
      }
      next += want;
    }
    producer_done.store(true, std::memory_order_release);
  });

  std::mt19937_64 rng(67890);
  std::uniform_int_distribution<std::size_t> batch_size(1, 900);
  std::vector<std::uint64_t> out(900);
  std::uint64_t expected = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t first_bad_index = 0;
  std::uint64_t first_bad_value = 0;
  while (expected < kItems) {
    const std::size_t n = ring.pop_some(std::span<std::uint64_t>(out.data(), batch_size(rng)));
    for (std::size_t i = 0; i < n; ++i) {
      // Count rather than REQUIRE per item: five million assertions would dominate the run.
      if (out[i] != expected && out_of_order++ == 0) {
        first_bad_index = expected;
        first_bad_value = out[i];
      }
      ++expected;
    }
    if (n == 0) {
      if (producer_done.load(std::memory_order_acquire) && ring.size_approx() == 0) {
        // One last look: the producer's final batch is published before producer_done.
        if (ring.pop_some(std::span<std::uint64_t>(out.data(), 1)) == 0) break;
        if (out[0] != expected && out_of_order++ == 0) {
          first_bad_index = expected;
          first_bad_value = out[0];
        }
        ++expected;
      } else {
        std::this_thread::yield();
      }
    }
  }
  producer.join();

  INFO("first mismatch at position " << first_bad_index << ": got " << first_bad_value);
  CHECK(out_of_order == 0);
  CHECK(expected == kItems);
  std::uint64_t extra = 0;
  CHECK(ring.pop_some(std::span<std::uint64_t>(&extra, 1)) == 0);
  CHECK(ring.size_approx() == 0);
}
