// What the RocksDB store promises beyond a clean close: the durability mark,
// incarnations, and refusing a damaged log instead of serving part of it.
#include <catch2/catch.hpp>

#include <sys/mount.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "durability_mark.hpp"
#include "eventlog_fixtures.hpp"
#include "rocksdb_store_testing.hpp"
#include "store_keys.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "support/eventually.hpp"

using namespace shoppulse;
using eventlog_test::make_records;
using eventlog_test::read_all;

namespace {

EventLogConfig config_for(const std::string& dir, Durability durability = Durability::process) {
  EventLogConfig config;
  config.data_dir = dir;
  config.durability = durability;
  config.block_cache_mb = 8;
  config.write_buffer_mb = 4;
  // Longer than any test: the tests sync explicitly.
  config.wal_sync_interval_ms = 3'600'000;
  return config;
}

// A store as a process that dies before its close leaves it: its WAL holds
// what the memtables held (a clean close writes them out and empties it).
EventLogConfig unflushed_config_for(const std::string& dir) {
  EventLogConfig config = config_for(dir);
  config.flush_at_close = false;
  return config;
}

std::unique_ptr<Storage> open_store(const EventLogConfig& config) {
  auto store = open_rocksdb_store(config);
  INFO((store.ok() ? std::string() : store.error().detail));
  REQUIRE(store.ok());
  return std::move(store).value();
}

// Dictionary entries for every id make_records uses, as the ingestor
// writes them with the first events that use them.
std::vector<DictionaryEntry> fixture_dictionary() {
  std::vector<DictionaryEntry> entries;
  for (Id id = 1; id <= 97; ++id) entries.push_back({IdKind::user, id, "u" + std::to_string(id)});
  for (Id id = 1; id <= 12; ++id) entries.push_back({IdKind::product, id, "p" + std::to_string(id)});
  return entries;
}

void append_events(Storage& store, std::size_t count) {
  auto records = make_records(store.next_sequence(), count, 1'000'000);
  const auto entries = store.next_sequence() == 1 ? fixture_dictionary() : std::vector<DictionaryEntry>{};
  REQUIRE(store.append(AppendBatch{records, entries}).ok());
}

// Rewrites the mark as a run that never stopped cleanly would leave it.
// synced_through, when given, is where the last sync of that run got to.
void mark_unclean(const std::string& dir, eventlog::DurabilityMark::State state,
                  std::optional<Sequence> synced_through = std::nullopt) {
  auto mark = eventlog::read_durability_mark(dir);
  REQUIRE(mark.ok());
  REQUIRE(mark->has_value());
  eventlog::DurabilityMark changed = **mark;
  changed.state = state;
  if (synced_through) changed.synced_through = *synced_through;
  REQUIRE(eventlog::write_durability_mark(dir, changed).ok());
}

std::vector<std::filesystem::path> files_named(const std::string& dir, const std::string& suffix) {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void flip_bytes(const std::filesystem::path& file, std::uintmax_t at, std::size_t count) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  for (std::size_t i = 0; i < count; ++i) {
    f.seekg(static_cast<std::streamoff>(at + i));
    const int c = f.get();
    f.seekp(static_cast<std::streamoff>(at + i));
    f.put(static_cast<char>(c ^ 0x5a));
  }
}

// Opens a store with config, appends count events, closes it cleanly;
// returns the incarnation it had.
std::uint64_t incarnation_after_events(const EventLogConfig& config, std::size_t count) {
  auto store = open_store(config);
  const std::uint64_t incarnation = store->incarnation();
  append_events(*store, count);
  return incarnation;
}

}  // namespace

TEST_CASE("a clean close keeps the incarnation", "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  const std::uint64_t first = incarnation_after_events(config_for(dir.path()), 10);
  CHECK(first != 0);
  auto store = open_store(config_for(dir.path()));
  CHECK(store->incarnation() == first);
  CHECK(store->still_names_same_event(first, 10));
}

