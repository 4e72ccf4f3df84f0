#include "shoppulse/eventlog/rocksdb_store.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <system_error>

#include "block_codec.hpp"
#include "store_keys.hpp"

namespace shoppulse {
namespace {

namespace rdb = ROCKSDB_NAMESPACE;
using eventlog::BlockSummary;

constexpr std::size_t kMiB = 1024 * 1024;
// RocksDB's informational LOG files rotate on every open; keep a few for
// diagnosis instead of letting them pile up in the data directory.
constexpr std::size_t kKeepInfoLogFiles = 4;
// An encode buffer larger than this is released after its append.
constexpr std::size_t kKeepBlockBuffer = 64 * kMiB;

// Column families, in the order their handles are kept. RocksDB requires the
// default family to be opened; nothing is stored in it.
enum Family : std::size_t { kDefault, kEvents, kDictionary, kRollups, kCheckpoints, kMeta, kFamilyCount };
constexpr const char* kFamilyNames[kFamilyCount] = {
    "default", "events", "dictionary", "rollups", "checkpoints", "meta"};

// Meta keys. The block index ("block/" + big-endian first sequence) holds
// each block's summary so opening a large log reads a few bytes per block
// instead of every block. "dropped_through" remembers the last sequence that
// retention removed, so sequences are never reused even when retention
// empties the log.
constexpr std::string_view kFormatKey = "format_version";
constexpr std::string_view kFormatVersion = "1";
constexpr std::string_view kDroppedThroughKey = "dropped_through";

std::string_view view(const rdb::Slice& slice) { return {slice.data(), slice.size()}; }

Error io_error(std::string_view what, const rdb::Status& status) {
  return make_error(Errc::io_error, std::string(what) + ": " + status.ToString());
}

Error corrupt(std::string what) { return make_error(Errc::corrupt, "event log: " + std::move(what)); }

rdb::CompressionType pick_compression() {
  // Debian's librocksdb is built with LZ4; fall back to none rather than
  // fail to open where it is not.
  const auto supported = rdb::GetSupportedCompressions();
  const bool has_lz4 = std::find(supported.begin(), supported.end(), rdb::kLZ4Compression) != supported.end();
  return has_lz4 ? rdb::kLZ4Compression : rdb::kNoCompression;
}

// The embedded Storage: one RocksDB database, one column family per kind of
// data (see kFamilyNames). Blocks are encoded by block_codec.
// Lifecycle: made by open_rocksdb_store, which recovers the in-memory block
// index; destroying it closes the database (and releases the directory lock),
// so every reader must have returned first.
// Threading: append() and apply_retention() from one writer thread; read(),
// stats(), load_dictionary(), scans and gets from any thread. RocksDB is safe
// for concurrent use; mutex_ guards only the in-memory block index.
class RocksDbStore final : public Storage {
 public:
  static Result<std::unique_ptr<Storage>> open(const EventLogConfig& config);

  ~RocksDbStore() override {
    for (rdb::ColumnFamilyHandle* handle : families_) {
      // Deliberately ignored: nothing useful can be done about a failure
      // while closing, and the WAL already holds every acknowledged write.
      (void)db_->DestroyColumnFamilyHandle(handle);
    }
    (void)db_->Close();
  }

  Result<void> append(const AppendBatch& batch) override;
  Sequence next_sequence() const override { return next_sequence_.load(std::memory_order_acquire); }
  Result<void> read(Sequence from,
                    const std::function<bool(std::span<const LogRecord>)>& fn) const override;
  Result<std::vector<DictionaryEntry>> load_dictionary() const override;
  Result<std::vector<SourceOffset>> load_source_offsets() const override;
  EventLogStats stats() const override;
  Result<std::uint64_t> apply_retention(TimestampMs now, std::int64_t max_age_ms,
                                        std::uint64_t max_bytes) override;

  Result<void> put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) override;
  Result<void> scan_minutes(std::int64_t from_minute, std::int64_t to_minute,
                            const std::function<void(std::int64_t, std::string_view)>& fn) const override;
  Result<void> drop_minutes_before(std::int64_t before_minute) override;

