// Behaviour every Storage must show, run against both the RocksDB store and
// the memory store other modules test with. The cases tagged [derived]
// (rollups, checkpoints) are the conformance suite of every RollupStore and
// CheckpointStore: tests/adapters builds this file again with
// SHOPPULSE_MONGODB_CONFORMANCE, which adds the MongoDB store to them.
#include <catch2/catch.hpp>

#include <map>

#include "block_codec.hpp"
#include "eventlog_fixtures.hpp"
#include "shoppulse/eventlog/memory_store.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"

using namespace shoppulse;
using eventlog_test::make_records;
using eventlog_test::read_all;
using eventlog_test::same_record;

namespace {

struct RocksDbFactory {
  eventlog_test::TempDir dir;
  std::unique_ptr<Storage> open() {
    EventLogConfig config;
    config.data_dir = dir.path();
    config.block_cache_mb = 8;
    config.write_buffer_mb = 4;
    auto store = open_rocksdb_store(config);
    INFO((store.ok() ? std::string() : store.error().detail));
    REQUIRE(store.ok());
    return std::move(store).value();
  }
};

struct MemoryFactory {
  std::unique_ptr<Storage> open() { return make_memory_store(); }
};

}  // namespace

#ifdef SHOPPULSE_MONGODB_CONFORMANCE
#include "mongodb_factory.hpp"
#define SHOPPULSE_DERIVED_STORES RocksDbFactory, MemoryFactory, MongoDbFactory
#else
#define SHOPPULSE_DERIVED_STORES RocksDbFactory, MemoryFactory
#endif

namespace {

// Appends records as one block; the block must be accepted.
void append(Storage& store, const std::vector<LogRecord>& records, const std::vector<DictionaryEntry>& entries = {}) {
  auto result = store.append(AppendBatch{records, entries});
  INFO((result.ok() ? std::string() : result.error().detail));
  REQUIRE(result.ok());
}

// The bytes a block adds to the log's logical size, as both stores count them.
std::uint64_t block_bytes(const std::vector<LogRecord>& records) {
  return 8 + eventlog::encode_block(records).value().size();
}

void require_same(const std::vector<LogRecord>& actual, const std::vector<LogRecord>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("record " << i);
    REQUIRE(same_record(actual[i], expected[i]));
  }
}

}  // namespace

TEMPLATE_TEST_CASE("an empty log starts at sequence 1 and reads nothing", "[eventlog]", RocksDbFactory,
                   MemoryFactory) {
  TestType factory;
  auto store = factory.open();
  CHECK(store->next_sequence() == 1);
  CHECK(read_all(*store).empty());
  const EventLogStats stats = store->stats();
  CHECK(stats.first_sequence == 0);
  CHECK(stats.last_sequence == 0);
  CHECK(stats.blocks == 0);
  CHECK(store->load_dictionary()->empty());
  CHECK(store->apply_retention(1'000'000, 1, 1).value() == 0);
}

