// The offline check and repair of a RocksDB data directory: `shoppulse
// verify` and `shoppulse recover --to-last-good`.
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <filesystem>
#include <set>
#include <cstdarg>
#include <limits>
#include <map>
#include <memory>
#include <optional>

#include "block_codec.hpp"
#include "durability_mark.hpp"
#include "rocksdb_layout.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "store_keys.hpp"

namespace shoppulse {
namespace {

using namespace eventlog;

// Drops RocksDB's diagnostics: a read-only check leaves the directory as
// it found it, LOG included.
class SilentLogger final : public rdb::Logger {
 public:
  using rdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

std::string range_text(Sequence from, Sequence through) {
  return from == through ? std::to_string(from) : std::to_string(from) + ".." + std::to_string(through);
}

// An open database with its family handles, closed on destruction.
struct OpenDb {
  std::unique_ptr<rdb::DB> db;
  std::vector<rdb::ColumnFamilyHandle*> families;
  rdb::ColumnFamilyHandle* family(Family which) const { return families[which]; }
  ~OpenDb() {
    if (!db) return;
    for (rdb::ColumnFamilyHandle* handle : families) (void)db->DestroyColumnFamilyHandle(handle);
    (void)db->Close();
  }
};

rdb::Status open_db(const StoreOptions& options, const std::string& dir, bool read_only, OpenDb& out) {
  rdb::DB* raw = nullptr;
  rdb::Status status = read_only
                           ? rdb::DB::OpenForReadOnly(options.db, dir, options.families, &out.families, &raw)
                           : rdb::DB::Open(options.db, dir, options.families, &out.families, &raw);
  if (status.ok()) out.db.reset(raw);
  return status;
}

// The dictionary's usable part: per kind, ids 1..n without a gap.
struct DictionaryWalk {
  std::array<Id, kIdKindCount> contiguous{};  // n per kind
  std::uint64_t entries = 0;
  std::vector<std::string> beyond_gap;  // keys of entries after a gap
  std::uint64_t beyond_gap_ids = 0;     // the ids they hold (an unreadable key counts one)
  std::vector<std::string> problems;
};

DictionaryWalk walk_dictionary(const OpenDb& db) {
  DictionaryWalk walk;
  std::array<bool, kIdKindCount> broken{};
  std::unique_ptr<rdb::Iterator> it(db.db->NewIterator(rdb::ReadOptions(), db.family(kDictionary)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = decode_dictionary_key(view(it->key()));
    std::uint64_t ids = 1;  // what an unreadable key counts for
    if (key) {
      // A run's names must be exactly its ids; an unreadable run is a gap.
      ids = std::uint64_t{key->last} - key->first + 1;
      std::uint64_t names = 0;
      auto each = for_each_dictionary_entry(*key, view(it->value()), [&](Id, std::string_view) { ++names; });
      if (each) walk.entries += names;
      else key = std::move(each).error();
    }
    if (!key) {
      walk.problems.push_back("dictionary: " + key.error().detail);
      walk.beyond_gap.emplace_back(view(it->key()));
      walk.beyond_gap_ids += ids;
      continue;
    }
    const auto kind = static_cast<std::size_t>(key->kind);
    if (!broken[kind] && key->first == walk.contiguous[kind] + 1) {
      walk.contiguous[kind] = key->last;
      continue;
    }
    if (!broken[kind]) {
      walk.problems.push_back("dictionary: " + std::string(to_string(key->kind)) + " ids jump from " +
                              std::to_string(walk.contiguous[kind]) + " to " + std::to_string(key->first));
    }
    broken[kind] = true;
    walk.beyond_gap.emplace_back(view(it->key()));
    walk.beyond_gap_ids += std::uint64_t{key->last} - key->first + 1;
  }
  if (!it->status().ok()) walk.problems.push_back("dictionary: unreadable: " + it->status().ToString());
  return walk;
}

// The log's longest consistent prefix and what follows it.
struct LogWalk {
  Sequence dropped_through = 0;  // retention's mark
  Sequence first = 0, last = 0;  // of the consistent prefix; 0 when empty
  std::uint64_t blocks = 0, events = 0;
  std::vector<BlockSummary> summaries;  // of the prefix
  std::optional<std::string> cut_key;   // first events key not kept
  std::string cut_reason;
  std::uint64_t blocks_after = 0, events_after = 0;  // after the cut, as far as readable
  Sequence last_after = 0;
};

LogWalk walk_log(const OpenDb& db, const DictionaryWalk& dictionary) {
  LogWalk walk;
  std::string value;
  if (db.db->Get(rdb::ReadOptions(), db.family(kMeta), kDroppedThroughKey, &value).ok() && value.size() == 8)
    walk.dropped_through = get_be64(value);

  std::unique_ptr<rdb::Iterator> it(db.db->NewIterator(rdb::ReadOptions(), db.family(kEvents)));
  std::vector<LogRecord> records;
  Sequence expected = walk.dropped_through + 1;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key(view(it->key()));
    if (walk.cut_key) {
      // After the cut: counted, as far as the headers say.
      ++walk.blocks_after;
      if (auto header = decode_block_header(view(it->value())); header) {
        walk.events_after += header->count;
        walk.last_after = std::max(walk.last_after, header->last_sequence());
      }
      continue;
    }
    std::string reason;
    auto header = decode_block(view(it->value()), records);
    if (!header) {
      reason = header.error().detail;
    } else if (key.size() != 8 || get_be64(key) != header->first_sequence) {
      reason = "block key disagrees with block at sequence " + std::to_string(header->first_sequence);
    } else if (walk.blocks == 0 ? header->first_sequence < expected : header->first_sequence != expected) {
      reason = "sequence gap: expected " + std::to_string(expected) + ", block starts at " +
               std::to_string(header->first_sequence);
    } else {
      for (const LogRecord& r : records) {
        const Event& e = r.event;
        const std::array<Id, kIdKindCount> ids{e.user, e.product, e.category, e.device, e.location};
        for (std::size_t k = 0; k < kIdKindCount && reason.empty(); ++k) {
          if (ids[k] > dictionary.contiguous[k])
            reason = "event " + std::to_string(e.sequence) + " uses " +
                     std::string(to_string(static_cast<IdKind>(k))) + " id " + std::to_string(ids[k]) +
                     " missing from the dictionary";
        }
        if (!reason.empty()) break;
      }
    }
    if (!reason.empty()) {
      walk.cut_key = key;
      walk.cut_reason = reason;
      ++walk.blocks_after;
      if (header) {
        walk.events_after += header->count;
        walk.last_after = header->last_sequence();
      }
      continue;
    }
    if (walk.blocks == 0) walk.first = header->first_sequence;
    walk.last = header->last_sequence();
    expected = walk.last + 1;
    ++walk.blocks;
    walk.events += header->count;
    walk.summaries.push_back(summarize_block(header->first_sequence, records, key.size() + it->value().size()));
  }
  if (!it->status().ok() && !walk.cut_key) {
    // Unreadable from here on (a damaged table): the prefix ends before it.
    walk.cut_key = sequence_key(walk.last + 1);
    walk.cut_reason = "unreadable after sequence " + std::to_string(walk.last) + ": " + it->status().ToString();
  }
  return walk;
}

// Compares the block index with the blocks; returns the problems.
std::vector<std::string> check_block_index(const OpenDb& db, const LogWalk& walk) {
  std::vector<std::string> problems;
  std::map<Sequence, BlockSummary> index;
  const std::string prefix(kBlockIndexPrefix);
  std::unique_ptr<rdb::Iterator> it(db.db->NewIterator(rdb::ReadOptions(), db.family(kMeta)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto summary = decode_block_summary(view(it->key()), view(it->value()));
    if (!summary) {
      problems.push_back("block index: " + summary.error().detail);
      continue;
    }
    index[summary->first] = *summary;
  }
  if (!it->status().ok()) problems.push_back("block index: unreadable: " + it->status().ToString());
  std::size_t mismatched = 0;
  for (const BlockSummary& s : walk.summaries) {
    auto found = index.find(s.first);
    if (found == index.end() || found->second.last != s.last) ++mismatched;
    if (found != index.end()) index.erase(found);
  }
  if (mismatched) problems.push_back("block index: " + std::to_string(mismatched) + " blocks missing or different");
  if (!walk.cut_key && !index.empty())
    problems.push_back("block index: " + std::to_string(index.size()) + " entries for blocks that do not exist");
  return problems;
}

}  // namespace

VerifyReport verify_rocksdb_store(const EventLogConfig& config) {
  VerifyReport report;
  auto mark = read_durability_mark(config.data_dir);
  if (!mark) report.problems.push_back(mark.error().detail);
  else if (*mark) {
    report.incarnation = (*mark)->incarnation;
    report.synced_through = (*mark)->synced_through;
  }

  // Read-only: no file is created, replaced or deleted, and the lock of a
  // running server is not needed. The WAL is replayed in memory with the
  // store's own rules, so a damaged record fails here as it fails start-up.
  StoreOptions options = store_options(config, rdb::WALRecoveryMode::kTolerateCorruptedTailRecords);
  options.db.info_log = std::make_shared<SilentLogger>();
  OpenDb db;
  const rdb::Status opened = open_db(options, config.data_dir, true, db);
  if (!opened.ok()) {
    report.problems.push_back("the database does not open: " + opened.ToString());
    return report;
  }
  report.opened = true;

  if (const rdb::Status status = db.db->VerifyChecksum(); !status.ok())
    report.problems.push_back("table checksums: " + status.ToString());

  const DictionaryWalk dictionary = walk_dictionary(db);
  report.dictionary_entries = dictionary.entries;
  report.problems.insert(report.problems.end(), dictionary.problems.begin(), dictionary.problems.end());

  const LogWalk log = walk_log(db, dictionary);
  report.first_sequence = log.first;
  report.last_sequence = log.last;
  report.blocks = log.blocks;
  report.events = log.events;
  if (log.cut_key) {
    report.problems.push_back("log: consistent through sequence " + std::to_string(log.last) + ", then " +
                              log.cut_reason + " (" + std::to_string(log.blocks_after) + " blocks, " +
                              std::to_string(log.events_after) + " events after it)");
  }
  const auto index_problems = check_block_index(db, log);
  report.problems.insert(report.problems.end(), index_problems.begin(), index_problems.end());
  if (report.synced_through > log.last) {
    report.problems.push_back("log: ends at sequence " + std::to_string(log.last) + " but sequences " +
                              range_text(log.last + 1, report.synced_through) + " were synced");
  }

  std::unique_ptr<rdb::Iterator> cp(db.db->NewIterator(rdb::ReadOptions(), db.family(kCheckpoints)));
  for (cp->SeekToFirst(); cp->Valid(); cp->Next()) {
    if (is_checkpoint_part_key(view(cp->key()))) continue;  // read with its head
    ++report.checkpoints;
    const std::string name(view(cp->key()));
    auto checkpoint = read_checkpoint(*db.db, db.family(kCheckpoints), name);
    if (!checkpoint) report.problems.push_back(checkpoint.error().detail);
    else if (*checkpoint && (*checkpoint)->covers_through > log.last)
      report.problems.push_back("checkpoint '" + name + "' covers sequence " +
                                std::to_string((*checkpoint)->covers_through) + ", beyond the log");
  }
  if (!cp->status().ok()) report.problems.push_back("checkpoints: unreadable: " + cp->status().ToString());

  std::uint64_t damaged_minutes = 0;
  std::unique_ptr<rdb::Iterator> ro(db.db->NewIterator(rdb::ReadOptions(), db.family(kRollups)));
  for (ro->SeekToFirst(); ro->Valid(); ro->Next()) {
    ++report.rollup_minutes;
    if (!decode_minute_key(view(ro->key())) || !unseal(view(ro->value()), "rollup minute")) ++damaged_minutes;
  }
  if (!ro->status().ok()) report.problems.push_back("rollups: unreadable: " + ro->status().ToString());
  if (damaged_minutes)
    report.problems.push_back("rollups: " + std::to_string(damaged_minutes) + " minutes fail their checksum");
  return report;
}

Result<RecoverReport> recover_rocksdb_store(const EventLogConfig& config) {
  RecoverReport report;
  auto mark_read = read_durability_mark(config.data_dir);
  DurabilityMark mark;
  bool have_mark = false;
  if (!mark_read) report.notes.push_back(mark_read.error().detail + "; a new mark is written");
  else if (*mark_read) {
    mark = **mark_read;
    have_mark = true;
  }

  // Table files an earlier open may have deleted as unlisted (a damaged
  // MANIFEST lists fewer) come back from their preserved links.
  if (const std::size_t restored = restore_preserved_tables(config.data_dir); restored) {
    report.notes.push_back(std::to_string(restored) + " table files the MANIFEST did not list were put back");
  }

  // First, what the directory holds when damaged records are skipped rather
  // than ending the read (read-only, nothing changes): the repair reports
  // against it what it did not keep.
  Sequence seen_last = 0;
  std::uint64_t seen_events = 0, seen_checkpoints = 0, seen_minutes = 0;
  {
    StoreOptions look = store_options(config, rdb::WALRecoveryMode::kSkipAnyCorruptedRecords);
    look.db.track_and_verify_wals_in_manifest = false;
    look.db.info_log = std::make_shared<SilentLogger>();
    OpenDb seen;
    const rdb::Status looked = open_db(look, config.data_dir, true, seen);
    if (!looked.ok()) {
      report.notes.push_back("the records after the damage could not be read (" + looked.ToString() +
                             "); what they held is not counted");
    } else {
      const LogWalk all = walk_log(seen, walk_dictionary(seen));
      seen_last = std::max(all.last, all.last_after);
      seen_events = all.events + all.events_after;
      for (Family which : {kCheckpoints, kRollups}) {
        std::unique_ptr<rdb::Iterator> it(seen.db->NewIterator(rdb::ReadOptions(), seen.family(which)));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
          if (which == kRollups) ++seen_minutes;
          else if (!is_checkpoint_part_key(view(it->key()))) ++seen_checkpoints;
        }
      }
    }
  }