TEST_CASE("an unclean stop in process mode starts a new incarnation that remembers what the old one kept",
          "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  const std::uint64_t first = incarnation_after_events(config_for(dir.path()), 10);
  mark_unclean(dir.path(), eventlog::DurabilityMark::State::open_process);

  auto store = open_store(config_for(dir.path()));
  const std::uint64_t second = store->incarnation();
  CHECK(second != first);
  CHECK(store->next_sequence() == 11);
  // Sequences the old incarnation kept still name the same events; the
  // ones after it may be given to new events and are not vouched for.
  CHECK(store->still_names_same_event(first, 10));
  CHECK_FALSE(store->still_names_same_event(first, 11));
  CHECK(store->still_names_same_event(second, 11));
  CHECK_FALSE(store->still_names_same_event(0x1234, 1));
}

TEST_CASE("an unclean stop in fsync mode keeps the incarnation: every acknowledged event was synced",
          "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  const std::uint64_t first = incarnation_after_events(config_for(dir.path(), Durability::fsync), 10);
  mark_unclean(dir.path(), eventlog::DurabilityMark::State::open_fsync);
  auto store = open_store(config_for(dir.path(), Durability::fsync));
  CHECK(store->incarnation() == first);
}

TEST_CASE("a sync records how far the log is on stable storage", "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  auto store = open_store(config_for(dir.path()));
  append_events(*store, 25);
  CHECK(store->stats().synced_through == 0);
  REQUIRE(eventlog::sync_rocksdb_store(*store).ok());
  CHECK(store->stats().synced_through == 25);
  auto mark = eventlog::read_durability_mark(dir.path());
  REQUIRE(mark.ok());
  REQUIRE(mark->has_value());
  CHECK((*mark)->synced_through == 25);
  CHECK((*mark)->incarnation == store->incarnation());
}

TEST_CASE("the background syncer syncs on its own within the interval", "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  EventLogConfig config = config_for(dir.path());
  config.wal_sync_interval_ms = 5;
  auto store = open_store(config);
  append_events(*store, 7);
  // Waits for the syncer's effect, with a generous bound for a loaded machine.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (store->stats().synced_through < 7 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  CHECK(store->stats().synced_through == 7);
}

TEST_CASE("a log that ends before its synced mark refuses to open", "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_store(config_for(dir.path()));
    append_events(*store, 10);
  }
  auto mark = eventlog::read_durability_mark(dir.path());
  REQUIRE(mark.ok());
  eventlog::DurabilityMark changed = **mark;
  changed.synced_through = 50;  // as if events 11..50 had been synced and then lost
  REQUIRE(eventlog::write_durability_mark(dir.path(), changed).ok());
  auto reopened = open_rocksdb_store(config_for(dir.path()));
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.error().code == Errc::corrupt);
  CHECK(reopened.error().detail.find("ends at sequence 10") != std::string::npos);
}

TEST_CASE("a damaged durability mark refuses to open", "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  { auto store = open_store(config_for(dir.path())); }
  flip_bytes(std::filesystem::path(dir.path()) / eventlog::kDurabilityMarkFile, 30, 1);
  auto reopened = open_rocksdb_store(config_for(dir.path()));
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.error().code == Errc::corrupt);
}

TEST_CASE("a WAL record damaged in the middle refuses to open instead of serving a shorter log",
          "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_store(unflushed_config_for(dir.path()));
    for (int i = 0; i < 40; ++i) append_events(*store, 50);
  }
  const auto logs = files_named(dir.path(), ".log");
  REQUIRE_FALSE(logs.empty());
  const auto wal = logs.back();
  const auto size = std::filesystem::file_size(wal);
  REQUIRE(size > 4096);
  flip_bytes(wal, size / 2, 8);
  auto reopened = open_rocksdb_store(config_for(dir.path()));
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.error().code == Errc::corrupt);
}

TEST_CASE("a torn last WAL record, as a power cut leaves it, opens with the records before it",
          "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_store(unflushed_config_for(dir.path()));
    for (int i = 0; i < 10; ++i) append_events(*store, 50);
  }
  // The last sync got through sequence 400; the power cut took part of the
  // last append, which was never synced.
  mark_unclean(dir.path(), eventlog::DurabilityMark::State::open_process, 400);
  const auto wal = files_named(dir.path(), ".log").back();
  std::filesystem::resize_file(wal, std::filesystem::file_size(wal) - 100);
  auto store = open_store(config_for(dir.path()));
  CHECK(store->next_sequence() == 451);  // the last append of 50 is gone
  CHECK(read_all(*store).size() == 450);
}