TEMPLATE_TEST_CASE("appended events read back in order across many blocks", "[eventlog]", RocksDbFactory,
                   MemoryFactory) {
  TestType factory;
  auto store = factory.open();
  std::vector<LogRecord> expected;
  for (std::size_t block = 0; block < 60; ++block) {
    auto records = make_records(store->next_sequence(), 1 + block % 17, 1'700'000'000'000 + block * 60'000);
    append(*store, records);
    expected.insert(expected.end(), records.begin(), records.end());
  }
  CHECK(store->next_sequence() == expected.size() + 1);
  require_same(read_all(*store), expected);
  require_same(read_all(*store, 1), expected);

  const EventLogStats stats = store->stats();
  CHECK(stats.first_sequence == 1);
  CHECK(stats.last_sequence == expected.size());
  CHECK(stats.blocks == 60);
  CHECK(stats.bytes > 0);
}

TEMPLATE_TEST_CASE("reading from a middle sequence starts exactly there", "[eventlog]", RocksDbFactory,
                   MemoryFactory) {
  TestType factory;
  auto store = factory.open();
  std::vector<LogRecord> all;
  for (int block = 0; block < 5; ++block) {
    auto records = make_records(store->next_sequence(), 10, block * 100'000);
    append(*store, records);
    all.insert(all.end(), records.begin(), records.end());
  }

  for (Sequence from : {Sequence{7}, Sequence{10}, Sequence{11}, Sequence{25}, Sequence{50}}) {
    INFO("from " << from);
    require_same(read_all(*store, from), std::vector<LogRecord>(all.begin() + (from - 1), all.end()));
  }
  CHECK(read_all(*store, 51).empty());
  CHECK(read_all(*store, 1'000'000).empty());

  SECTION("runs arrive per block and reading stops when the callback says so") {
    std::vector<std::size_t> run_sizes;
    auto result = store->read(15, [&](std::span<const LogRecord> run) {
      run_sizes.push_back(run.size());
      return run_sizes.size() < 2;
    });
    REQUIRE(result.ok());
    CHECK(run_sizes == std::vector<std::size_t>{6, 10});
  }
}

TEMPLATE_TEST_CASE("an append that does not continue the sequence is rejected and changes nothing",
                   "[eventlog]", RocksDbFactory, MemoryFactory) {
  TestType factory;
  auto store = factory.open();
  append(*store, make_records(1, 5, 0), {{IdKind::user, 1, "alice"}});
  const std::vector<DictionaryEntry> entry{{IdKind::user, 2, "bob"}};

  auto starts_late = make_records(7, 3, 0);
  auto result = store->append(AppendBatch{starts_late, entry});
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Errc::invalid_argument);

  auto starts_early = make_records(5, 3, 0);
  CHECK(store->append(AppendBatch{starts_early, entry}).error().code == Errc::invalid_argument);

  auto has_gap = make_records(6, 3, 0);
  has_gap[2].event.sequence = 9;
  CHECK(store->append(AppendBatch{has_gap, entry}).error().code == Errc::invalid_argument);

  CHECK(store->next_sequence() == 6);
  CHECK(read_all(*store).size() == 5);
  CHECK(store->stats().blocks == 1);
  CHECK(store->load_dictionary()->size() == 1);

  append(*store, make_records(6, 3, 0), entry);
  CHECK(store->next_sequence() == 9);
  CHECK(store->load_dictionary()->size() == 2);
}

TEMPLATE_TEST_CASE("dictionary entries come back per kind in id order", "[eventlog]", RocksDbFactory,
                   MemoryFactory) {
  TestType factory;
  auto store = factory.open();
  append(*store, make_records(1, 1, 0),
         {{IdKind::product, 2, "p-two"}, {IdKind::user, 300, "u-300"}, {IdKind::user, 1, "u-1"}});
  append(*store, make_records(2, 1, 0), {{IdKind::location, 1, ""}, {IdKind::product, 1, "p-one"}});
  append(*store, {}, {{IdKind::user, 2, "u-2"}});  // entries alone are kept too

  auto entries = store->load_dictionary();
  REQUIRE(entries.ok());
  std::vector<std::tuple<IdKind, Id, std::string>> got;
  for (const auto& e : *entries) got.emplace_back(e.kind, e.id, e.value);
  const std::vector<std::tuple<IdKind, Id, std::string>> expected{
      {IdKind::user, 1, "u-1"},       {IdKind::user, 2, "u-2"},       {IdKind::user, 300, "u-300"},
      {IdKind::product, 1, "p-one"},  {IdKind::product, 2, "p-two"},  {IdKind::location, 1, ""}};
  CHECK(got == expected);
  CHECK(store->next_sequence() == 3);
}

TEMPLATE_TEST_CASE("retention by age drops only the oldest whole blocks", "[eventlog]", RocksDbFactory,
                   MemoryFactory) {
  TestType factory;
  auto store = factory.open();
  constexpr TimestampMs kMinute = 60'000;
  // Blocks of 4 events whose newest times are minutes 1, 2, 3, 4, 5; the
  // fourth block is out of order (newest at minute 0).
  const TimestampMs newest[] = {1, 2, 3, 0, 5};
  for (TimestampMs minute : newest) {
    append(*store, make_records(store->next_sequence(), 4, minute * kMinute - 3000));
  }

  SECTION("blocks older than the limit go, stopping at the first block to keep") {
    // Cutoff minute 3.5: the first four blocks are all older.
    auto dropped = store->apply_retention(6 * kMinute, 2 * kMinute + kMinute / 2, 0);
    REQUIRE(dropped.ok());
    CHECK(*dropped == 16);
    CHECK(store->stats().first_sequence == 17);
    CHECK(store->stats().blocks == 1);
    CHECK(read_all(*store).front().event.sequence == 17);
  }
  SECTION("an old block behind a newer one stays, so the log keeps no holes") {
    auto dropped = store->apply_retention(4 * kMinute, kMinute + kMinute / 2, 0);
    REQUIRE(dropped.ok());
    CHECK(*dropped == 8);  // minutes 1 and 2; minute 3 is young enough and shields minute 0
    CHECK(store->stats().first_sequence == 9);
    CHECK(read_all(*store).size() == 12);
  }
  SECTION("no age limit and no size limit keep everything") {
    CHECK(store->apply_retention(1'000 * kMinute, 0, 0).value() == 0);
    CHECK(store->stats().blocks == 5);
  }
  CHECK(store->next_sequence() == 21);
  append(*store, make_records(21, 1, 6 * kMinute));
}

TEMPLATE_TEST_CASE("retention by size drops oldest blocks until the log fits", "[eventlog]", RocksDbFactory,
                   MemoryFactory) {
  TestType factory;
  auto store = factory.open();
  std::vector<std::uint64_t> sizes;
  for (int block = 0; block < 10; ++block) {
    auto records = make_records(store->next_sequence(), 8, block * 1000);
    sizes.push_back(block_bytes(records));
    append(*store, records);
  }
  // Room for the newest three blocks and a bit.
  const std::uint64_t limit = sizes[7] + sizes[8] + sizes[9] + sizes[6] / 2;
  auto dropped = store->apply_retention(0, 0, limit);
  REQUIRE(dropped.ok());
  CHECK(*dropped == 7 * 8);
  CHECK(store->stats().first_sequence == 57);
  CHECK(store->stats().blocks == 3);
  CHECK(read_all(*store).size() == 24);
  CHECK(store->apply_retention(0, 0, limit).value() == 0);  // already fits
}

TEMPLATE_TEST_CASE("retention that empties the log never reuses a sequence", "[eventlog]", RocksDbFactory,
                   MemoryFactory) {
  TestType factory;
  auto store = factory.open();
  append(*store, make_records(1, 10, 0));
  CHECK(store->apply_retention(1'000'000, 1000, 0).value() == 10);
  CHECK(store->stats().blocks == 0);
  CHECK(store->stats().first_sequence == 0);
  CHECK(store->next_sequence() == 11);
  CHECK(read_all(*store).empty());
  CHECK(store->append(AppendBatch{make_records(1, 1, 0), {}}).error().code == Errc::invalid_argument);
  append(*store, make_records(11, 2, 2'000'000));
  CHECK(read_all(*store).front().event.sequence == 11);
}

TEMPLATE_TEST_CASE("rollup minutes scan in ascending order within a half-open range", "[eventlog][derived]",
                   SHOPPULSE_DERIVED_STORES) {
  TestType factory;
  auto store = factory.open();
  const std::vector<std::pair<std::int64_t, std::string>> minutes{
      {5, "five"}, {-3, "minus three"}, {0, "zero"}, {1, std::string("\0one", 4)}, {-1, ""},
      {std::numeric_limits<std::int64_t>::min(), "min"}, {std::numeric_limits<std::int64_t>::max(), "max"}};
  REQUIRE(store->put_minutes(minutes).ok());
  const std::vector<std::pair<std::int64_t, std::string>> replaced{{5, "FIVE"}};
  REQUIRE(store->put_minutes(replaced).ok());

  auto scan = [&](std::int64_t from, std::int64_t to) {
    std::vector<std::pair<std::int64_t, std::string>> out;
    REQUIRE(store->scan_minutes(from, to, [&](std::int64_t m, std::string_view bytes) {
      out.emplace_back(m, std::string(bytes));
    }).ok());
    return out;
  };
  using Minutes = std::vector<std::pair<std::int64_t, std::string>>;
  CHECK(scan(-3, 5) == Minutes{{-3, "minus three"}, {-1, ""}, {0, "zero"}, {1, std::string("\0one", 4)}});
  CHECK(scan(-2, 6) == Minutes{{-1, ""}, {0, "zero"}, {1, std::string("\0one", 4)}, {5, "FIVE"}});
  CHECK(scan(2, 5).empty());
  CHECK(scan(5, 5).empty());
  CHECK(scan(6, 0).empty());
  CHECK(scan(std::numeric_limits<std::int64_t>::min(), -3) ==
        Minutes{{std::numeric_limits<std::int64_t>::min(), "min"}});

  REQUIRE(store->drop_minutes_before(0).ok());
  CHECK(scan(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()) ==
        Minutes{{0, "zero"}, {1, std::string("\0one", 4)}, {5, "FIVE"}});
  REQUIRE(store->drop_minutes_before(std::numeric_limits<std::int64_t>::max()).ok());
  CHECK(scan(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()).empty());
}

TEMPLATE_TEST_CASE("checkpoints are stored, overwritten and reported missing", "[eventlog][derived]",
                   SHOPPULSE_DERIVED_STORES) {
  TestType factory;
  auto store = factory.open();
  auto missing = store->get_checkpoint("windows");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());

  REQUIRE(store->put_checkpoint("windows", Checkpoint{42, std::string("state\0bytes", 11)}).ok());
  REQUIRE(store->put_checkpoint("empty", Checkpoint{0, ""}).ok());
  auto got = store->get_checkpoint("windows");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->covers_through == 42);
  CHECK((*got)->bytes == std::string("state\0bytes", 11));

  REQUIRE(store->put_checkpoint("windows", Checkpoint{99, "newer"}).ok());
  got = store->get_checkpoint("windows");
  CHECK((*got)->covers_through == 99);
  CHECK((*got)->bytes == "newer");
  CHECK((*got)->incarnation == 0);
  auto empty = store->get_checkpoint("empty");
  REQUIRE(empty->has_value());
  CHECK((*empty)->bytes.empty());
  CHECK_FALSE(store->get_checkpoint("window")->has_value());

  // The log's incarnation goes with the checkpoint, the top bit included.
  REQUIRE(store->put_checkpoint("windows", Checkpoint{7, "tagged", 0xfedcba9876543210}).ok());
  got = store->get_checkpoint("windows");
  REQUIRE(got->has_value());
  CHECK((*got)->covers_through == 7);
  CHECK((*got)->bytes == "tagged");
  CHECK((*got)->incarnation == 0xfedcba9876543210);
}

TEMPLATE_TEST_CASE("source offsets are stored with the events they cover and survive a reopen", "[eventlog]",
                   RocksDbFactory, MemoryFactory) {
  TestType factory;
  auto store = factory.open();
  REQUIRE(store->load_source_offsets()->empty());

  const auto records = make_records(1, 3, 0);
  const std::vector<SourceOffset> first{{"kafka/t/0", 10}, {"kafka/t/1", 4}};
  REQUIRE(store->append(AppendBatch{records, {}, first}).ok());
  CHECK(*store->load_source_offsets() == first);
  CHECK(store->next_sequence() == 4);

  SECTION("an append of only offsets stores them and adds no events") {
    const std::vector<SourceOffset> later{{"kafka/t/1", 9}, {"kafka/t/2", 1}};
    REQUIRE(store->append(AppendBatch{{}, {}, later}).ok());
    CHECK(*store->load_source_offsets() ==
          std::vector<SourceOffset>{{"kafka/t/0", 10}, {"kafka/t/1", 9}, {"kafka/t/2", 1}});
    CHECK(store->next_sequence() == 4);
    CHECK(read_all(*store, 1).size() == 3);
  }
  SECTION("a rejected append stores none of its offsets") {
    const auto gap = make_records(7, 1, 0);
    const std::vector<SourceOffset> moved{{"kafka/t/0", 11}};
    CHECK_FALSE(store->append(AppendBatch{gap, {}, moved}).ok());
    CHECK(*store->load_source_offsets() == first);
  }
}

TEST_CASE("source offsets survive closing and reopening the RocksDB store", "[eventlog]") {
  RocksDbFactory factory;
  {
    auto store = factory.open();
    REQUIRE(store->append(AppendBatch{make_records(1, 2, 0), {}, std::vector<SourceOffset>{{"kafka/t/0", 2}}}).ok());
  }
  auto reopened = factory.open();
  CHECK(*reopened->load_source_offsets() == std::vector<SourceOffset>{{"kafka/t/0", 2}});
  CHECK(reopened->next_sequence() == 3);
}