  // Point-in-time recovery keeps each WAL up to its first bad record, and
  // the WALs are not checked against the MANIFEST: the longest readable
  // prefix, which the walk below then checks block by block.
  StoreOptions options = store_options(config, rdb::WALRecoveryMode::kPointInTimeRecovery);
  options.db.track_and_verify_wals_in_manifest = false;
  // The MANIFEST must list every table file before a writable open, or
  // that open deletes the unlisted ones: when a read-only open fails or
  // leaves table files unlisted, the MANIFEST is rebuilt from the tables.
  bool rebuild = false;
  {
    StoreOptions look = options;
    look.db.info_log = std::make_shared<SilentLogger>();
    OpenDb probe;
    const rdb::Status probed = open_db(look, config.data_dir, true, probe);
    if (!probed.ok()) {
      rebuild = true;
      report.notes.push_back("the database did not open (" + probed.ToString() + ")");
    } else {
      std::vector<rdb::LiveFileMetaData> live;
      probe.db->GetLiveFilesMetaData(&live);
      std::set<std::string> listed;
      for (const auto& f : live) listed.insert(std::filesystem::path(f.name).filename().string());
      std::size_t unlisted = 0;
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(config.data_dir, ec))
        if (entry.path().extension() == ".sst" && !listed.count(entry.path().filename().string())) ++unlisted;
      if (unlisted) {
        rebuild = true;
        report.notes.push_back("the MANIFEST does not list " + std::to_string(unlisted) + " table files");
      }
    }
  }
  if (rebuild) {
    const rdb::Status repaired = rdb::RepairDB(config.data_dir, options.db, options.families);
    if (!repaired.ok()) return make_error(Errc::corrupt, "rebuilding the MANIFEST failed: " + repaired.ToString());
    report.notes.push_back("the MANIFEST was rebuilt from the table files and the write-ahead logs");
    report.rebuilt_manifest = true;
  }