  Result<void> put_checkpoint(std::string_view name, const Checkpoint& checkpoint) override;
  Result<std::optional<Checkpoint>> get_checkpoint(std::string_view name) const override;

 private:
  RocksDbStore(std::unique_ptr<rdb::DB> db, std::vector<rdb::ColumnFamilyHandle*> families,
               Durability durability)
      : db_(std::move(db)), families_(std::move(families)) {
    write_options_.disableWAL = false;
    // fsync per append is group commit: callers put many events in one append.
    write_options_.sync = durability == Durability::fsync;
  }

  rdb::ColumnFamilyHandle* family(Family which) const { return families_[which]; }
  Result<void> write(rdb::WriteBatch& batch, std::string_view what);
  Result<void> recover();
  Result<void> recover_format();
  Result<void> recover_block_index();
  Result<Sequence> recover_dropped_through();

  std::unique_ptr<rdb::DB> db_;
  std::vector<rdb::ColumnFamilyHandle*> families_;  // indexed by Family
  rdb::WriteOptions write_options_;
  std::atomic<Sequence> next_sequence_{1};
  std::string block_buffer_;  // writer thread only: the block being appended

  // The retained blocks, oldest first, and the sum of their bytes. Only the
  // writer thread changes them (under the lock); readers lock to copy.
  mutable std::mutex mutex_;
  std::deque<BlockSummary> blocks_;
  std::uint64_t block_bytes_ = 0;
};

Result<std::unique_ptr<Storage>> RocksDbStore::open(const EventLogConfig& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return make_error(Errc::io_error, "create event log directory '" + config.data_dir + "': " + ec.message());
  }

  rdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.keep_log_file_num = kKeepInfoLogFiles;

  rdb::BlockBasedTableOptions table_options;
  if (config.block_cache_mb == 0) {
    table_options.no_block_cache = true;
  } else {
    // One cache shared by every family, so the configured size is the total.
    table_options.block_cache = rdb::NewLRUCache(config.block_cache_mb * kMiB);
  }
  rdb::ColumnFamilyOptions family_options;
  family_options.write_buffer_size = std::max<std::size_t>(config.write_buffer_mb, 1) * kMiB;
  family_options.compression = pick_compression();
  family_options.table_factory.reset(rdb::NewBlockBasedTableFactory(table_options));

  std::vector<rdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kFamilyNames) descriptors.emplace_back(name, family_options);

  std::vector<rdb::ColumnFamilyHandle*> handles;
  rdb::DB* raw_db = nullptr;
  const rdb::Status status = rdb::DB::Open(db_options, config.data_dir, descriptors, &handles, &raw_db);
  if (!status.ok()) return io_error("open event log at '" + config.data_dir + "'", status);

  std::unique_ptr<RocksDbStore> store(
      new RocksDbStore(std::unique_ptr<rdb::DB>(raw_db), std::move(handles), config.durability));
  if (auto recovered = store->recover(); !recovered) return std::move(recovered).error();
  return std::unique_ptr<Storage>(std::move(store));
}

Result<void> RocksDbStore::recover() {
  if (auto ok = recover_format(); !ok) return ok;
  if (auto ok = recover_block_index(); !ok) return ok;
  auto dropped_through = recover_dropped_through();
  if (!dropped_through) return std::move(dropped_through).error();

  // The newest block is the authority on the next sequence; the index must
  // agree with it because both are written in the same batch.
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(kEvents)));
  it->SeekToLast();
  if (!it->status().ok()) return io_error("read newest event block", it->status());
  Sequence next = std::max<Sequence>(*dropped_through + 1, 1);
  if (it->Valid()) {
    auto header = eventlog::decode_block_header(view(it->value()));
    if (!header) return std::move(header).error();
    if (blocks_.empty() || blocks_.back().first != header->first_sequence ||
        blocks_.back().last != header->last_sequence()) {
      return corrupt("block index disagrees with the newest block");
    }
    next = std::max(next, header->last_sequence() + 1);
  } else if (!blocks_.empty()) {
    return corrupt("block index lists blocks but the events are missing");
  }
  next_sequence_.store(next, std::memory_order_release);
  return {};
}