TEST_CASE("a damaged CURRENT or MANIFEST refuses to open", "[eventlog][durability]") {
  for (const std::string kind : {"CURRENT", "MANIFEST"}) {
    DYNAMIC_SECTION(kind) {
      eventlog_test::TempDir dir;
      {
        EventLogConfig config = config_for(dir.path());
        config.write_buffer_mb = 1;
        auto store = open_store(config);
        // Tables the MANIFEST lists.
        for (int i = 0; i < 20; ++i) append_events(*store, 1000);
        REQUIRE(eventlog::flush_rocksdb_store(*store).ok());
        REQUIRE(eventlog::sync_rocksdb_store(*store).ok());
      }
      if (kind == "CURRENT") {
        std::ofstream(std::filesystem::path(dir.path()) / "CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
      } else {
        std::vector<std::filesystem::path> manifests;
        for (const auto& e : std::filesystem::directory_iterator(dir.path()))
          if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) manifests.push_back(e.path());
        REQUIRE(manifests.size() == 1);
        std::filesystem::resize_file(manifests[0], 103);
      }
      auto reopened = open_rocksdb_store(config_for(dir.path()));
      REQUIRE_FALSE(reopened.ok());
      INFO(reopened.error().detail);
      CHECK((reopened.error().code == Errc::corrupt || reopened.error().code == Errc::io_error));

      // recover rebuilds the MANIFEST from the table files and the WAL.
      auto recovered = recover_rocksdb_store(config_for(dir.path()));
      INFO((recovered.ok() ? std::string() : recovered.error().detail));
      REQUIRE(recovered.ok());
      CHECK(recovered->rebuilt_manifest);
      CHECK(recovered->kept_through == 20'000);
      CHECK(verify_rocksdb_store(config_for(dir.path())).problems.empty());
      auto store = open_store(config_for(dir.path()));
      CHECK(read_all(*store).size() == 20'000);
    }
  }
}

TEST_CASE("verify passes a healthy log and counts what it holds", "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_store(config_for(dir.path()));
    for (int i = 0; i < 5; ++i) append_events(*store, 20);
    const std::vector<std::pair<std::int64_t, std::string>> minutes{{1, "a"}, {2, "b"}};
    REQUIRE(store->put_minutes(minutes).ok());
    REQUIRE(store->put_checkpoint("window_engine", Checkpoint{100, "state"}).ok());
  }
  const VerifyReport report = verify_rocksdb_store(config_for(dir.path()));
  INFO((report.problems.empty() ? std::string() : report.problems.front()));
  CHECK(report.problems.empty());
  CHECK(report.opened);
  CHECK(report.first_sequence == 1);
  CHECK(report.last_sequence == 100);
  CHECK(report.blocks == 5);
  CHECK(report.events == 100);
  CHECK(report.checkpoints == 1);
  CHECK(report.rollup_minutes == 2);
  CHECK(report.synced_through == 100);
}

TEST_CASE("recover keeps the log before a damaged WAL record, says what it dropped and starts a new incarnation",
          "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  std::uint64_t before = 0;
  std::vector<LogRecord> written;
  {
    auto store = open_store(unflushed_config_for(dir.path()));
    before = store->incarnation();
    for (int i = 0; i < 40; ++i) {
      auto records = make_records(store->next_sequence(), 50, 1'000'000);
      const auto entries = i == 0 ? fixture_dictionary() : std::vector<DictionaryEntry>{};
      REQUIRE(store->append(AppendBatch{records, entries}).ok());
      written.insert(written.end(), records.begin(), records.end());
    }
    REQUIRE(store->put_checkpoint("window_engine", Checkpoint{2000, "state"}).ok());
  }
  const auto wal = files_named(dir.path(), ".log").back();
  flip_bytes(wal, std::filesystem::file_size(wal) / 2, 8);

  REQUIRE_FALSE(open_rocksdb_store(config_for(dir.path())).ok());
  const VerifyReport damaged = verify_rocksdb_store(config_for(dir.path()));
  CHECK_FALSE(damaged.problems.empty());

  auto recovered = recover_rocksdb_store(config_for(dir.path()));
  INFO((recovered.ok() ? std::string() : recovered.error().detail));
  REQUIRE(recovered.ok());
  const RecoverReport& r = *recovered;
  CHECK(r.kept_through > 0);
  CHECK(r.kept_through < 2000);
  CHECK(r.dropped_from == r.kept_through + 1);
  CHECK(r.dropped_through == 2000);
  CHECK(r.old_incarnation == before);
  CHECK(r.new_incarnation != before);
  CHECK(r.dropped_checkpoints == 1);

  const VerifyReport after = verify_rocksdb_store(config_for(dir.path()));
  INFO((after.problems.empty() ? std::string() : after.problems.front()));
  CHECK(after.problems.empty());
  auto store = open_store(config_for(dir.path()));
  CHECK(store->next_sequence() == r.kept_through + 1);
  CHECK(store->incarnation() == r.new_incarnation);
  CHECK(store->still_names_same_event(before, r.kept_through));
  CHECK_FALSE(store->still_names_same_event(before, r.kept_through + 1));
  const auto kept = read_all(*store);
  REQUIRE(kept.size() == r.kept_through);
  for (std::size_t i = 0; i < kept.size(); ++i) REQUIRE(eventlog_test::same_record(kept[i], written[i]));
}

TEST_CASE("a damaged checkpoint is refused as corrupt, so its owner replays the log", "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_store(config_for(dir.path()));
    REQUIRE(store->put_checkpoint("recommender", Checkpoint{0, "state"}).ok());
    auto good = store->get_checkpoint("recommender");
    REQUIRE(good.ok());
    REQUIRE(good->has_value());
    // Same length as the sealed value, one byte different.
    std::string damaged = std::string(8, '\0') + "stbte" + std::string(8, '\1');
    REQUIRE(eventlog::put_raw(*store, "checkpoints", "recommender", damaged).ok());
    auto bad = store->get_checkpoint("recommender");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == Errc::corrupt);
  }
  const VerifyReport report = verify_rocksdb_store(config_for(dir.path()));
  REQUIRE(report.problems.size() == 1);
  CHECK(report.problems[0].find("checkpoint 'recommender' fails its checksum") != std::string::npos);
}