  // A rebuilt MANIFEST lists only the families that had tables.
  options.db.create_missing_column_families = true;
  OpenDb db;
  rdb::Status opened = open_db(options, config.data_dir, false, db);
  if (!opened.ok() && opened.IsCorruption() && !report.rebuilt_manifest) {
    report.notes.push_back("the database did not open (" + opened.ToString() +
                           "); its MANIFEST was rebuilt from the table files");
    const rdb::Status repaired = rdb::RepairDB(config.data_dir, options.db, options.families);
    if (!repaired.ok())
      return make_error(Errc::corrupt, "rebuilding the MANIFEST failed: " + repaired.ToString());
    report.rebuilt_manifest = true;
    opened = open_db(options, config.data_dir, false, db);
  }
  if (!opened.ok()) {
    return make_error(opened.IsCorruption() ? Errc::corrupt : Errc::io_error,
                      "open event log at '" + config.data_dir + "': " + opened.ToString());
  }

  const DictionaryWalk dictionary = walk_dictionary(db);
  const LogWalk log = walk_log(db, dictionary);
  report.kept_through = std::max(log.last, log.dropped_through);
  rdb::WriteBatch batch;
  auto staged = [](const rdb::Status& status) -> Result<void> {
    if (!status.ok()) return make_error(Errc::io_error, "stage repair: " + status.ToString());
    return {};
  };

