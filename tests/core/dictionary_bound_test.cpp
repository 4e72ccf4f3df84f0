// The bounded dictionary: eviction of the coldest ids, names of evicted ids
// read back from the backing, and re-admission with the same id.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "../support/memory_dictionary_backing.hpp"
#include "shoppulse/core/dictionary.hpp"

using namespace shoppulse;
using shoppulse::testing::intern_stored;
using shoppulse::testing::MemoryDictionaryBacking;

namespace {
std::string user(int i) { return "user-" + std::to_string(i); }
}  // namespace

TEST_CASE("past the bound the table evicts, and evicted ids keep their names and come back the same",
          "[core][dictionary]") {
  // Names the arena spells out, and decimal ones it keeps as numbers.
  const bool decimal = GENERATE(false, true);
  const auto user = [decimal](int i) { return decimal ? std::to_string(500'000'000 + i) : ::user(i); };
  MemoryDictionaryBacking backing;
  InternTable table;
  table.configure(IdKind::user, &backing, 100);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(intern_stored(table, backing, IdKind::user, user(i)) == std::pair<Id, bool>{Id(i + 1), true});
    if (i % 10 == 9) (void)table.evict();
    REQUIRE(table.resident() <= 110);
  }
  CHECK(table.evicted_total() >= 900 - 110);
  CHECK(table.size() == 1000);

  // Every name resolves, in memory or from the backing.
  for (int i = 0; i < 1000; ++i) REQUIRE(table.name(Id(i + 1)) == user(i));
  CHECK(table.find(user(3)) == Id{4});
  CHECK_FALSE(table.find("never-seen"));

  // An evicted string is admitted again with its old id, not a new one.
  REQUIRE(table.find_hashed(user(0), InternTable::hash(user(0))) == kNoId);  // not in memory
  CHECK(intern_stored(table, backing, IdKind::user, user(0)) == std::pair<Id, bool>{1, false});
  CHECK(table.find_hashed(user(0), InternTable::hash(user(0))) == Id{1});  // in memory again
  CHECK(intern_stored(table, backing, IdKind::user, "new") == std::pair<Id, bool>{1001, true});
  CHECK(table.size() == 1001);
}

TEST_CASE("eviction keeps the ids used most recently", "[core][dictionary]") {
  MemoryDictionaryBacking backing;
  InternTable table;
  table.configure(IdKind::product, &backing, 1000);
  // The stamp advances every 64 interns: the old ids are touched long after
  // they were made, the new ones in between are never touched again.
  for (int i = 0; i < 3000; ++i) (void)intern_stored(table, backing, IdKind::product, user(i));
  const std::size_t before = table.memory_bytes();
  for (int round = 0; round < 4; ++round)
    for (int i = 0; i < 200; ++i) REQUIRE(table.intern(user(i)).first == Id(i + 1));
  const std::size_t evicted = table.evict().value();
  CHECK(evicted == 3000 - 750);  // down to three quarters of the bound
  CHECK(table.resident() == 750);
  for (int i = 0; i < 200; ++i)
    CHECK(table.find_hashed(user(i), InternTable::hash(user(i))) == Id(i + 1));  // hot: still in memory
  CHECK(table.find_hashed(user(1000), InternTable::hash(user(1000))) == kNoId);  // cold: evicted
  CHECK(table.memory_bytes() < before);
}

TEST_CASE("without a backing or a bound nothing is evicted", "[core][dictionary]") {
  MemoryDictionaryBacking backing;
  InternTable unbacked, unbounded;
  unbacked.configure(IdKind::user, nullptr, 10);
  unbounded.configure(IdKind::user, &backing, 0);
  for (int i = 0; i < 500; ++i) {
    (void)unbacked.intern(user(i));
    (void)intern_stored(unbounded, backing, IdKind::user, user(i));
  }
  CHECK(unbacked.evict().value() == 0);
  CHECK(unbounded.evict().value() == 0);
  CHECK(unbacked.resident() == 500);
  CHECK(unbounded.resident() == 500);
}

TEST_CASE("a failed read of the backing gives no id rather than a second one", "[core][dictionary]") {
  MemoryDictionaryBacking backing;
  InternTable table;
  table.configure(IdKind::user, &backing, 10);
  for (int i = 0; i < 100; ++i) (void)intern_stored(table, backing, IdKind::user, user(i));
  REQUIRE(table.evict().value() > 0);
  backing.fail_reads(true);
  CHECK(table.intern(user(0)) == std::pair<Id, bool>{kNoId, false});
  CHECK(table.intern("brand-new") == std::pair<Id, bool>{101, true});  // the filter never saw it: no read
  CHECK(table.name(1).empty());
  CHECK(table.size() == 101);
  backing.fail_reads(false);
  CHECK(table.intern(user(0)) == std::pair<Id, bool>{1, false});
  CHECK(table.name(1) == user(0));
}

TEST_CASE("a table restored with only its newest ids asks the backing for the others", "[core][dictionary]") {
  MemoryDictionaryBacking backing;
  std::vector<EvictedName> older;
  for (int i = 0; i < 50; ++i) backing.put(IdKind::user, Id(i + 1), user(i));
  for (int i = 0; i < 30; ++i) older.push_back({Id(i + 1), user(i)});
  REQUIRE(backing.store_names(IdKind::user, older).ok());  // what a bounded start-up stores for them
  InternTable table;
  table.configure(IdKind::user, &backing, 20);
  for (int i = 30; i < 50; ++i) REQUIRE(table.restore(Id(i + 1), user(i)));
  REQUIRE(table.load_evicted_names().ok());
  CHECK(table.size() == 50);
  CHECK(table.name(5) == user(4));                                   // from the backing
  CHECK(table.intern(user(4)) == std::pair<Id, bool>{5, false});     // re-admitted, same id
  CHECK(table.intern("fresh") == std::pair<Id, bool>{51, true});     // new after the largest
}