namespace {
// Bytes that differ from part to part and from one call to the next.
std::string checkpoint_state(char fill, std::size_t bytes) {
  std::string s(bytes, fill);
  for (std::size_t i = 0; i < s.size(); i += 4093) s[i] = static_cast<char>(i / 4093);
  return s;
}
std::size_t checkpoint_keys(Storage& store) {
  auto keys = eventlog::raw_keys(store, "checkpoints");
  REQUIRE(keys.ok());
  return keys->size();
}
}  // namespace

TEST_CASE("a large checkpoint is kept in parts: a shorter one drops the parts it no longer has, and one written "
          "whole by an earlier version still reads",
          "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  auto store = open_store(config_for(dir.path()));
  append_events(*store, 20);
  const std::size_t part = eventlog::kCheckpointPartBytes;
  // 3 parts, then 2, then 1 written whole through the memtable, then 3 again.
  const std::vector<std::pair<std::size_t, std::size_t>> writes{
      {2 * part + 5, 1 + 3}, {part + 1, 1 + 2}, {1000, 1}, {3 * part, 1 + 3}};
  char fill = 'a';
  for (const auto& [bytes, keys] : writes) {
    INFO("checkpoint of " << bytes << " bytes");
    const std::string state = checkpoint_state(fill++, bytes);
    REQUIRE(store->put_checkpoint("recommender", Checkpoint{20, state, store->incarnation()}).ok());
    CHECK(checkpoint_keys(*store) == keys);
    auto got = store->get_checkpoint("recommender");
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->covers_through == 20);
    CHECK((*got)->incarnation == store->incarnation());
    CHECK((*got)->bytes == state);
  }
  // A data dir of an earlier version holds a large checkpoint as one value.
  const std::string whole = checkpoint_state('w', part + 7);
  REQUIRE(eventlog::put_raw(*store, "checkpoints", "window_engine",
                            eventlog::seal(eventlog::encode_checkpoint(Checkpoint{19, whole, 0})))
              .ok());
  auto old = store->get_checkpoint("window_engine");
  REQUIRE(old.ok());
  REQUIRE(old->has_value());
  CHECK((*old)->covers_through == 19);
  CHECK((*old)->bytes == whole);
  const VerifyReport report = [&] {
    store.reset();
    return verify_rocksdb_store(config_for(dir.path()));
  }();
  INFO((report.problems.empty() ? std::string() : report.problems.front()));
  CHECK(report.problems.empty());
  CHECK(report.checkpoints == 2);
}

