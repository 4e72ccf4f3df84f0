// The dense distinct count against exact counts; the arithmetic it shares
// with the window engine's sketches is checked there too
// (tests/windows/coarse_users_test.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>

#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/hyperloglog.hpp"

using namespace shoppulse;

namespace {

std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

TEST_CASE("a distinct count estimates within a few standard errors, and repeats change nothing", "[core][hll]") {
  const std::uint64_t n = GENERATE(std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{300}, std::uint64_t{20'000},
                                   std::uint64_t{1'000'000}, std::uint64_t{3'000'000});
  INFO(n << " distinct values");
  hll::DistinctCount count;
  for (std::uint64_t i = 0; i < n; ++i) count.add(mix(i));
  const std::uint64_t estimate = count.estimate();
  // 1.6 % standard error; these inputs are fixed, so the bound is not a
  // matter of luck: 4 standard errors, or within 1 % for a few hundred
  // (linear counting, whose error there comes from registers shared).
  if (n <= 1) CHECK(estimate == n);
  else if (n <= 300) CHECK(std::abs(static_cast<double>(estimate) - static_cast<double>(n)) <= 0.01 * static_cast<double>(n));
  else CHECK(std::abs(static_cast<double>(estimate) - static_cast<double>(n)) <= 0.064 * static_cast<double>(n));
  for (std::uint64_t i = 0; i < n; i += 3) count.add(mix(i));
  CHECK(count.estimate() == estimate);
}

TEST_CASE("names hashed as the dictionary hashes them count as well as mixed integers", "[core][hll]") {
  hll::DistinctCount count;
  constexpr std::uint64_t kNames = 500'000;
  for (std::uint64_t i = 0; i < kNames; ++i) count.add(InternTable::hash(std::to_string(10'000'000 + i)));
  CHECK(std::abs(static_cast<double>(count.estimate()) - static_cast<double>(kNames)) <= 0.064 * kNames);
}
