// The dictionary's hashed calls, as the ingestor uses them: hash on one
// thread, look up and intern with that hash (and prefetch) elsewhere.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "shoppulse/core/dictionary.hpp"

using namespace shoppulse;

TEST_CASE("hashed lookups and interning agree with the plain calls", "[ingest][dictionary]") {
  InternTable table;
  std::vector<std::string> names;
  // Lengths 0..40 cover every tail case of the hash; many entries make the
  // index grow several times.
  for (int i = 0; i < 30000; ++i) names.push_back(std::string(static_cast<std::size_t>(i % 41), 'x') + std::to_string(i));
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::uint64_t h = InternTable::hash(names[i]);
    {
      auto lock = table.read_lock();
      table.prefetch_locked(h);
      table.prefetch_name_locked(h);
      REQUIRE(table.find_hashed_locked(names[i], h) == kNoId);
    }
    REQUIRE(table.intern_hashed(names[i], h) == std::pair<Id, bool>{Id(i + 1), true});
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::uint64_t h = InternTable::hash(names[i]);
    {
      auto lock = table.read_lock();
      table.prefetch_name_locked(h);
    }
    REQUIRE(table.find_hashed(names[i], h) == Id(i + 1));
    REQUIRE(table.find(names[i]) == Id(i + 1));
    REQUIRE(table.intern(names[i]) == std::pair<Id, bool>{Id(i + 1), false});
  }
  CHECK(table.find_hashed("absent", InternTable::hash("absent")) == kNoId);
  CHECK(table.size() == names.size());
}

TEST_CASE("the hash separates short strings that share bytes", "[ingest][dictionary]") {
  CHECK(InternTable::hash("") != InternTable::hash(std::string(1, '\0')));
  CHECK(InternTable::hash("a") != InternTable::hash("aa"));
  CHECK(InternTable::hash("aa") != InternTable::hash("aaa"));
  CHECK(InternTable::hash("abcd") != InternTable::hash("abcdabcd"));
  CHECK(InternTable::hash("0123456789abcdef") != InternTable::hash("0123456789abcdeg"));
  CHECK(InternTable::hash("0123456789abcdefX") != InternTable::hash("0123456789abcdefY"));
}