Result<void> RocksDbStore::recover_format() {
  std::string version;
  const rdb::Status status = db_->Get(rdb::ReadOptions(), family(kMeta), kFormatKey, &version);
  if (status.IsNotFound()) {
    const rdb::Status put = db_->Put(write_options_, family(kMeta), kFormatKey, kFormatVersion);
    if (!put.ok()) return io_error("write event log format version", put);
    return {};
  }
  if (!status.ok()) return io_error("read event log format version", status);
  if (version != kFormatVersion) return corrupt("unsupported format version '" + version + "'");
  return {};
}

Result<void> RocksDbStore::recover_block_index() {
  const std::string prefix(eventlog::kBlockIndexPrefix);
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(kMeta)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto summary = eventlog::decode_block_summary(view(it->key()), view(it->value()));
    if (!summary) return std::move(summary).error();
    if (!blocks_.empty() && summary->first != blocks_.back().last + 1) {
      return corrupt("gap in block index before sequence " + std::to_string(summary->first));
    }
    block_bytes_ += summary->bytes;
    blocks_.push_back(*summary);
  }
  if (!it->status().ok()) return io_error("read block index", it->status());
  return {};
}

Result<Sequence> RocksDbStore::recover_dropped_through() {
  std::string value;
  const rdb::Status status = db_->Get(rdb::ReadOptions(), family(kMeta), kDroppedThroughKey, &value);
  if (status.IsNotFound()) return Sequence{0};
  if (!status.ok()) return io_error("read retention mark", status);
  if (value.size() != 8) return corrupt("retention mark has " + std::to_string(value.size()) + " bytes");
  return eventlog::get_be64(value);
}

Result<void> RocksDbStore::write(rdb::WriteBatch& batch, std::string_view what) {
  const rdb::Status status = db_->Write(write_options_, &batch);
  if (!status.ok()) return io_error(what, status);
  return {};
}

Result<void> RocksDbStore::append(const AppendBatch& batch) {
  if (batch.records.empty() && batch.new_entries.empty() && batch.source_offsets.empty()) return {};
  const Sequence expected = next_sequence();
  if (!batch.records.empty() && batch.records.front().event.sequence != expected) {
    return make_error(Errc::invalid_argument,
                      "append starts at sequence " + std::to_string(batch.records.front().event.sequence) +
                          ", expected " + std::to_string(expected));
  }

  // The block is encoded first so the write batch can be sized once: a
  // group commit is megabytes, and growing the batch by doubling would copy
  // it several times. block_buffer_ keeps its capacity between appends.
  std::size_t reserve = 256;
  if (!batch.records.empty()) {
    if (auto encoded = eventlog::encode_block_into(batch.records, block_buffer_); !encoded) return encoded;
    reserve += block_buffer_.size();
  }
  for (const DictionaryEntry& entry : batch.new_entries) reserve += entry.value.size() + 32;
  for (const SourceOffset& offset : batch.source_offsets) reserve += offset.source.size() + 32;
  rdb::WriteBatch write_batch(reserve);
  for (const SourceOffset& offset : batch.source_offsets) {
    const rdb::Status status = write_batch.Put(family(kMeta), eventlog::source_offset_key(offset.source),
                                               eventlog::be64(static_cast<std::uint64_t>(offset.next_offset)));
    if (!status.ok()) return io_error("stage source offset", status);
  }
  for (const DictionaryEntry& entry : batch.new_entries) {
    const rdb::Status status =
        write_batch.Put(family(kDictionary), eventlog::dictionary_key(entry.kind, entry.id), entry.value);
    if (!status.ok()) return io_error("stage dictionary entry", status);
  }

  std::optional<BlockSummary> summary;
  if (!batch.records.empty()) {
    const std::string key = eventlog::sequence_key(expected);
    summary = eventlog::summarize_block(expected, batch.records, key.size() + block_buffer_.size());
    rdb::Status status = write_batch.Put(family(kEvents), key, block_buffer_);
    if (status.ok()) {
      status = write_batch.Put(family(kMeta), eventlog::block_index_key(summary->first),
                               eventlog::encode_block_summary(*summary));
    }
    if (!status.ok()) return io_error("stage event block", status);
  }

  auto written = write(write_batch, "append events");
  // One huge append (a very large batch) need not pin its buffer for good.
  if (block_buffer_.capacity() > kKeepBlockBuffer) std::string().swap(block_buffer_);
  if (!written) return written;

  if (summary) {
    std::lock_guard lock(mutex_);
    blocks_.push_back(*summary);
    block_bytes_ += summary->bytes;
    next_sequence_.store(summary->last + 1, std::memory_order_release);
  }
  return {};
}