TEST_CASE("a damaged or missing part of a checkpoint is refused as corrupt, verify names the part, and recover "
          "drops the checkpoint with its parts",
          "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  const std::size_t part = eventlog::kCheckpointPartBytes;
  const bool missing = GENERATE(false, true);
  INFO((missing ? "a part deleted" : "a part damaged"));
  {
    auto store = open_store(config_for(dir.path()));
    append_events(*store, 20);
    REQUIRE(store->put_checkpoint("recommender", Checkpoint{20, checkpoint_state('r', 2 * part + 3), 0}).ok());
    REQUIRE(store->put_checkpoint("window_engine", Checkpoint{20, checkpoint_state('e', part), 0}).ok());
    REQUIRE(checkpoint_keys(*store) == 1 + 3 + 1 + 1);
    const std::string key = eventlog::checkpoint_part_key("recommender", 1);
    if (missing) REQUIRE(eventlog::delete_raw(*store, "checkpoints", key).ok());
    else REQUIRE(eventlog::put_raw(*store, "checkpoints", key, std::string(part + 8, 'x')).ok());
    auto bad = store->get_checkpoint("recommender");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == Errc::corrupt);
    CHECK_THAT(bad.error().detail, Catch::Contains(missing ? "checkpoint 'recommender' part 2 of 3 is missing"
                                                           : "checkpoint 'recommender' part 2 of 3 fails its checksum"));
    auto good = store->get_checkpoint("window_engine");
    REQUIRE(good.ok());
    CHECK(good->has_value());
  }
  const VerifyReport report = verify_rocksdb_store(config_for(dir.path()));
  REQUIRE(report.problems.size() == 1);
  CHECK_THAT(report.problems[0], Catch::Contains("checkpoint 'recommender' part 2 of 3"));
  CHECK(report.checkpoints == 2);

  auto recovered = recover_rocksdb_store(config_for(dir.path()));
  REQUIRE(recovered.ok());
  CHECK(recovered->dropped_checkpoints == 1);
  const VerifyReport after = verify_rocksdb_store(config_for(dir.path()));
  INFO((after.problems.empty() ? std::string() : after.problems.front()));
  CHECK(after.problems.empty());
  CHECK(after.checkpoints == 1);
  auto store = open_store(config_for(dir.path()));
  // The damaged checkpoint's head and every one of its parts are gone; the
  // other checkpoint stays.
  CHECK(checkpoint_keys(*store) == 1 + 1);
  auto gone = store->get_checkpoint("recommender");
  REQUIRE(gone.ok());
  CHECK_FALSE(gone->has_value());
  auto kept = store->get_checkpoint("window_engine");
  REQUIRE(kept.ok());
  REQUIRE(kept->has_value());
  CHECK((*kept)->bytes == checkpoint_state('e', part));
}

TEST_CASE("a damaged rollup minute is dropped at open with every checkpoint, so the log rebuilds both",
          "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_store(config_for(dir.path()));
    const std::vector<std::pair<std::int64_t, std::string>> minutes{{1, "a"}, {2, "b"}};
    REQUIRE(store->put_minutes(minutes).ok());
    REQUIRE(store->put_checkpoint("window_engine", Checkpoint{0, "state"}).ok());
    REQUIRE(eventlog::put_raw(*store, "rollups", eventlog::minute_key(2), "not sealed at all").ok());
    std::vector<std::int64_t> seen;
    CHECK_FALSE(store->scan_minutes(0, 10, [&](std::int64_t m, std::string_view) { seen.push_back(m); }).ok());
  }
  CHECK(verify_rocksdb_store(config_for(dir.path())).problems.size() == 1);
  auto store = open_store(config_for(dir.path()));
  std::vector<std::int64_t> seen;
  REQUIRE(store->scan_minutes(0, 10, [&](std::int64_t m, std::string_view) { seen.push_back(m); }).ok());
  CHECK(seen == std::vector<std::int64_t>{1});
  auto checkpoint = store->get_checkpoint("window_engine");
  REQUIRE(checkpoint.ok());
  CHECK_FALSE(checkpoint->has_value());
}

