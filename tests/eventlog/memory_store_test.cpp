#include <catch2/catch.hpp>

#include "eventlog_fixtures.hpp"
#include "shoppulse/eventlog/memory_store.hpp"

using namespace shoppulse;

TEST_CASE("the memory store fails appends while a fault is injected and recovers after", "[eventlog]") {
  auto faults = std::make_shared<MemoryStoreFaults>();
  auto store = make_memory_store(faults);
  const auto records = eventlog_test::make_records(1, 3, 0);
  const std::vector<DictionaryEntry> entries{{IdKind::user, 1, "alice"}};

  faults->fail_appends = true;
  auto failed = store->append(AppendBatch{records, entries});
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == Errc::io_error);
  CHECK(store->next_sequence() == 1);
  CHECK(store->load_dictionary()->empty());

  faults->fail_appends = false;
  REQUIRE(store->append(AppendBatch{records, entries}).ok());
  CHECK(store->next_sequence() == 4);
  CHECK(eventlog_test::read_all(*store).size() == 3);
}

TEST_CASE("the memory store lets a read callback call back into the store", "[eventlog]") {
  auto store = make_memory_store();
  const auto records = eventlog_test::make_records(1, 3, 0);
  REQUIRE(store->append(AppendBatch{records, {}}).ok());
  std::uint64_t seen_last = 0;
  REQUIRE(store->read(1, [&](std::span<const LogRecord>) {
    seen_last = store->stats().last_sequence;  // would deadlock if read held the lock
    return true;
  }).ok());
  CHECK(seen_last == 3);
}