  for (const std::string& key : dictionary.beyond_gap) {
    if (auto ok = staged(batch.Delete(db.family(kDictionary), key)); !ok) return std::move(ok).error();
  }
  report.dropped_dictionary_entries = dictionary.beyond_gap_ids;
  if (!dictionary.beyond_gap.empty()) {
    // The reverse (name -> id) entries may name dropped ids: they are all
    // dropped, with the marker, and written again at the next start-up with
    // a bound for the ids it leaves on disk.
    const std::string names(kDictionaryNamePrefix);
    const std::string names_end = names.substr(0, names.size() - 1) + static_cast<char>(names.back() + 1);
    if (auto ok = staged(batch.DeleteRange(db.family(kMeta), names, names_end)); !ok) return std::move(ok).error();
    if (auto ok = staged(batch.Delete(db.family(kMeta), kDictionaryNamesThroughKey)); !ok) return std::move(ok).error();
  }
  report.notes.insert(report.notes.end(), dictionary.problems.begin(), dictionary.problems.end());

  const std::string end_key = sequence_key(std::numeric_limits<Sequence>::max());
  if (log.cut_key) {
    report.notes.push_back("log: consistent through sequence " + std::to_string(report.kept_through) + ", then " +
                           log.cut_reason);
    report.dropped_blocks = log.blocks_after;
    report.dropped_events = log.events_after;
    if (auto ok = staged(batch.DeleteRange(db.family(kEvents), *log.cut_key, end_key)); !ok)
      return std::move(ok).error();
    if (log.events_after) {
      report.dropped_from = report.kept_through + 1;
      report.dropped_through = std::max(log.last_after, report.dropped_from);
    }
  }
  // The block index is rewritten for the kept blocks, so it agrees with them.
  if (auto ok = staged(batch.DeleteRange(db.family(kMeta), block_index_key(0),
                                         block_index_key(std::numeric_limits<Sequence>::max())));
      !ok)
    return std::move(ok).error();
  for (const BlockSummary& s : log.summaries) {
    if (auto ok = staged(batch.Put(db.family(kMeta), block_index_key(s.first), encode_block_summary(s))); !ok)
      return std::move(ok).error();
  }

