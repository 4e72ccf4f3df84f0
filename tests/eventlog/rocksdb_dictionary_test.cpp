// The RocksDB store's dictionary lookups for a bounded dictionary: the
// reverse entries written with each append, the newest-first load, and the
// reverse entries built once for a data dir written without them.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "eventlog_fixtures.hpp"
#include "rocksdb_store_testing.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"

using namespace shoppulse;

namespace {

std::unique_ptr<Storage> open_at(const std::string& dir) {
  EventLogConfig config;
  config.data_dir = dir;
  config.block_cache_mb = 8;
  config.write_buffer_mb = 4;
  auto store = open_rocksdb_store(config);
  REQUIRE(store.ok());
  return std::move(store).value();
}

void append_entries(Storage& store, IdKind kind, Id first, Id last) {
  std::vector<DictionaryEntry> entries;
  for (Id id = first; id <= last; ++id) entries.push_back({kind, id, std::string(to_string(kind)) + "-" + std::to_string(id)});
  REQUIRE(store.append(AppendBatch{{}, entries}).ok());
}

}  // namespace

TEST_CASE("the RocksDB store finds dictionary entries by id and by name", "[eventlog][dictionary]") {
  eventlog_test::TempDir dir;
  auto store = open_at(dir.path());
  CHECK(store->looks_up_dictionary());
  append_entries(*store, IdKind::user, 1, 30);
  append_entries(*store, IdKind::product, 1, 5);
  CHECK(store->find_dictionary_id(IdKind::user, "user-17").value() == std::optional<Id>(17));
  CHECK(store->find_dictionary_id(IdKind::product, "product-5").value() == std::optional<Id>(5));
  CHECK_FALSE(store->find_dictionary_id(IdKind::product, "user-17").value());  // kinds are separate
  CHECK_FALSE(store->find_dictionary_id(IdKind::user, "user-31").value());
  CHECK(store->find_dictionary_name(IdKind::user, 30).value() == std::optional<std::string>("user-30"));
  CHECK_FALSE(store->find_dictionary_name(IdKind::user, 31).value());
}

TEST_CASE("a bounded load reads only the newest entries of each kind, in id order", "[eventlog][dictionary]") {
  eventlog_test::TempDir dir;
  auto store = open_at(dir.path());
  append_entries(*store, IdKind::user, 1, 30);
  append_entries(*store, IdKind::product, 1, 5);
  append_entries(*store, IdKind::location, 1, 12);
  auto newest = store->load_dictionary_newest(10);
  REQUIRE(newest.ok());
  std::vector<std::pair<IdKind, Id>> got;
  for (const DictionaryEntry& e : *newest) got.emplace_back(e.kind, e.id);
  std::vector<std::pair<IdKind, Id>> want;
  for (Id id = 21; id <= 30; ++id) want.emplace_back(IdKind::user, id);
  for (Id id = 1; id <= 5; ++id) want.emplace_back(IdKind::product, id);
  for (Id id = 3; id <= 12; ++id) want.emplace_back(IdKind::location, id);
  CHECK(got == want);
  CHECK(newest->front().value == "user-21");
  CHECK(store->load_dictionary_newest(0)->size() == 47);  // 0: everything
}

TEST_CASE("a data dir without reverse dictionary entries gets them at open", "[eventlog][dictionary]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_at(dir.path());
    append_entries(*store, IdKind::user, 1, 100);
    REQUIRE(eventlog::drop_dictionary_names(*store).ok());
    REQUIRE_FALSE(store->find_dictionary_id(IdKind::user, "user-42").value());  // as an old version left it
  }
  auto store = open_at(dir.path());
  CHECK(store->find_dictionary_id(IdKind::user, "user-42").value() == std::optional<Id>(42));
  CHECK(store->find_dictionary_id(IdKind::user, "user-100").value() == std::optional<Id>(100));
}
