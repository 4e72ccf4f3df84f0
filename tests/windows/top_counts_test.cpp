// TopCounts against a brute-force ranking of the same counts: random adds
// and removals across columns, in phases where counts grow and where they
// fall, top lists of several sizes in between.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <random>
#include <vector>

#include "top_counts.hpp"

using namespace shoppulse;
using shoppulse::windows::TopCounts;

namespace {

constexpr std::size_t kColumns = 3;

struct Counts {
  std::map<Id, std::array<std::uint64_t, kColumns>> by_id;

  std::vector<RankedId> top(std::size_t column, std::size_t limit) const {
    std::vector<RankedId> all;
    for (const auto& [id, row] : by_id)
      if (row[column] != 0) all.push_back(RankedId{id, row[column]});
    std::sort(all.begin(), all.end(), ranks_before);
    if (all.size() > limit) all.resize(limit);
    return all;
  }
};

}  // namespace

TEST_CASE("top counts rank every column as a full sort of its counts does, as counts rise and fall",
          "[windows][top]") {
  // Ranked often, or rarely enough that the lists grow past what apply()
  // lets them before it tidies them.
  const auto [seed, ids, every] =
      GENERATE(table<unsigned, Id, int>({{1, 50, 97}, {2, 2000, 97}, {3, 20000, 97}, {4, 20000, 4999}, {5, 200000, 4999}}));
  INFO("seed " << seed << ", ids " << ids << ", ranked every " << every);
  std::mt19937 rng(seed);
  TopCounts top(kColumns);
  Counts oracle;
  // Skewed ids: a few take most of the events, as products do.
  const auto pick = [&] {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<Id>(1 + static_cast<Id>(static_cast<double>(ids) * u * u * u));
  };
  const std::size_t limits[] = {1, 3, 10, 25};
  std::size_t checked = 0, nonempty = 0;
  for (int phase = 0; phase < 6; ++phase) {
    const bool growing = phase % 2 == 0;
    for (int step = 0; step < 20000; ++step) {
      const Id id = pick();
      auto& row = oracle.by_id[id];
      const std::uint64_t n = 1 + rng() % 3;
      std::uint32_t added = 0, removed = 0;
      if (!growing || rng() % 4 == 0) {
        // Take n from the columns that hold it; add to a random other.
        for (std::size_t c = 0; c < kColumns; ++c)
          if (row[c] >= n && rng() % 2 == 0) removed |= 1u << c;
        if (rng() % 3 == 0) added = (1u << (rng() % kColumns)) & ~removed;
      } else {
        added = static_cast<std::uint32_t>(1 + rng() % ((1u << kColumns) - 1));
      }
      for (std::size_t c = 0; c < kColumns; ++c) {
        if ((added >> c) & 1u) row[c] += n;
        if ((removed >> c) & 1u) row[c] -= n;
      }
      top.apply(id, n, added, removed);
      if (step % every == 0) {
        const std::size_t column = rng() % kColumns;
        const std::size_t limit = limits[rng() % 4];
        const auto want = oracle.top(column, limit);
        REQUIRE(top.top(column, limit) == want);
        ++checked;
        nonempty += !want.empty();
      }
    }
  }
  REQUIRE(checked >= std::size_t(6 * 20000 / every));
  REQUIRE(nonempty > checked / 2);  // not vacuous
  // Every count back to zero: once each column has been ranked, no row is left.
  for (auto& [id, row] : oracle.by_id)
    for (std::size_t c = 0; c < kColumns; ++c)
      for (; row[c] > 0; --row[c]) top.apply(id, 1, 0, 1u << c);
  for (std::size_t c = 0; c < kColumns; ++c) REQUIRE(top.top(c, 10).empty());
  REQUIRE(top.size() == 0);
}

TEST_CASE("top counts rank from their short lists while the leaders hold, without scanning every id",
          "[windows][top]") {
  // A few leaders and a crowd of ids that come and go: the top 10 of 1,000
  // rankings should take a handful of scans, not one each.
  TopCounts top(1);
  for (Id leader = 1; leader <= 50; ++leader) top.apply(leader, 1000 + leader, 1, 0);
  std::mt19937 rng(7);
  for (int round = 0; round < 1000; ++round) {
    for (int k = 0; k < 100; ++k) {
      const Id id = 100 + static_cast<Id>(rng() % 100000);
      top.apply(id, 1, 1, 0);
      top.apply(id, 1, 0, 1);
    }
    const auto ranked = top.top(0, 10);
    REQUIRE(ranked.size() == 10);
    REQUIRE(ranked.front() == RankedId{50, 1050});
    REQUIRE(ranked.back() == RankedId{41, 1041});
  }
  CHECK(top.scans() <= 5);
  CHECK(top.size() == 50);
}

TEST_CASE("between rankings the lists and the rows they hold stay bounded", "[windows][top]") {
  // Ranked once while only the leaders have counts (so every id that gets
  // one is listed), then 200,000 ids each counted and uncounted, unranked:
  // apply() tidies the list, and the rows of the ids that left go with it.
  TopCounts top(1);
  for (Id leader = 1; leader <= 5; ++leader) top.apply(leader, 100, 1, 0);
  REQUIRE(top.top(0, 10).size() == 5);
  for (Id id = 1000; id < 201000; ++id) {
    top.apply(id, 1, 1, 0);
    top.apply(id, 1, 0, 1);
  }
  CHECK(top.size() <= 5 + 2 * 1024 + 16);
  const auto ranked = top.top(0, 10);
  REQUIRE(ranked.size() == 5);
  CHECK(top.size() == 5);
}

TEST_CASE("top counts give every id for a limit past the ids held, and rank short lists again after it",
          "[windows][top]") {
  // The cluster merge's second round asks for whole lists (SIZE_MAX).
  TopCounts top(2);
  Counts oracle;
  for (Id id = 1; id <= 3000; ++id) {
    const std::uint64_t n = 1 + id % 97;
    top.apply(id, n, 1, 0);
    oracle.by_id[id][0] += n;
  }
  REQUIRE(top.top(0, 10) == oracle.top(0, 10));
  const auto all = top.top(0, SIZE_MAX);
  REQUIRE(all.size() == 3000);
  REQUIRE(all == oracle.top(0, SIZE_MAX));
  REQUIRE(top.top(1, SIZE_MAX).empty());
  // Then the usual limit again, while counts keep arriving: exact, and the
  // list shrinks back once apply() tidies it.
  std::mt19937 rng(11);
  for (int i = 0; i < 20000; ++i) {
    const Id id = 1 + static_cast<Id>(rng() % 5000);
    top.apply(id, 1, 1, 0);
    oracle.by_id[id][0] += 1;
    if (i % 1000 == 0) REQUIRE(top.top(0, 10) == oracle.top(0, 10));
  }
  const std::uint64_t scans = top.scans();
  for (int i = 0; i < 100; ++i) REQUIRE(top.top(0, 10) == oracle.top(0, 10));
  CHECK(top.scans() == scans);
}
