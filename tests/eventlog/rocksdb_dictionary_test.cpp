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

EventLogConfig config_at(const std::string& dir) {
  EventLogConfig config;
  config.data_dir = dir;
  config.block_cache_mb = 8;
  config.write_buffer_mb = 4;
  return config;
}

std::unique_ptr<Storage> open_at(const std::string& dir) {
  auto store = open_rocksdb_store(config_at(dir));
  REQUIRE(store.ok());
  return std::move(store).value();
}

std::string name_of(IdKind kind, Id id) { return std::string(to_string(kind)) + "-" + std::to_string(id); }

void append_entries(Storage& store, IdKind kind, Id first, Id last) {
  std::vector<DictionaryEntry> entries;
  for (Id id = first; id <= last; ++id) entries.push_back({kind, id, name_of(kind, id)});
  REQUIRE(store.append(AppendBatch{{}, entries}).ok());
}

}  // namespace

TEST_CASE("the RocksDB store finds dictionary entries by id and by name", "[eventlog][dictionary]") {
  eventlog_test::TempDir dir;
  auto store = open_at(dir.path());
  CHECK(store->looks_up_dictionary());
  append_entries(*store, IdKind::user, 1, 30);
  append_entries(*store, IdKind::product, 1, 5);
  CHECK_FALSE(store->find_dictionary_id(IdKind::user, "user-17").value());  // by name only once evicted
  REQUIRE(store->store_dictionary_names(std::vector<DictionaryEntry>{{IdKind::user, 17, "user-17"},
                                                                     {IdKind::product, 5, "product-5"}})
              .ok());
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

  // One kind alone (what each thread of the start-up load reads): the same
  // entries, newest or all.
  for (const std::size_t n : {std::size_t{10}, std::size_t{0}}) {
    auto all = n == 0 ? store->load_dictionary() : store->load_dictionary_newest(n);
    REQUIRE(all.ok());
    std::size_t seen = 0;
    for (const IdKind kind : {IdKind::user, IdKind::product, IdKind::category, IdKind::device, IdKind::location}) {
      INFO("kind " << to_string(kind) << " newest " << n);
      auto one = store->load_dictionary_kind(kind, n);
      REQUIRE(one.ok());
      std::vector<std::pair<Id, std::string>> got, want;
      for (const DictionaryEntry& e : *one) got.emplace_back(e.id, e.value);
      for (const DictionaryEntry& e : *all)
        if (e.kind == kind) want.emplace_back(e.id, e.value);
      CHECK(got == want);
      seen += got.size();
    }
    CHECK(seen == (n == 0 ? 47u : 25u));
  }
}

TEST_CASE("a kind too large for one run is handed over in order, a run at a time, with its total ahead",
          "[eventlog][dictionary]") {
  eventlog_test::TempDir dir;
  auto store = open_at(dir.path());
  append_entries(*store, IdKind::user, 1, 10000);  // several runs of the scan
  append_entries(*store, IdKind::product, 1, 3);
  for (const std::size_t newest : {std::size_t{0}, std::size_t{6000}, std::size_t{20000}}) {
    INFO("newest " << newest);
    std::vector<Id> ids;
    std::size_t runs = 0;
    bool named = true;
    auto scanned = store->scan_dictionary_kind(IdKind::user, newest,
                                               [&](std::span<const DictionaryEntry> run, std::size_t total) {
                                                 ++runs;
                                                 CHECK(total == (newest == 6000 ? 6000u : 10000u));
                                                 for (const DictionaryEntry& e : run) {
                                                   ids.push_back(e.id);
                                                   named = named && e.kind == IdKind::user &&
                                                           e.value == "user-" + std::to_string(e.id);
                                                 }
                                                 return Result<void>{};
                                               });
    REQUIRE(scanned.ok());
    const Id first = newest == 6000 ? 4001 : 1;
    REQUIRE(ids.size() == 10001 - first);
    for (std::size_t i = 0; i < ids.size(); ++i) REQUIRE(ids[i] == first + i);
    CHECK(named);
    CHECK(runs > 1);
  }
  // A run's error stops the scan and is what it returns.
  std::size_t calls = 0;
  auto stopped = store->scan_dictionary_kind(IdKind::user, 0, [&](std::span<const DictionaryEntry>, std::size_t) {
    ++calls;
    return Result<void>(make_error(Errc::corrupt, "stop here"));
  });
  REQUIRE_FALSE(stopped.ok());
  CHECK(stopped.error().detail == "stop here");
  CHECK(calls == 1);
  // A kind with no entries hands nothing over.
  CHECK(store->scan_dictionary_kind(IdKind::device, 0, [](std::span<const DictionaryEntry>, std::size_t) {
           FAIL("no run expected");
           return Result<void>{};
         }).ok());
}

