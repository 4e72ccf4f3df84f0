// DenseMap against std::map: inserts, erases and lookups over ids spread
// across many slot pages, iteration in id order, and the pages' memory
// following the ids present rather than the largest id seen.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <vector>

#include "dense_map.hpp"

using namespace shoppulse;
using shoppulse::recommend_detail::DenseMap;

namespace {

struct Value {
  std::uint64_t n = 0;
  std::vector<int> items;  // cleared when the value is recycled
  void clear() {
    n = 0;
    items.clear();
  }
};

void check_equal(const DenseMap<Value>& map, const std::map<Id, std::uint64_t>& oracle) {
  REQUIRE(map.size() == oracle.size());
  auto want = oracle.begin();
  for (const auto& [id, value] : map) {
    REQUIRE(want != oracle.end());
    CHECK(id == want->first);
    CHECK(value.n == want->second);
    ++want;
  }
  CHECK(want == oracle.end());
}

}  // namespace

TEST_CASE("DenseMap answers as std::map under random inserts and erases across pages", "[recommend]") {
  std::mt19937 rng(7);
  DenseMap<Value> map;
  std::map<Id, std::uint64_t> oracle;
  // Ids clustered in a few ranges and scattered up to ~2 M: pages appear,
  // empty and come back.
  auto random_id = [&]() -> Id {
    switch (rng() % 3) {
      case 0: return 1 + rng() % 5000;
      case 1: return 1'000'000 + rng() % 20000;
      default: return 1 + rng() % 2'000'000;
    }
  };
  for (int step = 0; step < 200000; ++step) {
    const Id id = random_id();
    const unsigned op = rng() % 10;
    if (op < 5) {
      Value& v = map[id];
      v.n += id;
      v.items.push_back(step);
      oracle[id] += id;
    } else if (op < 8) {
      map.erase(id);
      oracle.erase(id);
    } else {
      const Value* v = map.find(id);
      const auto it = oracle.find(id);
      REQUIRE((v != nullptr) == (it != oracle.end()));
      if (v) CHECK(v->n == it->second);
    }
    if (step % 50000 == 0) check_equal(map, oracle);
  }
  check_equal(map, oracle);
}

TEST_CASE("DenseMap keeps slot pages only for the ids present", "[recommend]") {
  DenseMap<Value> map;
  const std::size_t empty = map.table_bytes();
  // 4,096 ids in one page, then the same number spread one per page.
  for (Id id = 1; id <= 4096; ++id) map[id].n = id;
  const std::size_t one_page = map.table_bytes();
  DenseMap<Value> spread;
  for (Id k = 0; k < 4096; ++k) spread[1 + k * 4096].n = k;
  CHECK(spread.table_bytes() > one_page + 4000 * 4096 * 4);  // a 16 KiB page per id
  // Erasing every id but one of each page frees nothing; erasing the last
  // frees the page, and the pool keeps its values for reuse.
  for (Id k = 0; k < 4096; ++k) spread.erase(1 + k * 4096);
  CHECK(spread.empty());
  CHECK(spread.table_bytes() < one_page + 4096 * 8 + 4096 * 4);  // pool and free list, page pointers
  const std::size_t pooled = spread.pooled();
  for (Id k = 0; k < 4096; ++k) spread[3'000'000 + k].n = k;  // two new pages
  CHECK(spread.pooled() == pooled);                              // recycled, nothing new
  CHECK(spread.find(1) == nullptr);
  CHECK(spread.find(3'000'000)->n == 0);
  CHECK(spread.find(3'004'095)->n == 4095);
  CHECK(one_page > empty);
  for (Id id = 1; id <= 4096; ++id) map.erase(id);
  CHECK(map.table_bytes() < one_page);
}