  if (have_mark && mark.synced_through > report.kept_through) {
    report.lost_synced_events = mark.synced_through - report.kept_through;
    report.dropped_from = report.dropped_from ? report.dropped_from : report.kept_through + 1;
    report.dropped_through = std::max(report.dropped_through, mark.synced_through);
    report.notes.push_back("sequences " + range_text(report.kept_through + 1, mark.synced_through) +
                           " were synced once and are missing");
  }

  // Records the WAL replay stopped before: in the directory, not in the log.
  if (seen_last > report.kept_through) {
    const std::uint64_t unreplayed = seen_events > log.events + log.events_after ? seen_events - log.events - log.events_after : 0;
    report.notes.push_back("the write-ahead log is damaged; sequences " + range_text(report.kept_through + 1, seen_last) +
                           " were after its first bad record (" + std::to_string(unreplayed) + " events not replayed)");
    report.dropped_events += unreplayed;
    report.dropped_from = report.dropped_from ? report.dropped_from : report.kept_through + 1;
    report.dropped_through = std::max(report.dropped_through, seen_last);
  }
  std::uint64_t kept_checkpoints = 0, kept_minutes = 0;
  for (Family which : {kCheckpoints, kRollups}) {
    std::unique_ptr<rdb::Iterator> it(db.db->NewIterator(rdb::ReadOptions(), db.family(which)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (which == kRollups) ++kept_minutes;
      else if (!is_checkpoint_part_key(view(it->key()))) ++kept_checkpoints;
    }
  }
  if (seen_checkpoints > kept_checkpoints) report.dropped_checkpoints += seen_checkpoints - kept_checkpoints;
  if (seen_minutes > kept_minutes) report.dropped_rollup_minutes += seen_minutes - kept_minutes;

  const bool lost = report.dropped_events || report.lost_synced_events || report.rebuilt_manifest;
  // Derived state may include what was dropped: all of it goes and is
  // rebuilt from the log at the next start. Otherwise only damaged values go.
  std::unique_ptr<rdb::Iterator> cp(db.db->NewIterator(rdb::ReadOptions(), db.family(kCheckpoints)));
  for (cp->SeekToFirst(); cp->Valid(); cp->Next()) {
    if (is_checkpoint_part_key(view(cp->key()))) {
      // Dropped with its head (below), or, after a loss, with everything.
      if (lost)
        if (auto ok = staged(batch.Delete(db.family(kCheckpoints), cp->key())); !ok) return std::move(ok).error();
      continue;
    }
    const std::string name(view(cp->key()));
    auto checkpoint = read_checkpoint(*db.db, db.family(kCheckpoints), name);
    const bool bad = !checkpoint || !*checkpoint || (*checkpoint)->covers_through > report.kept_through;
    if (!lost && !bad) continue;
    if (!checkpoint) report.notes.push_back(checkpoint.error().detail);
    if (auto ok = staged(batch.Delete(db.family(kCheckpoints), cp->key())); !ok) return std::move(ok).error();
    if (!lost) {
      if (auto ok = staged(batch.DeleteRange(db.family(kCheckpoints), checkpoint_parts_begin(name),
                                             checkpoint_parts_end(name)));
          !ok)
        return std::move(ok).error();
    }
    ++report.dropped_checkpoints;
  }
  std::unique_ptr<rdb::Iterator> ro(db.db->NewIterator(rdb::ReadOptions(), db.family(kRollups)));
  for (ro->SeekToFirst(); ro->Valid(); ro->Next()) {
    const bool bad = !decode_minute_key(view(ro->key())) || !unseal(view(ro->value()), "rollup minute");
    if (!lost && !bad) continue;
    if (auto ok = staged(batch.Delete(db.family(kRollups), ro->key())); !ok) return std::move(ok).error();
    ++report.dropped_rollup_minutes;
  }
  if (report.dropped_rollup_minutes && !lost) {
    // A damaged minute is rewritten only by a replay from the start.
    for (cp->SeekToFirst(); cp->Valid(); cp->Next()) {
      if (auto ok = staged(batch.Delete(db.family(kCheckpoints), cp->key())); !ok) return std::move(ok).error();
      if (!is_checkpoint_part_key(view(cp->key()))) ++report.dropped_checkpoints;
    }
  }

  rdb::WriteOptions sync;
  sync.sync = true;
  if (const rdb::Status written = db.db->Write(sync, &batch); !written.ok())
    return make_error(Errc::io_error, "write repair: " + written.ToString());
  rdb::FlushOptions flush;
  for (rdb::ColumnFamilyHandle* handle : db.families) (void)db.db->Flush(flush, handle);
  // Tables with removed ranges are rewritten, so damaged blocks leave the disk.
  (void)db.db->CompactRange(rdb::CompactRangeOptions(), db.family(kEvents), nullptr, nullptr);

  report.old_incarnation = have_mark ? mark.incarnation : 0;
  report.new_incarnation = report.old_incarnation;
  if (lost || !have_mark) {
    if (have_mark) {
      mark.past.push_back({mark.incarnation, report.kept_through});
      if (mark.past.size() > DurabilityMark::kKeepPast) mark.past.erase(mark.past.begin());
    }
    mark.incarnation = new_incarnation_id();
    report.new_incarnation = mark.incarnation;
  }
  mark.synced_through = report.kept_through;
  mark.state = DurabilityMark::State::closed;
  if (auto written = write_durability_mark(config.data_dir, mark); !written) return std::move(written).error();
  drop_preserved_tables(config.data_dir);
  return report;
}

}  // namespace shoppulse