Result<void> RocksDbStore::read(Sequence from,
                                const std::function<bool(std::span<const LogRecord>)>& fn) const {
  // The iterator reads one implicit snapshot, so a concurrent append or
  // retention never shows a torn state.
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(kEvents)));
  it->SeekForPrev(eventlog::sequence_key(from));
  if (!it->Valid()) {
    if (!it->status().ok()) return io_error("read events", it->status());
    it->SeekToFirst();  // from precedes every retained block
  }

  std::vector<LogRecord> records;
  for (; it->Valid(); it->Next()) {
    auto header = eventlog::decode_block(view(it->value()), records);
    if (!header) return std::move(header).error();
    if (it->key().size() != 8 || eventlog::get_be64(view(it->key())) != header->first_sequence) {
      return corrupt("block key disagrees with block at sequence " + std::to_string(header->first_sequence));
    }
    const std::uint64_t skip =
        from > header->first_sequence ? std::min(from - header->first_sequence, header->count) : 0;
    if (skip == header->count) continue;
    if (!fn(std::span<const LogRecord>(records).subspan(skip))) return {};
  }
  if (!it->status().ok()) return io_error("read events", it->status());
  return {};
}

Result<std::vector<SourceOffset>> RocksDbStore::load_source_offsets() const {
  std::vector<SourceOffset> offsets;
  const std::string prefix(eventlog::kSourceOffsetPrefix);
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(kMeta)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() != 8) return corrupt("source offset of " + it->key().ToString() + " is not 8 bytes");
    offsets.push_back({it->key().ToString().substr(prefix.size()),
                       static_cast<std::int64_t>(eventlog::get_be64(view(it->value())))});
  }
  if (!it->status().ok()) return io_error("read source offsets", it->status());
  return offsets;
}

Result<std::vector<DictionaryEntry>> RocksDbStore::load_dictionary() const {
  std::vector<DictionaryEntry> entries;
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(kDictionary)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto entry = eventlog::decode_dictionary_key(view(it->key()));
    if (!entry) return std::move(entry).error();
    entry->value.assign(view(it->value()));
    entries.push_back(std::move(*entry));
  }
  if (!it->status().ok()) return io_error("read dictionary", it->status());
  return entries;
}

EventLogStats RocksDbStore::stats() const {
  EventLogStats stats;
  {
    std::lock_guard lock(mutex_);
    if (!blocks_.empty()) {
      stats.first_sequence = blocks_.front().first;
      stats.last_sequence = blocks_.back().last;
    }
    stats.blocks = blocks_.size();
  }
  // RocksDB keeps these as counters, so the call is cheap. Failure to read
  // one only makes the estimate lower, which stats tolerate.
  for (rdb::ColumnFamilyHandle* handle : families_) {
    std::uint64_t value = 0;
    if (db_->GetIntProperty(handle, rdb::DB::Properties::kTotalSstFilesSize, &value)) stats.bytes += value;
    if (db_->GetIntProperty(handle, rdb::DB::Properties::kCurSizeAllMemTables, &value)) stats.bytes += value;
  }
  return stats;
}

