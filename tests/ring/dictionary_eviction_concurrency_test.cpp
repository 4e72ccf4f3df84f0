#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>

#include "../support/memory_dictionary_backing.hpp"
#include "shoppulse/core/dictionary.hpp"

using namespace shoppulse;
using shoppulse::testing::intern_stored;
using shoppulse::testing::MemoryDictionaryBacking;

namespace {
std::string item(std::uint32_t i) { return "item-" + std::to_string(i * 104729u); }
}  // namespace

TEST_CASE("readers never see a wrong name while one writer interns, evicts and re-admits",
          "[core][dictionary][concurrency]") {
  constexpr std::uint32_t kStrings = 60'000;
  MemoryDictionaryBacking backing;
  InternTable table;
  table.configure(IdKind::product, &backing, 2'000);
  std::atomic<std::uint32_t> published{0};
  std::atomic<bool> writer_done{false};

  std::thread writer([&] {
    std::mt19937 rng(7);
    for (std::uint32_t i = 0; i < kStrings; ++i) {
      (void)intern_stored(table, backing, IdKind::product, item(i));
      published.store(i + 1, std::memory_order_release);
      // Every few, an old one comes back (re-admitted from the backing).
      if (i % 7 == 0) {
        const std::uint32_t old = rng() % (i + 1);
        if (table.intern(item(old)).first != old + 1) std::abort();
      }
      if (i % 500 == 499) (void)table.evict();
    }
    writer_done.store(true, std::memory_order_release);
  });

  std::atomic<std::uint64_t> lookups{0}, wrong{0};
  auto reader = [&](std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (;;) {
      const bool last_round = writer_done.load(std::memory_order_acquire);
      const std::uint32_t n = published.load(std::memory_order_acquire);
      for (int k = 0; n != 0 && k < 32; ++k) {
        const std::uint32_t index = (k % 2 == 0) ? n - 1 - static_cast<std::uint32_t>(rng() % std::min<std::uint32_t>(n, 64))
                                                 : static_cast<std::uint32_t>(rng() % n);
        lookups.fetch_add(1, std::memory_order_relaxed);
        if (table.name(index + 1) != item(index)) wrong.fetch_add(1, std::memory_order_relaxed);
        if (k % 8 == 0) {
          const auto found = table.find(item(index));
          if (!found || *found != index + 1) wrong.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (last_round) break;
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  writer.join();
  r1.join();
  r2.join();
  CHECK(lookups.load() > 0);
  CHECK(wrong.load() == 0);
  CHECK(table.evicted_total() > 0);
  CHECK(table.resident() <= 2'000 + 500 + 500 / 7 + 1);
}
