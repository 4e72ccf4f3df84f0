// PartitionOwnership publishes the owned set with a version that changes
// only when the set does; PartitionFilter keeps an event when its user's
// partition (key_partition of the user's name) is owned.
#include <catch2/catch.hpp>

#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/key_partition.hpp"
#include "shoppulse/core/partition_ownership.hpp"

using namespace shoppulse;

TEST_CASE("Ownership starts owning nothing and versions every change of the set, not a repeat",
          "[partition_ownership]") {
  Dictionary dict;
  PartitionOwnership own(dict);
  CHECK(own.version() == 0);
  CHECK(own.current()->list().empty());
  own.assign({0, 2, 4}, 6);
  CHECK(own.version() == 1);
  CHECK(own.current()->text() == "6:0,2,4");
  own.assign({4, 2, 0}, 6);  // the same set
  CHECK(own.version() == 1);
  own.assign({}, 6);  // everything revoked: a set of its own
  CHECK(own.version() == 2);
  CHECK(own.current()->text() == "6:");
  own.assign({1, 7, -1}, 6);  // out of range ignored
  CHECK(own.current()->list() == std::vector<std::int32_t>{1});
}

TEST_CASE("A filter keeps exactly the events of users on owned partitions", "[partition_ownership]") {
  Dictionary dict;
  PartitionOwnership own(dict);
  std::vector<Event> events;
  for (int i = 0; i < 200; ++i) {
    Event e;
    e.user = dict.table(IdKind::user).intern("user-" + std::to_string(i)).first;
    e.sequence = Sequence(i + 1);
    events.push_back(e);
  }
  PartitionFilter none(dict, own.current());
  for (const Event& e : events) CHECK_FALSE(none(e));  // before the first assignment
  own.assign({1, 3}, 4);
  PartitionFilter keep(dict, own.current());
  std::size_t kept = 0;
  for (int pass = 0; pass < 2; ++pass)  // the second pass answers from the filter's own table
    for (int i = 0; i < 200; ++i) {
      const std::uint32_t p = key_partition("user-" + std::to_string(i), 4);
      CHECK(keep(events[std::size_t(i)]) == (p == 1 || p == 3));
      if (pass == 0 && (p == 1 || p == 3)) ++kept;
    }
  CHECK(kept > 50);
  CHECK(kept < 150);
}