TEST_CASE("names are stored only for evicted ids, and a bounded start-up stores those it leaves on disk",
          "[eventlog][dictionary]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_at(dir.path());
    append_entries(*store, IdKind::user, 1, 100);
    CHECK_FALSE(store->find_dictionary_id(IdKind::user, "user-42").value());  // a new id writes no name
    REQUIRE(store->store_dictionary_names(std::vector<DictionaryEntry>{{IdKind::user, 99, "user-99"}}).ok());
    CHECK(store->find_dictionary_id(IdKind::user, "user-99").value() == std::optional<Id>(99));
    REQUIRE(store->complete_dictionary_names(30).ok());  // ids 1..70 stay on disk
  }
  auto store = open_at(dir.path());
  CHECK(store->find_dictionary_id(IdKind::user, "user-42").value() == std::optional<Id>(42));
  CHECK(store->find_dictionary_id(IdKind::user, "user-70").value() == std::optional<Id>(70));
  CHECK_FALSE(store->find_dictionary_id(IdKind::user, "user-71").value());
  std::vector<std::string> names;
  REQUIRE(store->scan_dictionary_names(IdKind::user, [&](std::string_view n) { names.emplace_back(n); }).ok());
  CHECK(names.size() == 71);  // 1..70 and 99
  std::size_t products = 0;
  REQUIRE(store->scan_dictionary_names(IdKind::product, [&](std::string_view) { ++products; }).ok());
  CHECK(products == 0);
  // The next start-up writes only the ids made since.
  append_entries(*store, IdKind::user, 101, 110);
  REQUIRE(store->complete_dictionary_names(30).ok());
  CHECK(store->find_dictionary_id(IdKind::user, "user-80").value() == std::optional<Id>(80));
  CHECK_FALSE(store->find_dictionary_id(IdKind::user, "user-81").value());
  REQUIRE(eventlog::drop_dictionary_names(*store).ok());  // names and marker gone: all written again
  REQUIRE(store->complete_dictionary_names(30).ok());
  CHECK(store->find_dictionary_id(IdKind::user, "user-1").value() == std::optional<Id>(1));
}

namespace {

std::string single_key(IdKind kind, Id id) {
  std::string key(1, static_cast<char>(kind));
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>((id >> shift) & 0xff));
  return key;
}

// name -> length-prefixed, as a run's value holds its names (names here
// are shorter than 128 bytes: one length byte).
std::string run_value(IdKind kind, Id first, Id last) {
  std::string value;
  for (Id id = first; id <= last; ++id) {
    const std::string name = name_of(kind, id);
    value.push_back(static_cast<char>(name.size()));
    value += name;
  }
  return value;
}

}  // namespace