TEST_CASE("a bounded table that never evicted keeps no filter of evicted names after a restart",
          "[core][dictionary]") {
  MemoryDictionaryBacking backing;
  for (int i = 0; i < 50; ++i) backing.put(IdKind::user, Id(i + 1), user(i));
  const auto restored = [&](InternTable& table) {
    table.configure(IdKind::user, &backing, 1'000'000);
    for (int i = 0; i < 50; ++i) REQUIRE(table.restore(Id(i + 1), user(i)));
  };
  InternTable unfiltered;
  restored(unfiltered);
  const std::size_t without = unfiltered.memory_bytes();
  InternTable table;
  restored(table);
  REQUIRE(table.load_evicted_names().ok());
  // Nothing was stored as evicted: no filter (2 M names of 10 bits, 2.5 MB,
  // for this bound).
  CHECK(table.memory_bytes() == without);
  CHECK(table.intern("fresh") == std::pair<Id, bool>{51, true});

  // One name stored as evicted: the filter is made, sized to the bound, and
  // finds it.
  REQUIRE(backing.store_names(IdKind::user, std::vector<EvictedName>{{Id(7), user(6)}}).ok());
  InternTable filtered;
  restored(filtered);
  REQUIRE(filtered.load_evicted_names().ok());
  CHECK(filtered.memory_bytes() >= without + 2'000'000 * 10 / 8);
  CHECK(filtered.intern(user(6)) == std::pair<Id, bool>{7, false});
}

TEST_CASE("a dictionary bounds every kind and reports what it holds", "[core][dictionary]") {
  MemoryDictionaryBacking backing;
  Dictionary dict;
  dict.configure(&backing, 40);
  for (int i = 0; i < 200; ++i) {
    (void)intern_stored(dict.table(IdKind::user), backing, IdKind::user, user(i));
    (void)intern_stored(dict.table(IdKind::product), backing, IdKind::product, std::string("p").append(std::to_string(i)));
  }
  const std::size_t before = dict.memory_bytes();
  CHECK(dict.evict().value() == 2 * (200 - 30));
  CHECK(dict.resident() == 60);
  CHECK(dict.evicted_total() == 340);
  CHECK(dict.memory_bytes() <= before);
  CHECK(dict.name(IdKind::product, 1) == "p0");
  CHECK(dict.find(IdKind::user, user(0)) == Id{1});
}

TEST_CASE("a new name costs no read of the backing; only evicted ones, or filter collisions, are looked up",
          "[core][dictionary]") {
  MemoryDictionaryBacking backing;
  InternTable table;
  table.configure(IdKind::user, &backing, 100);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(intern_stored(table, backing, IdKind::user, user(i)).second);
    if (i % 10 == 9) REQUIRE(table.evict().ok());
  }
  REQUIRE(table.evicted_total() > 800);
  // Evicted names, and only those, were stored name -> id.
  CHECK(backing.names_stored() == table.evicted_total());
  // 1000 new names: only those whose filter bits all collide (about 1 %)
  // were looked up, where a table that asked about every name after the
  // first eviction would have made about 900 reads.
  CHECK(backing.id_reads() <= 20);

  const std::size_t before = backing.id_reads();
  CHECK(table.intern(user(0)) == std::pair<Id, bool>{1, false});  // evicted: looked up, same id
  CHECK(backing.id_reads() == before + 1);

  // Find a never-seen name the filter cannot tell from an evicted one (its
  // bits all collide): it is looked up, found absent, and gets a new id.
  std::string collision;
  for (int i = 0; i < 1'000'000 && collision.empty(); ++i) {
    const std::string candidate = "fresh-" + std::to_string(i);
    const std::size_t reads = backing.id_reads();
    const auto [id, created] = intern_stored(table, backing, IdKind::user, candidate);
    REQUIRE(created);
    REQUIRE(id == table.size());
    if (backing.id_reads() != reads) collision = candidate;
  }
  REQUIRE_FALSE(collision.empty());
  const Id id = table.find(collision).value();
  CHECK(table.name(id) == collision);
  CHECK(table.intern(collision) == std::pair<Id, bool>{id, false});  // resident now: the same id
}

TEST_CASE("a name filter never misses a name it holds and rarely claims one it does not", "[core][dictionary]") {
  NameFilter filter(10'000);
  for (int i = 0; i < 10'000; ++i) filter.add(InternTable::hash(user(i)));
  for (int i = 0; i < 10'000; ++i) REQUIRE(filter.may_contain(InternTable::hash(user(i))));
  int false_positives = 0;
  for (int i = 0; i < 100'000; ++i) false_positives += filter.may_contain(InternTable::hash("other-" + std::to_string(i)));
  CHECK(false_positives > 0);        // full to capacity, some bits collide
  CHECK(false_positives < 2'000);    // about 1 %, not more than 2 %
  CHECK_FALSE(NameFilter().may_contain(InternTable::hash("x")));
}

TEST_CASE("when storing the evicted names fails nothing is evicted", "[core][dictionary]") {
  MemoryDictionaryBacking backing;
  InternTable table;
  table.configure(IdKind::user, &backing, 10);
  for (int i = 0; i < 100; ++i) (void)intern_stored(table, backing, IdKind::user, user(i));
  backing.fail_writes(true);
  CHECK_FALSE(table.evict().ok());
  CHECK(table.resident() == 100);
  CHECK(table.evicted_total() == 0);
  backing.fail_writes(false);
  CHECK(table.evict().value() == 100 - 8);
  CHECK(table.intern(user(0)) == std::pair<Id, bool>{1, false});
}
