#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "shoppulse/core/flat_map.hpp"

using shoppulse::FlatMap;

TEST_CASE("flat map agrees with std::map under random inserts and erases", "[flat_map]") {
  std::mt19937 rng(7);
  FlatMap<std::uint64_t> flat;
  std::map<std::uint32_t, std::uint64_t> reference;
  for (int i = 0; i < 200'000; ++i) {
    const std::uint32_t key = rng() % 3000;
    if (rng() % 3 == 0) {
      REQUIRE(flat.erase(key) == (reference.erase(key) == 1));
    } else {
      flat[key] += i;
      reference[key] += i;
    }
    if (i % 10'007 == 0) flat.clear(), reference.clear();
  }
  REQUIRE(flat.size() == reference.size());
  std::size_t seen = 0;
  flat.for_each([&](std::uint32_t k, std::uint64_t v) {
    ++seen;
    REQUIRE(reference.at(k) == v);
  });
  REQUIRE(seen == reference.size());
  for (std::uint32_t k = 0; k < 3000; ++k) REQUIRE((flat.find(k) != nullptr) == (reference.count(k) == 1));
}