TEST_CASE("an append keeps each kind's consecutive new ids under one key, and single-id keys of older data dirs "
          "read beside those runs",
          "[eventlog][dictionary]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_at(dir.path());
    // Users 1-3 as a data dir of format 2 holds them: a key per id.
    for (Id id = 1; id <= 3; ++id)
      REQUIRE(eventlog::put_raw(*store, "dictionary", single_key(IdKind::user, id), name_of(IdKind::user, id)).ok());
    append_entries(*store, IdKind::user, 4, 10);
    // One append, users and products interleaved as events bring them.
    std::vector<DictionaryEntry> mixed;
    for (Id id = 1; id <= 3; ++id) {
      mixed.push_back({IdKind::product, id, name_of(IdKind::product, id)});
      if (id <= 2) mixed.push_back({IdKind::user, 10 + id, name_of(IdKind::user, 10 + id)});
    }
    REQUIRE(store->append(AppendBatch{{}, mixed}).ok());
    append_entries(*store, IdKind::user, 13, 13);  // a lone new id keeps a key of its own

    auto keys = eventlog::raw_keys(*store, "dictionary");
    REQUIRE(keys.ok());
    std::vector<std::size_t> sizes;
    for (const std::string& k : *keys) sizes.push_back(k.size());
    // users 1, 2, 3, run 4-10, run 11-12, 13; products run 1-3
    CHECK(sizes == std::vector<std::size_t>{5, 5, 5, 9, 9, 5, 9});

    for (Id id = 1; id <= 13; ++id) {
      INFO("user " << id);
      CHECK(store->find_dictionary_name(IdKind::user, id).value() == std::optional<std::string>(name_of(IdKind::user, id)));
    }
    CHECK_FALSE(store->find_dictionary_name(IdKind::user, 14).value());
    CHECK_FALSE(store->find_dictionary_name(IdKind::user, 0).value());
    CHECK(store->find_dictionary_name(IdKind::product, 2).value() == std::optional<std::string>("product-2"));
    CHECK_FALSE(store->find_dictionary_name(IdKind::product, 4).value());
    CHECK_FALSE(store->find_dictionary_name(IdKind::category, 1).value());

    auto all = store->load_dictionary();
    REQUIRE(all.ok());
    std::vector<std::pair<IdKind, Id>> got;
    for (const DictionaryEntry& e : *all) {
      got.emplace_back(e.kind, e.id);
      CHECK(e.value == name_of(e.kind, e.id));
    }
    std::vector<std::pair<IdKind, Id>> want;
    for (Id id = 1; id <= 13; ++id) want.emplace_back(IdKind::user, id);
    for (Id id = 1; id <= 3; ++id) want.emplace_back(IdKind::product, id);
    CHECK(got == want);

    // The newest ids begin inside a run (6 of 4-10) or on a single key (3).
    for (const auto& [newest, first] : {std::pair<std::size_t, Id>{8, 6}, {11, 3}, {2, 12}, {1, 13}}) {
      INFO("newest " << newest);
      auto some = store->load_dictionary_kind(IdKind::user, newest);
      REQUIRE(some.ok());
      std::vector<Id> ids;
      for (const DictionaryEntry& e : *some) {
        ids.push_back(e.id);
        CHECK(e.value == name_of(IdKind::user, e.id));
      }
      std::vector<Id> expected;
      for (Id id = first; id <= 13; ++id) expected.push_back(id);
      CHECK(ids == expected);
    }
  }
  const VerifyReport report = verify_rocksdb_store(config_at(dir.path()));
  INFO((report.problems.empty() ? std::string() : report.problems.front()));
  CHECK(report.problems.empty());
  CHECK(report.dictionary_entries == 16);
}

TEST_CASE("verify and recover read dictionary runs: a damaged run is a gap, dropped whole and counted by its ids",
          "[eventlog][dictionary]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_at(dir.path());
    append_entries(*store, IdKind::user, 1, 10);
    append_entries(*store, IdKind::user, 11, 20);
    append_entries(*store, IdKind::user, 21, 25);
    // The middle run loses its last name.
    REQUIRE(eventlog::put_raw(*store, "dictionary", single_key(IdKind::user, 11) + std::string("\0\0\0\x14", 4),
                              run_value(IdKind::user, 11, 19))
                .ok());
  }
  const VerifyReport damaged = verify_rocksdb_store(config_at(dir.path()));
  REQUIRE_FALSE(damaged.problems.empty());
  CHECK(damaged.problems.front().find("fewer names than its ids") != std::string::npos);
  CHECK(damaged.dictionary_entries == 15);  // the readable runs

  auto recovered = recover_rocksdb_store(config_at(dir.path()));
  INFO((recovered.ok() ? std::string() : recovered.error().detail));
  REQUIRE(recovered.ok());
  // The damaged run and the run after the gap it leaves: 10 + 5 ids.
  CHECK(recovered->dropped_dictionary_entries == 15);
  const VerifyReport after = verify_rocksdb_store(config_at(dir.path()));
  INFO((after.problems.empty() ? std::string() : after.problems.front()));
  CHECK(after.problems.empty());
  CHECK(after.dictionary_entries == 10);
  auto store = open_at(dir.path());
  auto all = store->load_dictionary();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 10);
  CHECK(all->back().id == 10);
}

TEST_CASE("a data dir of format 2 opens and is marked 3; an unknown format is refused by name",
          "[eventlog][dictionary]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_at(dir.path());
    CHECK(eventlog::raw_value(*store, "meta", "format_version").value() == std::optional<std::string>("3"));
    REQUIRE(eventlog::put_raw(*store, "meta", "format_version", "2").ok());
  }
  {
    auto store = open_at(dir.path());
    CHECK(eventlog::raw_value(*store, "meta", "format_version").value() == std::optional<std::string>("3"));
    REQUIRE(eventlog::put_raw(*store, "meta", "format_version", "9").ok());
  }
  auto refused = open_rocksdb_store(config_at(dir.path()));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().detail.find("unsupported format version '9'") != std::string::npos);
}