namespace {

// A log of 20,000 events flushed into table files (1 MiB memtables), closed.
EventLogConfig write_table_files(const std::string& dir) {
  EventLogConfig config = config_for(dir);
  config.write_buffer_mb = 1;
  auto store = open_store(config);
  for (int i = 0; i < 20; ++i) append_events(*store, 1000);
  REQUIRE(eventlog::flush_rocksdb_store(*store).ok());
  return config;
}

}  // namespace

TEST_CASE("a damaged table file is found by verify", "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  write_table_files(dir.path());
  const auto tables = files_named(dir.path(), ".sst");
  REQUIRE_FALSE(tables.empty());
  flip_bytes(tables.front(), std::filesystem::file_size(tables.front()) / 3, 16);
  const VerifyReport report = verify_rocksdb_store(config_for(dir.path()));
  REQUIRE_FALSE(report.problems.empty());
  INFO(report.problems.front());
  CHECK(report.problems.front().find("table checksums") != std::string::npos);
}

TEST_CASE("the background scrub finds a damaged table file the open never read, and a sound one passes",
          "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  EventLogConfig config = write_table_files(dir.path());
  {
    auto sound = open_store(config);  // the default interval: one scrub right after open
    REQUIRE(shoppulse::testing::eventually([&] { return sound->stats().scrubs >= 1; }));
    const EventLogStats stats = sound->stats();
    CHECK(stats.damage.empty());
    CHECK(stats.scrubbed_table_files >= 1);
  }
  const auto tables = files_named(dir.path(), ".sst");
  REQUIRE_FALSE(tables.empty());
  flip_bytes(tables.front(), std::filesystem::file_size(tables.front()) / 3, 16);
  auto store = open_store(config);  // opens: table files are read on demand
  REQUIRE(shoppulse::testing::eventually([&] { return store->stats().scrubs >= 1; }));
  const EventLogStats stats = store->stats();
  INFO(stats.damage);
  CHECK(stats.damage.find("is damaged") != std::string::npos);
  CHECK(stats.damage.find("recover --to-last-good") != std::string::npos);
  CHECK(stats.damage.find(dir.path()) == std::string::npos);  // no path, only the file's name

  config.scrub_interval_ms = 0;  // off: nothing is checked
  store.reset();
  auto unscrubbed = open_store(config);
  CHECK(unscrubbed->stats().scrubs == 0);
  CHECK(unscrubbed->stats().damage.empty());
}

