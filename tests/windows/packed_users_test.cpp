#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <vector>

#include "aggregates.hpp"
#include "packed_users.hpp"

using namespace shoppulse;
using shoppulse::windows::Bucket;
using shoppulse::windows::PackedUsers;

namespace {

std::map<Id, std::uint8_t> listed(const auto& users) {
  std::map<Id, std::uint8_t> out;
  users.for_each([&](Id u, std::uint8_t m) { REQUIRE(out.emplace(u, m).second); });
  return out;
}

}  // namespace

TEST_CASE("packed users list exactly the map's users and masks, ascending", "[windows]") {
  const auto [seed, n, largest] = GENERATE(table<unsigned, std::size_t, Id>(
      {{1, 0, 10}, {2, 1, 1}, {3, 5, 0xFFFFFFFEu}, {4, 1000, 2000}, {5, 20'000, 0xFFFFFFFEu}, {6, 3000, 4'000'000}}));
  INFO("seed " << seed << " users " << n);
  std::mt19937 rng(seed);
  FlatMap<std::uint8_t> map;
  while (map.size() < n) {
    const Id u = std::uniform_int_distribution<Id>(1, largest)(rng);
    // Masks run in streaks (a second is mostly views), with every bit used.
    map[u] = static_cast<std::uint8_t>(rng() % 4 == 0 ? 1 + rng() % 127 : 1);
  }
  if (n > 0 && largest == 0xFFFFFFFEu) map[0xFFFFFFFEu] = 0x7F;  // the largest id an interned id can be
  PackedUsers::Scratch scratch;
  const PackedUsers packed = PackedUsers::pack(map, scratch);
  REQUIRE(packed.size() == map.size());
  REQUIRE(packed.empty() == map.empty());
  REQUIRE(listed(packed) == listed(map));
  Id previous = 0;
  packed.for_each([&](Id u, std::uint8_t) {
    REQUIRE(u > previous);
    previous = u;
  });
}

TEST_CASE("a closed second's packed users take a fraction of their map", "[windows]") {
  // The soak's shape: 10,000 users a second out of a pool of 2 million,
  // nine in ten of them with one type.
  std::mt19937 rng(7);
  FlatMap<std::uint8_t> map;
  while (map.size() < 10'000) map[std::uniform_int_distribution<Id>(1, 2'000'000)(rng)] = rng() % 10 ? 1 : 3;
  PackedUsers::Scratch scratch;
  const PackedUsers packed = PackedUsers::pack(map, scratch);
  INFO("map " << map.memory_bytes() << " bytes, packed " << packed.memory_bytes());
  REQUIRE(packed.memory_bytes() <= 3 * map.size());
  REQUIRE(packed.memory_bytes() * 4 <= map.memory_bytes());
}

TEST_CASE("a bucket with packed users answers as before and takes late events", "[windows]") {
  Bucket b;
  b.reset(42);
  std::map<Id, std::uint8_t> want;
  std::mt19937 rng(11);
  const EventType types[] = {EventType::view, EventType::click, EventType::add_to_cart, EventType::purchase};
  const auto add = [&](Id user, EventType type) {
    Event e;
    e.user = user;
    e.type = type;
    e.product = 1 + rng() % 50;
    e.time_ms = 42'000;
    const std::uint8_t before = b.add(e);
    const auto it = want.find(user);
    REQUIRE(before == (it == want.end() ? 0 : it->second));
    want[user] = static_cast<std::uint8_t>(before | type_bit(type));
  };
  for (int i = 0; i < 500; ++i) add(1 + rng() % 300, types[rng() % 4]);
  REQUIRE(b.worth_packing());
  const auto rollup_before = b.to_rollup(42);
  const std::size_t map_bytes = b.memory_bytes();

  PackedUsers::Scratch scratch;
  b.pack_users(scratch);
  REQUIRE(b.users.empty());
  REQUIRE(b.user_count() == want.size());
  REQUIRE(b.has_users());
  REQUIRE(b.memory_bytes() < map_bytes);
  std::map<Id, std::uint8_t> got;
  b.for_each_user([&](Id u, std::uint8_t m) { got[u] = m; });
  REQUIRE(got == want);
  REQUIRE(b.to_rollup(42).users == rollup_before.users);

  // A late event unpacks them; the masks it reads are the packed ones.
  for (int i = 0; i < 50; ++i) add(1 + rng() % 400, types[rng() % 4]);
  REQUIRE(b.packed_users.empty());
  REQUIRE(b.user_count() == want.size());
  got.clear();
  b.for_each_user([&](Id u, std::uint8_t m) { got[u] = m; });
  REQUIRE(got == want);

  // A reset forgets them, packed or not.
  b.pack_users(scratch);
  b.reset(43);
  REQUIRE_FALSE(b.has_users());
}