Result<std::uint64_t> RocksDbStore::apply_retention(TimestampMs now, std::int64_t max_age_ms,
                                                    std::uint64_t max_bytes) {
  // Only this (writer) thread changes blocks_, so reading it unlocked is safe
  // and the plan stays valid until we apply it below.
  const auto plan = eventlog::plan_retention(blocks_, block_bytes_, now, max_age_ms, max_bytes);
  if (plan.blocks == 0) return std::uint64_t{0};

  const Sequence begin = blocks_.front().first;
  const Sequence end = blocks_[plan.blocks - 1].last + 1;  // exclusive
  rdb::WriteBatch batch;
  rdb::Status status = batch.DeleteRange(family(kEvents), eventlog::sequence_key(begin), eventlog::sequence_key(end));
  if (status.ok()) {
    status = batch.DeleteRange(family(kMeta), eventlog::block_index_key(begin), eventlog::block_index_key(end));
  }
  if (status.ok()) status = batch.Put(family(kMeta), kDroppedThroughKey, eventlog::be64(end - 1));
  if (!status.ok()) return io_error("stage retention", status);
  if (auto written = write(batch, "apply retention"); !written) return std::move(written).error();

  std::lock_guard lock(mutex_);
  blocks_.erase(blocks_.begin(), blocks_.begin() + static_cast<std::ptrdiff_t>(plan.blocks));
  block_bytes_ -= plan.bytes;
  return std::uint64_t{end - begin};
}

Result<void> RocksDbStore::put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) {
  if (minutes.empty()) return {};
  rdb::WriteBatch batch;
  for (const auto& [minute, bytes] : minutes) {
    const rdb::Status status = batch.Put(family(kRollups), eventlog::minute_key(minute), bytes);
    if (!status.ok()) return io_error("stage rollup minute", status);
  }
  return write(batch, "put rollup minutes");
}

Result<void> RocksDbStore::scan_minutes(std::int64_t from_minute, std::int64_t to_minute,
                                        const std::function<void(std::int64_t, std::string_view)>& fn) const {
  if (from_minute >= to_minute) return {};
  const std::string upper = eventlog::minute_key(to_minute);
  const rdb::Slice upper_slice(upper);  // must outlive the iterator
  rdb::ReadOptions options;
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(options, family(kRollups)));
  for (it->Seek(eventlog::minute_key(from_minute)); it->Valid(); it->Next()) {
    auto minute = eventlog::decode_minute_key(view(it->key()));
    if (!minute) return std::move(minute).error();
    fn(*minute, view(it->value()));
  }
  if (!it->status().ok()) return io_error("scan rollup minutes", it->status());
  return {};
}

Result<void> RocksDbStore::drop_minutes_before(std::int64_t before_minute) {
  const std::string begin = eventlog::minute_key(std::numeric_limits<std::int64_t>::min());
  const std::string end = eventlog::minute_key(before_minute);
  if (begin == end) return {};
  const rdb::Status status = db_->DeleteRange(write_options_, family(kRollups), begin, end);
  if (!status.ok()) return io_error("drop rollup minutes", status);
  return {};
}

Result<void> RocksDbStore::put_checkpoint(std::string_view name, const Checkpoint& checkpoint) {
  const rdb::Status status = db_->Put(write_options_, family(kCheckpoints), rdb::Slice(name.data(), name.size()),
                                      eventlog::encode_checkpoint(checkpoint));
  if (!status.ok()) return io_error("put checkpoint '" + std::string(name) + "'", status);
  return {};
}

Result<std::optional<Checkpoint>> RocksDbStore::get_checkpoint(std::string_view name) const {
  std::string value;
  const rdb::Status status =
      db_->Get(rdb::ReadOptions(), family(kCheckpoints), rdb::Slice(name.data(), name.size()), &value);
  if (status.IsNotFound()) return std::optional<Checkpoint>();
  if (!status.ok()) return io_error("get checkpoint '" + std::string(name) + "'", status);
  auto checkpoint = eventlog::decode_checkpoint(value);
  if (!checkpoint) return std::move(checkpoint).error();
  return std::optional<Checkpoint>(std::move(*checkpoint));
}

}  // namespace

Result<std::unique_ptr<Storage>> open_rocksdb_store(const EventLogConfig& config) {
  return RocksDbStore::open(config);
}

}  // namespace shoppulse