TEST_CASE("checkpoints record their incarnation, and one that outlived lost events is refused or cut back",
          "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  std::uint64_t first = 0;
  {
    auto store = open_store(config_for(dir.path()));
    first = store->incarnation();
    append_events(*store, 10);
    // Stored with the log and read back: the incarnation goes with it.
    REQUIRE(store->put_checkpoint("c", Checkpoint{10, "state", first}));
    auto back = store->get_checkpoint("c");
    REQUIRE(back);
    REQUIRE(back->has_value());
    CHECK((*back)->covers_through == 10);
    CHECK((*back)->bytes == "state");
    CHECK((*back)->incarnation == first);
    CHECK_FALSE(checkpoint_outdated(*store, **back));
  }
  mark_unclean(dir.path(), eventlog::DurabilityMark::State::open_process);
  auto store = open_store(config_for(dir.path()));
  REQUIRE(store->incarnation() != first);
  append_events(*store, 5);  // 11..15 under the new incarnation

  // Taken under the first incarnation through 10: all of it was kept.
  const Checkpoint kept{10, {}, first};
  CHECK_FALSE(checkpoint_outdated(*store, kept));
  CHECK(checkpoint_still_holds_through(*store, kept) == 10);
  // Through 13 (the old incarnation had 11..13 and lost them): 11..13 now
  // name other events.
  const Checkpoint lost{13, {}, first};
  CHECK(checkpoint_outdated(*store, lost));
  CHECK(checkpoint_still_holds_through(*store, lost) == 10);
  // Beyond the log's end, whatever the incarnation.
  const Checkpoint beyond{20, {}, store->incarnation()};
  CHECK(checkpoint_outdated(*store, beyond));
  CHECK(checkpoint_still_holds_through(*store, beyond) == 15);
  // An incarnation the log never had vouches for nothing.
  CHECK(checkpoint_still_holds_through(*store, Checkpoint{12, {}, 0x1234}) == 0);
  // Written before incarnations were recorded: trusted as far as the log goes.
  const Checkpoint unknown{12, {}, 0};
  CHECK_FALSE(checkpoint_outdated(*store, unknown));
  CHECK(checkpoint_still_holds_through(*store, unknown) == 12);
}

TEST_CASE("a checkpoint value written before incarnations were recorded still reads", "[eventlog][durability]") {
  const std::string legacy = std::string("\0\0\0\0\0\0\0\x2a", 8) + "bytes";
  auto old = eventlog::decode_checkpoint(legacy);
  REQUIRE(old);
  CHECK(old->covers_through == 42);
  CHECK(old->bytes == "bytes");
  CHECK(old->incarnation == 0);
  auto round = eventlog::decode_checkpoint(eventlog::encode_checkpoint(Checkpoint{42, "bytes", 0xabcdef}));
  REQUIRE(round);
  CHECK(round->covers_through == 42);
  CHECK(round->bytes == "bytes");
  CHECK(round->incarnation == 0xabcdef);
  CHECK(eventlog::encode_checkpoint(Checkpoint{42, "bytes", 0}) == legacy);
  CHECK_FALSE(eventlog::decode_checkpoint(std::string("\x80\0\0\0\0\0\0\x2a", 8)));  // flag without incarnation
}

TEST_CASE("a clean close writes the memtables out, so the next open replays no WAL", "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  const auto wal_bytes = [&] {
    std::uintmax_t n = 0;
    for (const auto& wal : files_named(dir.path(), ".log")) n += std::filesystem::file_size(wal);
    return n;
  };
  {
    auto store = open_store(config_for(dir.path()));
    for (int i = 0; i < 20; ++i) append_events(*store, 100);
    REQUIRE(wal_bytes() > 4096);  // the appends are in the WAL while it is open
  }
  CHECK(wal_bytes() < 512);  // at most an empty WAL's header remains
  auto store = open_store(config_for(dir.path()));
  CHECK(store->next_sequence() == 2001);
  CHECK(read_all(*store).size() == 2000);
}

TEST_CASE("a durability mark that meets a full disk says disk full, as the log's writes do", "[eventlog][durability]") {
  eventlog_test::TempDir dir;
  if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=64k") != 0) {
    WARN("SKIPPED: mounting a tmpfs needs root (CI runs as root); the full-disk mark test did not run");
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{dir.path()};
  {
    std::ofstream filler(dir.path() + "/filler", std::ios::binary);
    const std::string block(4096, 'x');
    for (int i = 0; i < 64 && filler.write(block.data(), static_cast<std::streamsize>(block.size())); ++i) {
    }
  }
  eventlog::DurabilityMark mark;
  mark.incarnation = 7;
  mark.state = eventlog::DurabilityMark::State::open_fsync;
  // The past incarnations make the file larger than any space left.
  for (std::size_t i = 0; i < eventlog::DurabilityMark::kKeepPast; ++i) mark.past.push_back({i + 1, i * 10});
  const auto written = eventlog::write_durability_mark(dir.path(), mark);
  REQUIRE_FALSE(written.ok());
  CHECK(written.error().code == Errc::no_space);
  CHECK(written.error().detail.find("disk full") != std::string::npos);
  CHECK(written.error().detail.find(dir.path()) == std::string::npos);  // no path for a client
}
