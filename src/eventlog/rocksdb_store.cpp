#include "shoppulse/eventlog/rocksdb_store.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/iterator.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <limits>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "block_codec.hpp"
#include "durability_mark.hpp"
#include "rocksdb_layout.hpp"
#include "rocksdb_store_testing.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/steady_time.hpp"
#include "store_keys.hpp"

namespace shoppulse {
namespace {

using namespace eventlog;  // the layout (rocksdb_layout.hpp) and the codecs
using eventlog::BlockSummary;

constexpr std::size_t kMiB = 1024 * 1024;
// RocksDB's informational LOG files rotate on every open; keep a few for
// diagnosis instead of letting them pile up in the data directory.
constexpr std::size_t kKeepInfoLogFiles = 4;
// An encode buffer larger than this is released after its append.
constexpr std::size_t kKeepBlockBuffer = 64 * kMiB;


const Logger kLog("eventlog");

// A failed write or sync resumes the database (RocksDB's Resume()) at most
// every kResumeInterval (rocksdb_store_testing.hpp), from the next write: a
// disk that filled up works again once space is freed, without a restart.
using eventlog::kResumeInterval;

Error io_error(std::string_view what, const rdb::Status& status) {
  return make_error(Errc::io_error, std::string(what) + ": " + status.ToString());
}

// Checkpoints from this size on are written as table files of their own
// (RocksDbStore::put_checkpoint); smaller ones go through the memtable.
constexpr std::size_t kIngestedCheckpointBytes = 4 * 1024 * 1024;

// Opening writes (a new MANIFEST, preallocated to 4 MiB, and a new WAL),
// so a disk that filled while the process was down stops the start-up.
// This runs before any reserve applies: say what to do, and how much is
// free, rather than only what RocksDB said.
// Bytes an unprivileged writer may still use on the file system holding
// `dir`; none when the system cannot say.
std::optional<std::uint64_t> available_bytes(const std::string& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return std::nullopt;
  return std::uint64_t{fs.f_bavail} * fs.f_frsize;
}

Error open_on_full_disk(const std::string& data_dir, const rdb::Status& status) {
  std::string free_text;
  if (const auto available = available_bytes(data_dir))
    free_text = " (" + std::to_string(*available / kMiB) + " MiB free)";
  return make_error(Errc::no_space, "cannot open the event log at '" + data_dir + "': its disk is full" + free_text +
                                        ". Opening writes new files of a few MiB; free some space on that disk "
                                        "(nothing logged is lost meanwhile) and start again. RocksDB said: " +
                                        status.ToString());
}

// A failure on the data path, in words fit for an HTTP client: RocksDB's
// message names files by their path, so it goes to the log only.
Error storage_error(std::string_view what, const rdb::Status& status) {
  kLog.error("storage failure", {{"during", std::string(what)}, {"status", status.ToString()}});
  if (status.IsNoSpace()) {
    return make_error(Errc::no_space, "disk full: the event log cannot write (" + std::string(what) +
                                          "); it resumes once space is freed");
  }
  if (status.IsCorruption()) return make_error(Errc::corrupt, "event log: stored data is damaged (" + std::string(what) + ")");
  return make_error(Errc::io_error, "storage I/O error (" + std::string(what) + "); retrying");
}

Error corrupt(std::string what) { return make_error(Errc::corrupt, "event log: " + std::move(what)); }

// RocksDB's diagnostic LOG, written with stdio. RocksDB's own file logger
// writes through a WritableFileWriter, and Debian's library is built with
// assertions: once the disk is full, the logger's next line after a failed
// one aborts the process (`sync_without_flush_called_` in
// WritableFileWriter::AssertFalseAndGetStatusForPrevError), whatever the
// durability mode, even while opening. Here a line that cannot be written
// is dropped. The file is cut over to LOG.old beyond kMaxInfoLogBytes.
// Threading: any RocksDB thread; mutex_ serialises writers.
class InfoLogFile final : public rdb::Logger {
 public:
  explicit InfoLogFile(std::string path) : rdb::Logger(rdb::InfoLogLevel::INFO_LEVEL), path_(std::move(path)) {}
  ~InfoLogFile() override {
    if (file_) std::fclose(file_);
  }

  using rdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[2048];
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const int head = std::snprintf(line, sizeof line, "%lld.%06lld ",
                                   static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(now).count()),
                                   static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(now).count() % 1000000));
    va_list copy;
    va_copy(copy, ap);
    const int body = std::vsnprintf(line + head, sizeof line - static_cast<std::size_t>(head) - 1, format, copy);
    va_end(copy);
    if (body < 0) return;
    std::size_t size = std::min(static_cast<std::size_t>(head + body), sizeof line - 2);
    if (line[size - 1] != '\n') line[size++] = '\n';
    std::lock_guard lock(mutex_);
    if (!file_ || written_ > kMaxInfoLogBytes) reopen();
    if (!file_) return;
    // Deliberately unchecked: a diagnostic line lost on a full disk is
    // better than a stopped server.
    if (std::fwrite(line, 1, size, file_) == size) written_ += size;
    (void)std::fflush(file_);
  }

 private:
  static constexpr std::uint64_t kMaxInfoLogBytes = 16 * kMiB;

  void reopen() {
    if (file_) {
      std::fclose(file_);
      file_ = nullptr;
      (void)std::rename(path_.c_str(), (path_ + ".old").c_str());
    }
    file_ = std::fopen(path_.c_str(), "ae");
    written_ = 0;
  }

  std::mutex mutex_;
  std::string path_;
  std::FILE* file_ = nullptr;
  std::uint64_t written_ = 0;
};

rdb::CompressionType pick_compression() {
  // Debian's librocksdb is built with LZ4; fall back to none rather than
  // fail to open where it is not.
  const auto supported = rdb::GetSupportedCompressions();
  const bool has_lz4 = std::find(supported.begin(), supported.end(), rdb::kLZ4Compression) != supported.end();
  return has_lz4 ? rdb::kLZ4Compression : rdb::kNoCompression;
}

// RocksDB's own recovery from a background error (after a full disk its
// file manager resumes the database by itself, on a thread of its own, once
// it sees space; a Resume() meanwhile is busy), watched so the store logs
// when it ended and its tests wait for that instead of polling. RocksDB
// calls it from its own threads, and reports the end of every recovery,
// also of the store's own Resume(), which it runs only while none of its
// own is under way.
class RecoveryWatch final : public rdb::EventListener {
 public:
  const char* Name() const override { return "shoppulse.RecoveryWatch"; }
  void OnErrorRecoveryBegin(rdb::BackgroundErrorReason, rdb::Status error, bool* auto_recovery) override {
    error.PermitUncheckedError();
    if (!auto_recovery || !*auto_recovery) return;
    std::lock_guard lock(mutex_);
    in_progress_ = true;
  }
  void OnErrorRecoveryEnd(const rdb::BackgroundErrorRecoveryInfo& info) override {
    bool own = false;
    {
      std::lock_guard lock(mutex_);
      own = in_progress_;
    }
    // Logged and counted before a waiter is let go, so one that wakes finds
    // both. (Not own: the store's Resume(), which logs its own outcome.)
    if (own) {
      if (info.new_bg_error.ok()) kLog.info("event log recovered by itself after a storage failure");
      else kLog.warn("event log recovery after a storage failure failed", {{"detail", info.new_bg_error.ToString()}});
    }
    {
      std::lock_guard lock(mutex_);
      in_progress_ = false;
      if (own) ended_own_.fetch_add(1, std::memory_order_relaxed);
    }
    ended_.notify_all();
  }
  // Until no recovery RocksDB began by itself is under way, or `timeout` of
  // real time passes (a bound that turns a hang into a failure): true when none is.
  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return ended_.wait_for(lock, timeout, [this] { return !in_progress_; });
  }
  // Recoveries RocksDB began by itself that have ended (each logged).
  std::uint64_t ended_own() const noexcept { return ended_own_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  std::condition_variable ended_;
  bool in_progress_ = false;
  std::atomic<std::uint64_t> ended_own_{0};
};

// The embedded Storage: one RocksDB database, one column family per kind of
// data (see kFamilyNames). Blocks are encoded by block_codec.
// Lifecycle: made by open_rocksdb_store, which recovers the in-memory block
// index, settles the incarnation with the durability mark and starts the
// syncer; destroying it stops the syncer, syncs, marks a clean stop and
// closes the database (and releases the directory lock), so every reader
// must have returned first.
// Threading: append() and apply_retention() from one writer thread; read(),
// stats(), load_dictionary(), scans and gets from any thread. RocksDB is safe
// for concurrent use; mutex_ guards only the in-memory block index. The
// syncer thread owns the periodic sync_now() (sync_mutex_ guards the mark).
class RocksDbStore final : public Storage {
 public:
  static Result<std::unique_ptr<Storage>> open(const EventLogConfig& config,
                                               std::shared_ptr<rdb::FileSystem> file_system, SteadyTime& time);

  ~RocksDbStore() override {
    stop_syncer();  // and the scrubber
    // Memtables are written out first, so the next start opens without
    // replaying the WAL into them (seconds for a large import); a failure
    // only costs that replay, since the WAL still holds every write.
    // A flush switches to a new WAL and writes the old one's buffer first:
    // not while the WAL in use is one a write failed on (wal_usable()).
    const bool wal_ok = wal_usable().ok();
    if (auto flushed = flush_at_close_ && wal_ok ? flush() : Result<void>{}; !flushed)
      kLog.warn("memtables not flushed at close", {{"detail", flushed.error().detail}});
    // A clean stop: everything appended is synced and the mark says so, so
    // the next start keeps the incarnation. Skipped when the sync fails:
    // the next start then treats this run as unclean.
    if (wal_ok && sync_now().ok()) {
      DurabilityMarkState closed = mark_;
      closed.state = eventlog::DurabilityMark::State::closed;
      if (auto written = eventlog::write_durability_mark(data_dir_, closed); !written)
        kLog.warn("durability mark not written at close", {{"detail", written.error().detail}});
    }
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
  Result<std::vector<DictionaryEntry>> load_dictionary_newest(std::size_t per_kind) const override;
  Result<std::vector<DictionaryEntry>> load_dictionary_kind(IdKind kind, std::size_t newest) const override;
  Result<void> scan_dictionary_kind(IdKind kind, std::size_t newest, const DictionaryRun& fn) const override;
  bool looks_up_dictionary() const override { return true; }
  Result<std::optional<Id>> find_dictionary_id(IdKind kind, std::string_view value) const override;
  Result<std::optional<std::string>> find_dictionary_name(IdKind kind, Id id) const override;
  Result<void> store_dictionary_names(std::span<const DictionaryEntry> entries) override;
  Result<void> scan_dictionary_names(IdKind kind, const std::function<void(std::string_view)>& fn) const override;
  Result<void> complete_dictionary_names(std::size_t keep_per_kind) override;
  Result<std::vector<SourceOffset>> load_source_offsets() const override;
  EventLogStats stats() const override;
  std::uint64_t incarnation() const override { return mark_incarnation_; }
  bool still_names_same_event(std::uint64_t incarnation, Sequence sequence) const override;
  Result<std::uint64_t> apply_retention(TimestampMs now, std::int64_t max_age_ms,
                                        std::uint64_t max_bytes) override;

  Result<void> put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) override;
  Result<void> scan_minutes(std::int64_t from_minute, std::int64_t to_minute,
                            const std::function<void(std::int64_t, std::string_view)>& fn) const override;
  Result<void> drop_minutes_before(std::int64_t before_minute) override;

  Result<void> put_checkpoint(std::string_view name, const Checkpoint& checkpoint) override;
  Result<void> put_checkpoint_from(std::string_view name, Sequence covers_through, std::uint64_t incarnation,
                                   std::uint64_t size, const ByteSource& read) override;
  Result<std::optional<Checkpoint>> get_checkpoint(std::string_view name) const override;

  // Makes every append so far durable (process mode: fsyncs the WAL) and
  // records it in the durability mark. The background syncer calls it every
  // wal_sync_interval_ms; tests call it directly.
  Result<void> sync_now();

  // Tests: the data dir as it was before reverse dictionary entries.
  Result<void> drop_dictionary_names() {
    rdb::WriteBatch batch;
    const std::string names(eventlog::kDictionaryNamePrefix);
    const std::string names_end = names.substr(0, names.size() - 1) + static_cast<char>(names.back() + 1);
    rdb::Status status = batch.DeleteRange(family(kMeta), names, names_end);
    if (status.ok()) status = batch.Delete(family(kMeta), eventlog::kDictionaryNamesThroughKey);
    if (!status.ok()) return io_error("stage dictionary names drop", status);
    return write(batch, "drop dictionary names");
  }

  Result<void> flush() {
    rdb::FlushOptions options;
    options.wait = true;
    const rdb::Status status = db_->Flush(options, families_);
    if (!status.ok()) return io_error("flush", status);
    return {};
  }

  bool wait_for_recovery(std::chrono::milliseconds timeout) { return recovery_->wait_idle(timeout); }
  std::uint64_t recoveries_by_itself() const noexcept { return recovery_->ended_own(); }
  Result<void> put_raw(std::string_view family_name, std::string_view key, std::string_view value) {
    auto* f = family_named(family_name);
    if (!f) return no_family(family_name);
    const rdb::Status status =
        db_->Put(write_options_, f, rdb::Slice(key.data(), key.size()), rdb::Slice(value.data(), value.size()));
    if (!status.ok()) return io_error("put raw", status);
    return {};
  }

  Result<void> delete_raw(std::string_view family_name, std::string_view key) {
    auto* f = family_named(family_name);
    if (!f) return no_family(family_name);
    const rdb::Status status = db_->Delete(write_options_, f, rdb::Slice(key.data(), key.size()));
    if (!status.ok()) return io_error("delete raw", status);
    return {};
  }

  Result<std::optional<std::string>> raw_value(std::string_view family_name, std::string_view key) const {
    auto* f = family_named(family_name);
    if (!f) return no_family(family_name);
    std::string value;
    const rdb::Status status = db_->Get(rdb::ReadOptions(), f, rdb::Slice(key.data(), key.size()), &value);
    if (status.IsNotFound()) return std::optional<std::string>();
    if (!status.ok()) return io_error("get raw", status);
    return std::optional<std::string>(std::move(value));
  }

  Result<std::vector<std::string>> raw_keys(std::string_view family_name) const {
    auto* f = family_named(family_name);
    if (!f) return no_family(family_name);
    std::vector<std::string> keys;
    std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), f));
    for (it->SeekToFirst(); it->Valid(); it->Next()) keys.emplace_back(view(it->key()));
    if (!it->status().ok()) return io_error("list raw keys", it->status());
    return keys;
  }

 private:
  // The raw hooks' family by name; nullptr for none.
  rdb::ColumnFamilyHandle* family_named(std::string_view name) const {
    for (std::size_t f = 0; f < kFamilyCount; ++f)
      if (name == kFamilyNames[f]) return families_[f];
    return nullptr;
  }
  static Error no_family(std::string_view name) {
    return make_error(Errc::invalid_argument, "no family " + std::string(name));
  }

  using DurabilityMarkState = eventlog::DurabilityMark;

  RocksDbStore(std::unique_ptr<rdb::DB> db, std::vector<rdb::ColumnFamilyHandle*> families,
               const EventLogConfig& config, std::unique_ptr<rdb::Env> env)
      : env_(std::move(env)),
        db_(std::move(db)),
        families_(std::move(families)),
        durability_(config.durability),
        flush_at_close_(config.flush_at_close),
        min_free_bytes_(std::uint64_t{config.min_free_disk_mb} * kMiB),
        data_dir_(config.data_dir),
        sync_interval_(std::chrono::milliseconds(std::max<std::int64_t>(config.wal_sync_interval_ms, 1))),
        scrub_interval_(std::chrono::milliseconds(config.scrub_interval_ms)) {
    write_options_.disableWAL = false;
    // fsync per append is group commit: callers put many events in one append.
    write_options_.sync = durability_ == Durability::fsync;
  }

  rdb::ColumnFamilyHandle* family(Family which) const { return families_[which]; }
  Result<void> write(rdb::WriteBatch& batch, std::string_view what);
  Result<void> open_mark();
  void start_syncer();
  void stop_syncer();
  void start_scrubber();
  // Checks the block checksums of every live table file, one file at a time
  // (stops early when the store closes). Scrubber thread.
  void scrub_once();
  // storage_failed: RocksDB failed (not a refusal of ours, which leaves
  // ever_failed_ alone).
  void note_problem(const Error& error, bool storage_failed = true);
  void clear_problem();
  void resume_if_failed();
  // Refuses a write of `extra` bytes while the data directory's file system
  // would be left with less than min_free_bytes_ available.
  Result<void> check_free_space(std::uint64_t extra);
  // After a write RocksDB failed: remembers the WAL it failed on when the
  // write itself failed (not refused while the database waits for Resume()).
  void note_failed_write(const rdb::Status& status);
  // Refuses a write while the WAL in use is one a write failed on.
  Result<void> wal_usable();
  std::uint64_t current_wal() const;
  Result<void> recover();
  Result<void> recover_format();
  Result<void> seal_derived_values();
  Result<void> drop_damaged_derived_state();
  Result<void> recover_block_index();
  Result<Sequence> recover_dropped_through();

  std::unique_ptr<rdb::Env> env_;  // only with an injected file system; outlives db_
  std::shared_ptr<rdb::WriteBufferManager> write_buffers_;  // shared with db_; set once at open
  std::uint64_t memory_budget_bytes_ = 0;                    // block cache + memtable budgets
  std::unique_ptr<rdb::DB> db_;
  std::vector<rdb::ColumnFamilyHandle*> families_;  // indexed by Family
  rdb::WriteOptions write_options_;
  Durability durability_;
  bool flush_at_close_;
  std::uint64_t min_free_bytes_;  // eventlog.min_free_disk_mb; 0 = no check
  std::string data_dir_;
  std::chrono::milliseconds sync_interval_;
  std::chrono::milliseconds scrub_interval_;

  // The durability mark: sync_mutex_ serialises sync_now() (syncer thread,
  // close, tests); mark_ is written only under it. The incarnation does not
  // change while the store is open, so readers take mark_incarnation_.
  std::mutex sync_mutex_;
  DurabilityMarkState mark_;
  std::uint64_t mark_incarnation_ = 0;
  std::vector<eventlog::PastIncarnation> past_;  // fixed once open
  std::atomic<Sequence> synced_through_{0};

  // The background syncer; stop_ and wake_ under syncer_mutex_.
  std::mutex syncer_mutex_;
  std::condition_variable syncer_wake_;
  bool syncer_stop_ = false;
  std::thread syncer_;
  std::thread scrubber_;  // stops with the syncer (syncer_stop_)

  // What the last completed scrub found; under scrub_mutex_.
  mutable std::mutex scrub_mutex_;
  std::string damage_;
  std::uint64_t scrubs_ = 0;
  std::uint64_t scrubbed_files_ = 0;

  // What went wrong with the last write or sync; empty when it succeeded.
  mutable std::mutex problem_mutex_;
  Error problem_ = make_error(Errc::io_error, "");  // detail empty when none
  std::atomic<bool> failed_{false};
  // RocksDB failed since the last successful write (not a refusal of ours):
  // the next write resumes it first.
  std::atomic<bool> needs_resume_{false};
  // The WAL (RocksDB's log number) a write failed on; 0 when none. Debian's
  // RocksDB 7.8 is built with assertions, and a write, sync or memtable
  // switch that reaches a WAL file writer which failed before aborts the
  // process (WritableFileWriter::AssertFalseAndGetStatusForPrevError).
  // Resume() moves to a new WAL only when it has memtable data to flush; it
  // leaves the failed one in use when the write that failed was the first
  // since a flush (fixed in later RocksDB releases). So nothing is written
  // while this WAL is still the current one.
  std::atomic<std::uint64_t> failed_wal_{0};
  std::atomic<bool> resumed_{false};  // the last Resume() succeeded
  // Checkpoints (put_checkpoint): whether one of `bytes` is written as a
  // table file in parts; how many parts the stored one under `name` has (0
  // when whole or absent); deletes of parts [from, to); the table-file write.
  bool checkpoint_as_file(std::uint64_t bytes) const;
  std::uint32_t stored_checkpoint_parts(std::string_view name) const;
  rdb::Status stage_part_drop(rdb::WriteBatch& batch, std::string_view name, std::uint32_t from,
                              std::uint32_t to) const;
  Result<void> put_checkpoint_file(std::string_view name, Sequence covers_through, std::uint64_t incarnation,
                                   std::uint64_t size, const ByteSource& read);

  // Set by the first storage error and never cleared: large checkpoints then
  // take the memtable path for the rest of the process (put_checkpoint).
  std::atomic<bool> ever_failed_{false};
  // Every thread that writes (ingest, engine, recommend) may resume; one at
  // a time, the others go on to their write.
  std::mutex resume_mutex_;
  SteadyTime* steady_time_ = &system_steady_time();  // paces the resumes
  std::optional<std::chrono::steady_clock::time_point> last_resume_;  // under resume_mutex_
  std::shared_ptr<RecoveryWatch> recovery_;
  std::atomic<Sequence> next_sequence_{1};
  std::string block_buffer_;  // writer thread only: the block being appended
  std::vector<const DictionaryEntry*> entry_order_;  // writer thread only: append()'s new entries in key order
  ByteWriter run_value_;                             // writer thread only: the dictionary run being staged

  // The retained blocks, oldest first, and the sum of their bytes. Only the
  // writer thread changes them (under the lock); readers lock to copy.
  mutable std::mutex mutex_;
  std::deque<BlockSummary> blocks_;
  std::uint64_t block_bytes_ = 0;
};

Result<std::unique_ptr<Storage>> RocksDbStore::open(const EventLogConfig& config,
                                                    std::shared_ptr<rdb::FileSystem> file_system, SteadyTime& time) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return make_error(Errc::io_error, "create event log directory '" + config.data_dir + "': " + ec.message());
  }

  // Corruption is refused, never served as a shorter log. The MANIFEST
  // records each WAL and its synced size, so a missing or cut synced WAL
  // fails the open. Within a WAL, only an incomplete record at its very end
  // is tolerated: in process mode that is the unsynced tail a power loss
  // takes (the durability mark and a new incarnation cover it); in fsync
  // mode it can only be an append that was never acknowledged, because an
  // append is acknowledged after its sync. Refusing that tail too
  // (kAbsoluteConsistency) would keep a server down after every power cut
  // in the middle of a write without protecting any acknowledged event; a
  // damaged record anywhere else fails the open in both modes, where
  // RocksDB's default (point-in-time recovery) silently dropped everything
  // after it.
  StoreOptions options = store_options(config, rdb::WALRecoveryMode::kTolerateCorruptedTailRecords);
  options.db.create_if_missing = true;
  options.db.create_missing_column_families = true;
  std::unique_ptr<rdb::Env> env;
  if (file_system) {
    env = rdb::NewCompositeEnv(file_system);
    options.db.env = env.get();
  }
  auto& db_options = options.db;
  auto& descriptors = options.families;
  auto recovery = std::make_shared<RecoveryWatch>();
  db_options.listeners.push_back(recovery);

  if (auto kept = preserve_tables(config.data_dir); !kept) return kept.error();
  // A checkpoint file written but not taken in by RocksDB before a crash
  // (put_checkpoint) is nobody's: the checkpoint before it still stands.
  for (const auto& entry : std::filesystem::directory_iterator(config.data_dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.starts_with("checkpoint-") && file.ends_with(".sst.tmp")) std::filesystem::remove(entry.path(), ec);
  }
  std::vector<rdb::ColumnFamilyHandle*> handles;
  rdb::DB* raw_db = nullptr;
  const rdb::Status status = rdb::DB::Open(db_options, config.data_dir, descriptors, &handles, &raw_db);
  if (!status.ok()) {
    if (status.IsCorruption()) {
      return make_error(Errc::corrupt, "event log at '" + config.data_dir + "' is damaged: " + status.ToString());
    }
    if (status.IsNoSpace()) return open_on_full_disk(config.data_dir, status);
    return io_error("open event log at '" + config.data_dir + "'", status);
  }

  std::unique_ptr<RocksDbStore> store(
      new RocksDbStore(std::unique_ptr<rdb::DB>(raw_db), std::move(handles), config, std::move(env)));
  store->write_buffers_ = options.db.write_buffer_manager;
  store->recovery_ = std::move(recovery);
  store->steady_time_ = &time;
  store->memory_budget_bytes_ =
      config.block_cache_mb == 0 ? 0 : (config.block_cache_mb + std::max<std::size_t>(config.memtable_budget_mb, 1)) * kMiB;
  if (auto recovered = store->recover(); !recovered) return std::move(recovered).error();
  if (auto marked = store->open_mark(); !marked) return std::move(marked).error();
  drop_preserved_tables(config.data_dir);
  store->start_syncer();
  store->start_scrubber();
  return std::unique_ptr<Storage>(std::move(store));
}

Result<void> RocksDbStore::recover() {
  if (auto ok = recover_format(); !ok) return ok;
  if (auto ok = drop_damaged_derived_state(); !ok) return ok;
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

Result<void> RocksDbStore::open_mark() {
  auto read = eventlog::read_durability_mark(data_dir_);
  if (!read) return std::move(read).error();
  const Sequence last = next_sequence() - 1;
  const bool had_data = last > 0 || !blocks_.empty();
  DurabilityMarkState mark;
  bool new_incarnation = false;
  if (read->has_value()) {
    mark = **read;
    if (last < mark.synced_through) {
      return corrupt("the log ends at sequence " + std::to_string(last) + " but every event through " +
                     std::to_string(mark.synced_through) +
                     " was synced: files of the data directory were lost or damaged. "
                     "`shoppulse verify` reports what is left; `shoppulse recover --to-last-good` keeps it");
    }
    // An unclean stop in process mode may have taken the unsynced tail with
    // it (a power loss does; kill -9 does not, but the two look alike now).
    new_incarnation = mark.state == DurabilityMarkState::State::open_process;
  } else {
    // No mark: a new directory, or one from a version without marks whose
    // history is unknown.
    new_incarnation = true;
  }
  if (new_incarnation) {
    if (mark.incarnation != 0) {
      mark.past.push_back({mark.incarnation, last});
      if (mark.past.size() > DurabilityMarkState::kKeepPast) mark.past.erase(mark.past.begin());
    }
    mark.incarnation = eventlog::new_incarnation_id();
    if (had_data || !mark.past.empty())
      kLog.info("event log starts a new incarnation", {{"incarnation", eventlog::incarnation_hex(mark.incarnation)},
                                                      {"kept_through", std::to_string(last)}});
  }
  mark.synced_through = std::min(mark.synced_through, last);
  mark.state = durability_ == Durability::fsync ? DurabilityMarkState::State::open_fsync
                                                : DurabilityMarkState::State::open_process;
  if (auto written = eventlog::write_durability_mark(data_dir_, mark); !written) return written;
  mark_ = mark;
  mark_incarnation_ = mark.incarnation;
  past_ = mark.past;
  synced_through_.store(mark.synced_through, std::memory_order_release);
  return {};
}

bool RocksDbStore::still_names_same_event(std::uint64_t incarnation, Sequence sequence) const {
  if (incarnation == mark_incarnation_) return true;
  // The incarnations after the given one each kept a prefix; the event
  // survives if it is within every one of them.
  bool found = false;
  Sequence kept = std::numeric_limits<Sequence>::max();
  for (const eventlog::PastIncarnation& p : past_) {
    if (p.id == incarnation) found = true;
    if (found) kept = std::min(kept, p.kept_through);
  }
  return found && sequence <= kept;
}

Result<void> RocksDbStore::sync_now() {
  std::lock_guard lock(sync_mutex_);
  // Read before the sync: every append through it has been written to the
  // WAL, so the sync covers it.
  const Sequence through = next_sequence() - 1;
  if (durability_ == Durability::process) {
    if (auto usable = wal_usable(); !usable) return usable;
    // A synced write of nothing, not SyncWAL(): after a failed WAL append
    // (a full disk) SyncWAL() syncs the failed file writer anyway, which
    // aborts in Debian's library (assertion `sync_without_flush_called_`).
    // The write path checks the append before it syncs, and refuses while
    // the database waits for Resume(). The sync covers every live WAL.
    rdb::WriteOptions sync_options;
    sync_options.sync = true;
    rdb::WriteBatch nothing;
    const rdb::Status status = db_->Write(sync_options, &nothing);
    if (!status.ok()) {
      note_failed_write(status);
      Error error = storage_error("sync the write-ahead log", status);
      note_problem(error);
      return error;
    }
    clear_problem();  // the write path works again
  }
  synced_through_.store(through, std::memory_order_release);
  if (through == mark_.synced_through) return {};
  DurabilityMarkState next = mark_;
  next.synced_through = through;
  if (auto written = eventlog::write_durability_mark(data_dir_, next); !written) {
    note_problem(written.error());
    return written;
  }
  mark_ = std::move(next);
  return {};
}

void RocksDbStore::start_syncer() {
  syncer_ = std::thread([this] {
    std::unique_lock lock(syncer_mutex_);
    while (!syncer_wake_.wait_for(lock, sync_interval_, [this] { return syncer_stop_; })) {
      lock.unlock();
      // A failure is reported by stats().problem; the next round retries.
      (void)sync_now();
      lock.lock();
    }
  });
}

void RocksDbStore::stop_syncer() {
  {
    std::lock_guard lock(syncer_mutex_);
    syncer_stop_ = true;
  }
  syncer_wake_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  if (scrubber_.joinable()) scrubber_.join();
}

void RocksDbStore::start_scrubber() {
  if (scrub_interval_.count() <= 0) return;
  scrubber_ = std::thread([this] {
    // The lowest CPU priority for this thread only (Linux: a thread id is a
    // process id for setpriority): a scrub never competes with ingest.
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
    std::unique_lock lock(syncer_mutex_);
    while (!syncer_stop_) {
      lock.unlock();
      scrub_once();
      lock.lock();
      syncer_wake_.wait_for(lock, scrub_interval_, [this] { return syncer_stop_; });
    }
  });
}

void RocksDbStore::scrub_once() {
  std::vector<rdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  std::string damage;
  std::uint64_t checked = 0;
  rdb::Options options;
  if (env_) options.env = env_.get();
  for (const rdb::LiveFileMetaData& file : files) {
    {
      std::lock_guard lock(syncer_mutex_);
      if (syncer_stop_) return;  // closing: this scrub is not complete
    }
    const std::string path = file.db_path + (file.name.starts_with('/') ? "" : "/") + file.name;
    rdb::SstFileReader reader(options);
    rdb::Status status = reader.Open(path);
    if (status.ok()) status = reader.VerifyChecksum();
    if (!status.ok()) {
      std::error_code ec;
      if (!std::filesystem::exists(path, ec)) continue;  // compacted away meanwhile
      // RocksDB's message names the file by its path; clients get its name only.
      const std::string name = file.name.substr(file.name.rfind('/') + 1);
      std::string detail = status.ToString();
      for (std::size_t at; (at = detail.find(path)) != std::string::npos;) detail.replace(at, path.size(), name);
      damage = "table file " + name + " of " + file.column_family_name + " is damaged (" + detail +
               "): stop the server and run `shoppulse verify`, then `shoppulse recover --to-last-good`";
      kLog.error("event log scrub found a damaged table file", {{"file", name}, {"detail", detail}});
      break;
    }
    ++checked;
  }
  std::lock_guard lock(scrub_mutex_);
  damage_ = std::move(damage);
  ++scrubs_;
  scrubbed_files_ = checked;
}

void RocksDbStore::note_problem(const Error& error, bool storage_failed) {
  std::lock_guard lock(problem_mutex_);
  problem_ = error;
  failed_.store(true, std::memory_order_release);
  if (storage_failed) {
    needs_resume_.store(true, std::memory_order_release);
    ever_failed_.store(true, std::memory_order_release);
  }
}

Result<void> RocksDbStore::check_free_space(std::uint64_t extra) {
  if (min_free_bytes_ == 0) return {};
  // Unknown free space: RocksDB reports what fails.
  const std::optional<std::uint64_t> known = available_bytes(data_dir_);
  if (!known) return {};
  const std::uint64_t available = *known;
  if (available >= min_free_bytes_ + extra) return {};
  Error error = make_error(
      Errc::no_space, "disk full: the event log keeps " + std::to_string(min_free_bytes_ / kMiB) +
                          " MiB of its disk free (eventlog.min_free_disk_mb) and " +
                          std::to_string(available / kMiB) + " MiB are left; it resumes once space is freed");
  if (!failed_.load(std::memory_order_acquire))
    kLog.warn("writes refused: the disk is nearly full",
              {{"available_mb", std::to_string(available / kMiB)},
               {"min_free_disk_mb", std::to_string(min_free_bytes_ / kMiB)}});
  note_problem(error, false);
  return error;
}

std::uint64_t RocksDbStore::current_wal() const {
  std::unique_ptr<rdb::LogFile> wal;
  if (!db_->GetCurrentWalFile(&wal).ok() || !wal) return 0;
  return wal->LogNumber();
}

void RocksDbStore::note_failed_write(const rdb::Status& status) {
  // A write refused while the database waits for Resume() carries the
  // background error's severity; the write's own failure carries none.
  if (!status.IsIOError() || status.severity() != rdb::Status::Severity::kNoError) return;
  resumed_.store(false, std::memory_order_release);
  if (const std::uint64_t wal = current_wal(); wal != 0) failed_wal_.store(wal, std::memory_order_release);
}

Result<void> RocksDbStore::wal_usable() {
  std::uint64_t failed = failed_wal_.load(std::memory_order_acquire);
  if (failed == 0) return {};
  resume_if_failed();
  if (current_wal() != failed) {
    failed_wal_.compare_exchange_strong(failed, 0, std::memory_order_acq_rel);
    return {};
  }
  if (resumed_.load(std::memory_order_acquire)) {
    // Resumed, with the failed WAL still in use: only a new process
    // (which recovers that WAL as after a crash) writes again.
    Error error = make_error(Errc::unavailable,
                             "the event log stopped writing: a write-ahead log write failed and the database "
                             "kept that log in use; restart shoppulse to write again (nothing acknowledged is lost)");
    {
      std::lock_guard lock(problem_mutex_);
      if (problem_.detail != error.detail) kLog.error("event log writes stopped until a restart", {{"detail", error.detail}});
    }
    note_problem(error);
    return error;
  }
  std::lock_guard lock(problem_mutex_);
  return problem_;
}

void RocksDbStore::resume_if_failed() {
  if (!needs_resume_.load(std::memory_order_acquire)) return;
  std::unique_lock lock(resume_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  const auto now = steady_time_->now();
  if (last_resume_ && now - *last_resume_ < kResumeInterval) return;
  last_resume_ = now;
  // After a failed WAL write or flush RocksDB refuses writes until resumed.
  // Resume() fails again while the disk is still full; the write below then
  // reports that.
  const rdb::Status status = db_->Resume();
  resumed_.store(status.ok(), std::memory_order_release);
  if (status.ok()) kLog.info("event log resumed after a storage failure");
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
  if (version == kFormatVersionUnsealed) return seal_derived_values();
  if (version == kFormatVersionSingleIds) {
    const rdb::Status put = db_->Put(write_options_, family(kMeta), kFormatKey, kFormatVersion);
    if (!put.ok()) return io_error("write event log format version", put);
    kLog.info("event log format raised: the dictionary may now hold runs of ids",
              {{"from", std::string(kFormatVersionSingleIds)}, {"to", std::string(kFormatVersion)}});
    return {};
  }
  if (version != kFormatVersion) return corrupt("unsupported format version '" + version + "'");
  return {};
}

Result<void> RocksDbStore::seal_derived_values() {
  rdb::WriteBatch batch;
  for (Family which : {kCheckpoints, kRollups}) {
    std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(which)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rdb::Status status = batch.Put(family(which), it->key(), eventlog::seal(std::string(view(it->value()))));
      if (!status.ok()) return io_error("stage sealed value", status);
    }
    if (!it->status().ok()) return io_error("read derived state", it->status());
  }
  const rdb::Status status = batch.Put(family(kMeta), kFormatKey, kFormatVersion);
  if (!status.ok()) return io_error("stage format version", status);
  const rdb::Status written = db_->Write(write_options_, &batch);
  if (!written.ok()) return io_error("convert event log to format " + std::string(kFormatVersion), written);
  kLog.info("event log converted: checkpoints and rollups now carry checksums");
  return {};
}

Result<void> RocksDbStore::drop_damaged_derived_state() {
  // Rollups are checked here, once: a damaged minute would otherwise fail
  // every query that covers it. It is dropped with every checkpoint, so the
  // engine replays the log from the start and writes the minute again.
  // Checkpoints are checked when read; a damaged one is replayed around.
  std::vector<std::string> damaged;
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(kRollups)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!eventlog::unseal(view(it->value()), "rollup minute")) damaged.emplace_back(view(it->key()));
  }
  if (!it->status().ok()) return io_error("read rollups", it->status());
  if (damaged.empty()) return {};
  rdb::WriteBatch batch;
  for (const std::string& key : damaged) {
    if (const rdb::Status status = batch.Delete(family(kRollups), key); !status.ok())
      return io_error("stage rollup drop", status);
  }
  std::unique_ptr<rdb::Iterator> cp(db_->NewIterator(rdb::ReadOptions(), family(kCheckpoints)));
  for (cp->SeekToFirst(); cp->Valid(); cp->Next()) {
    if (const rdb::Status status = batch.Delete(family(kCheckpoints), cp->key()); !status.ok())
      return io_error("stage checkpoint drop", status);
  }
  const rdb::Status written = db_->Write(write_options_, &batch);
  if (!written.ok()) return io_error("drop damaged rollups", written);
  kLog.warn("damaged rollup minutes dropped; derived state is rebuilt from the log",
            {{"minutes", std::to_string(damaged.size())}});
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
  resume_if_failed();
  if (auto usable = wal_usable(); !usable) return usable;
  const rdb::Status status = db_->Write(write_options_, &batch);
  if (!status.ok()) {
    note_failed_write(status);
    Error error = storage_error(what, status);
    note_problem(error);
    return error;
  }
  clear_problem();
  return {};
}

void RocksDbStore::clear_problem() {
  if (!failed_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(problem_mutex_);
  problem_.detail.clear();
  failed_.store(false, std::memory_order_release);
  needs_resume_.store(false, std::memory_order_release);
}

Result<void> RocksDbStore::append(const AppendBatch& batch) {
  if (batch.records.empty() && batch.new_entries.empty() && batch.source_offsets.empty()) return {};
  if (auto room = check_free_space(0); !room) return room;
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
  // New entries arrive in event order, users, products and categories
  // interleaved, each kind's ids consecutive. Each kind's consecutive ids
  // are staged as one run key (store_keys.hpp): a key per id cost RocksDB's
  // skip list about 30 comparisons each, a fifth of the ingest thread's
  // time on real-shaped data (bench/README.md, "The dictionary's entries in
  // each append").
  entry_order_.clear();
  for (const DictionaryEntry& entry : batch.new_entries) entry_order_.push_back(&entry);
  std::stable_sort(entry_order_.begin(), entry_order_.end(),
                   [](const DictionaryEntry* a, const DictionaryEntry* b) { return a->kind < b->kind; });
  for (std::size_t i = 0; i < entry_order_.size();) {
    const DictionaryEntry& first = *entry_order_[i];
    std::size_t end = i + 1;
    while (end < entry_order_.size() && entry_order_[end]->kind == first.kind &&
           entry_order_[end]->id == entry_order_[end - 1]->id + 1)
      ++end;
    rdb::Status status;
    if (end - i == 1) {
      status = write_batch.Put(family(kDictionary), eventlog::dictionary_key(first.kind, first.id), first.value);
    } else {
      run_value_.clear();
      for (std::size_t j = i; j < end; ++j) run_value_.bytes(entry_order_[j]->value);
      status = write_batch.Put(family(kDictionary),
                               eventlog::dictionary_run_key(first.kind, first.id, entry_order_[end - 1]->id),
                               rdb::Slice(run_value_.view().data(), run_value_.size()));
    }
    if (!status.ok()) return io_error("stage dictionary entry", status);
    i = end;
  }
  if (run_value_.capacity() > kKeepBlockBuffer) run_value_.release();

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
  // Millions of entries: sized once from RocksDB's estimate of its keys
  // rather than grown by doubling, which copied them several times (a run
  // key holds many ids, so for runs this reserves little; the start-up
  // loads by kind, scan_dictionary_kind, sized from the ids).
  std::uint64_t estimate = 0;
  if (db_->GetIntProperty(family(kDictionary), "rocksdb.estimate-num-keys", &estimate))
    entries.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(estimate + estimate / 8, 1ULL << 32)));
  // One sequential pass: read ahead, and keep the blocks out of the cache,
  // which the queries of the next hours need more than a pass done once.
  rdb::ReadOptions options;
  options.readahead_size = 2 * kMiB;
  options.fill_cache = false;
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(options, family(kDictionary)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = eventlog::decode_dictionary_key(view(it->key()));
    if (!key) return std::move(key).error();
    auto each = eventlog::for_each_dictionary_entry(*key, view(it->value()), [&](Id id, std::string_view name) {
      entries.push_back(DictionaryEntry{key->kind, id, std::string(name)});
    });
    if (!each) return std::move(each).error();
  }
  if (!it->status().ok()) return io_error("read dictionary", it->status());
  return entries;
}

Result<std::vector<DictionaryEntry>> RocksDbStore::load_dictionary_newest(std::size_t per_kind) const {
  if (per_kind == 0) return load_dictionary();
  std::vector<DictionaryEntry> entries;
  for (std::size_t k = 0; k < kIdKindCount; ++k) {
    auto kind = load_dictionary_kind(static_cast<IdKind>(k), per_kind);
    if (!kind) return kind;
    entries.insert(entries.end(), std::make_move_iterator(kind->begin()), std::make_move_iterator(kind->end()));
  }
  return entries;
}

Result<std::vector<DictionaryEntry>> RocksDbStore::load_dictionary_kind(IdKind kind, std::size_t newest) const {
  std::vector<DictionaryEntry> entries;
  auto scanned = scan_dictionary_kind(kind, newest, [&](std::span<const DictionaryEntry> run, std::size_t total) {
    entries.reserve(total);
    entries.insert(entries.end(), run.begin(), run.end());
    return Result<void>{};
  });
  if (!scanned) return std::move(scanned).error();
  return entries;
}

namespace {

// Positions `it` for a forward walk of `kind`'s ids from `id`: on the key at
// or before (kind, id), which holds id when a stored run begins before it,
// else on the first key after. The walk steps over keys of earlier kinds and
// keys that end before id.
void seek_dictionary(rdb::Iterator& it, IdKind kind, Id id) {
  it.SeekForPrev(eventlog::dictionary_key_at_or_before(kind, id));
  if (!it.Valid() && it.status().ok()) it.Seek(eventlog::dictionary_key(kind, id));
}

}  // namespace

Result<void> RocksDbStore::scan_dictionary_kind(IdKind kind, std::size_t newest, const DictionaryRun& fn) const {
  // Keys are kind then big-endian id, and a kind's ids are dense from 1 (the
  // dictionary hands them out in order), so the newest `newest` are the ids
  // from the last one's minus newest - 1: found with one seek back, then
  // read forwards like the whole kind. RocksDB steps forwards several times
  // faster than backwards. Read ahead, and keep the blocks out of the cache,
  // which the queries of the next hours need more than a pass done once.
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(kDictionary)));
  Id first = 0;
  it->SeekForPrev(eventlog::dictionary_key_at_or_before(kind, std::numeric_limits<Id>::max()));
  if (!it->status().ok()) return io_error("read dictionary", it->status());
  if (!it->Valid()) return {};
  auto last = eventlog::decode_dictionary_key(view(it->key()));
  if (!last) return std::move(last).error();
  if (last->kind != kind) return {};
  if (newest != 0 && last->last > newest) first = static_cast<Id>(last->last - newest + 1);
  const std::size_t total = std::size_t{last->last} - (first == 0 ? 0 : first - 1);

  rdb::ReadOptions options;
  options.readahead_size = 2 * kMiB;
  options.fill_cache = false;
  it.reset(db_->NewIterator(options, family(kDictionary)));
  // Runs of a few thousand: small enough to stay in cache, large enough
  // that the restore's look-ahead prefetch rarely hits a run's end. The
  // strings are reused from run to run.
  constexpr std::size_t kRun = 4096;
  std::vector<DictionaryEntry> run(kRun);
  std::size_t filled = 0;
  Result<void> handed{};
  for (seek_dictionary(*it, kind, first); it->Valid(); it->Next()) {
    auto key = eventlog::decode_dictionary_key(view(it->key()));
    if (!key) return std::move(key).error();
    if (key->kind < kind || key->last < first) continue;
    if (key->kind != kind) break;
    auto each = eventlog::for_each_dictionary_entry(*key, view(it->value()), [&](Id id, std::string_view name) {
      if (id < first || !handed) return;
      DictionaryEntry& slot = run[filled];
      slot.kind = kind;
      slot.id = id;
      slot.value.assign(name);
      if (++filled == kRun) {
        handed = fn(run, total);
        filled = 0;
      }
    });
    if (!each) return std::move(each).error();
    if (!handed) return handed;
  }
  if (!it->status().ok()) return io_error("read dictionary", it->status());
  if (filled != 0) return fn(std::span<const DictionaryEntry>(run).first(filled), total);
  return {};
}

Result<std::optional<Id>> RocksDbStore::find_dictionary_id(IdKind kind, std::string_view value) const {
  std::string stored;
  const rdb::Status status =
      db_->Get(rdb::ReadOptions(), family(kMeta), eventlog::dictionary_name_key(kind, value), &stored);
  if (status.IsNotFound()) return std::optional<Id>();
  if (!status.ok()) return io_error("read dictionary name", status);
  if (stored.size() != 4) return corrupt("dictionary name entry is not 4 bytes");
  return std::optional<Id>(eventlog::get_be32(stored));
}

Result<std::optional<std::string>> RocksDbStore::find_dictionary_name(IdKind kind, Id id) const {
  // One seek back finds the key holding id, a run or its own key: a point
  // read of (kind, id) would miss every id kept in a run.
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(kDictionary)));
  it->SeekForPrev(eventlog::dictionary_key_at_or_before(kind, id));
  if (!it->Valid()) {
    if (!it->status().ok()) return io_error("read dictionary entry", it->status());
    return std::optional<std::string>();
  }
  auto key = eventlog::decode_dictionary_key(view(it->key()));
  if (!key) return std::move(key).error();
  if (key->kind != kind || key->first > id || key->last < id) return std::optional<std::string>();
  if (!key->run) return std::optional<std::string>(std::string(view(it->value())));
  auto name = eventlog::dictionary_name_in_run(*key, view(it->value()), id);
  if (!name) return std::move(name).error();
  return std::optional<std::string>(std::string(*name));
}

Result<void> RocksDbStore::store_dictionary_names(std::span<const DictionaryEntry> entries) {
  if (entries.empty()) return {};
  rdb::WriteBatch batch;
  for (const DictionaryEntry& e : entries) {
    const rdb::Status put =
        batch.Put(family(kMeta), eventlog::dictionary_name_key(e.kind, e.value), eventlog::be32(e.id));
    if (!put.ok()) return io_error("stage dictionary name", put);
  }
  return write(batch, "store dictionary names");
}

Result<void> RocksDbStore::scan_dictionary_names(IdKind kind,
                                                 const std::function<void(std::string_view)>& fn) const {
  const std::string prefix = eventlog::dictionary_name_key(kind, "");
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(kMeta)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
    fn(view(it->key()).substr(prefix.size()));
  if (!it->status().ok()) return io_error("read dictionary names", it->status());
  return {};
}

// The marker holds, per kind, the id through which every entry has its
// reverse entry; each start-up with a bound extends it to all but the
// newest keep_per_kind, so the ids created since the last start are written
// once and the older ones are not read again.
Result<void> RocksDbStore::complete_dictionary_names(std::size_t keep_per_kind) {
  std::string marker;
  const rdb::Status got = db_->Get(rdb::ReadOptions(), family(kMeta), eventlog::kDictionaryNamesThroughKey, &marker);
  if (!got.ok() && !got.IsNotFound()) return io_error("read dictionary names marker", got);
  std::array<Id, kIdKindCount> through{};
  if (got.ok()) {
    if (marker.size() != 4 * kIdKindCount) return corrupt("dictionary names marker has the wrong size");
    for (std::size_t k = 0; k < kIdKindCount; ++k) through[k] = eventlog::get_be32(std::string_view(marker).substr(4 * k));
  }
  constexpr std::size_t kBatchEntries = 65536;
  rdb::WriteBatch batch;
  std::size_t staged = 0;
  std::unique_ptr<rdb::Iterator> it(db_->NewIterator(rdb::ReadOptions(), family(kDictionary)));
  for (std::size_t k = 0; k < kIdKindCount; ++k) {
    const auto kind = static_cast<IdKind>(k);
    it->SeekForPrev(eventlog::dictionary_key_at_or_before(kind, std::numeric_limits<Id>::max()));
    if (!it->Valid()) continue;
    auto newest = eventlog::decode_dictionary_key(view(it->key()));
    if (!newest) return std::move(newest).error();
    if (newest->kind != kind || newest->last <= keep_per_kind) continue;
    const Id last = static_cast<Id>(newest->last - keep_per_kind);
    if (last <= through[k]) continue;
    Result<void> staging{};
    for (seek_dictionary(*it, kind, through[k] + 1); it->Valid(); it->Next()) {
      auto key = eventlog::decode_dictionary_key(view(it->key()));
      if (!key) return std::move(key).error();
      if (key->kind < kind || key->last <= through[k]) continue;
      if (key->kind != kind || key->first > last) break;
      auto each = eventlog::for_each_dictionary_entry(*key, view(it->value()), [&](Id id, std::string_view name) {
        if (id <= through[k] || id > last || !staging) return;
        const rdb::Status put = batch.Put(family(kMeta), eventlog::dictionary_name_key(kind, name), eventlog::be32(id));
        if (!put.ok()) {
          staging = io_error("stage dictionary name", put);
          return;
        }
        if (++staged == kBatchEntries) {
          staging = write(batch, "complete dictionary names");
          batch.Clear();
          staged = 0;
        }
      });
      if (!each) return std::move(each).error();
      if (!staging) return staging;
    }
    if (!it->status().ok()) return io_error("read dictionary", it->status());
    through[k] = last;
  }
  std::string value;
  for (const Id t : through) value += eventlog::be32(t);
  if (value == marker) return {};
  const rdb::Status put = batch.Put(family(kMeta), eventlog::kDictionaryNamesThroughKey, value);
  if (!put.ok()) return io_error("stage dictionary names marker", put);
  return write(batch, "complete dictionary names");
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
  stats.synced_through = durability_ == Durability::fsync ? stats.last_sequence
                                                          : synced_through_.load(std::memory_order_acquire);
  if (failed_.load(std::memory_order_acquire)) {
    std::lock_guard lock(problem_mutex_);
    stats.problem = problem_.detail;
  }
  {
    std::lock_guard lock(scrub_mutex_);
    stats.damage = damage_;
    stats.scrubs = scrubs_;
    stats.scrubbed_table_files = scrubbed_files_;
  }
  // RocksDB keeps these as counters, so the call is cheap. Failure to read
  // one only makes the estimate lower, which stats tolerate.
  for (rdb::ColumnFamilyHandle* handle : families_) {
    std::uint64_t value = 0;
    if (db_->GetIntProperty(handle, rdb::DB::Properties::kTotalSstFilesSize, &value)) stats.bytes += value;
    if (db_->GetIntProperty(handle, rdb::DB::Properties::kCurSizeAllMemTables, &value)) {
      stats.bytes += value;
      stats.memtable_bytes += value;
    }
    if (db_->GetIntProperty(handle, rdb::DB::Properties::kEstimateTableReadersMem, &value))
      stats.table_readers_bytes += value;
    // One cache serves every family, so each reports the same usage.
    if (db_->GetIntProperty(handle, rdb::DB::Properties::kBlockCacheUsage, &value))
      stats.block_cache_bytes = std::max(stats.block_cache_bytes, value);
  }
  // The cache's usage includes the memtables' reservations, which are
  // reported as memtables already.
  if (write_buffers_ && write_buffers_->cost_to_cache()) {
    const std::uint64_t reserved = write_buffers_->dummy_entries_in_cache_usage();
    stats.block_cache_bytes = stats.block_cache_bytes > reserved ? stats.block_cache_bytes - reserved : 0;
  }
  stats.memory_budget_bytes = memory_budget_bytes_;
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
    const rdb::Status status = batch.Put(family(kRollups), eventlog::minute_key(minute), eventlog::seal(bytes));
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
    auto bytes = eventlog::unseal(view(it->value()), "rollup minute " + std::to_string(*minute));
    if (!bytes) return std::move(bytes).error();
    fn(*minute, *bytes);
  }
  if (!it->status().ok()) return io_error("scan rollup minutes", it->status());
  return {};
}

Result<void> RocksDbStore::drop_minutes_before(std::int64_t before_minute) {
  const std::string begin = eventlog::minute_key(std::numeric_limits<std::int64_t>::min());
  const std::string end = eventlog::minute_key(before_minute);
  if (begin == end) return {};
  rdb::WriteBatch batch;
  const rdb::Status status = batch.DeleteRange(family(kRollups), begin, end);
  if (!status.ok()) return io_error("stage rollup drop", status);
  return write(batch, "drop rollup minutes");
}

std::uint32_t RocksDbStore::stored_checkpoint_parts(std::string_view name) const {
  rdb::PinnableSlice value;
  if (!db_->Get(rdb::ReadOptions(), family(kCheckpoints), rdb::Slice(name.data(), name.size()), &value).ok()) return 0;
  auto body = eventlog::unseal(view(value), "checkpoint");
  if (!body) return 0;
  auto head = eventlog::decode_checkpoint_head(*body);
  return head && *head ? (*head)->parts : 0;
}

rdb::Status RocksDbStore::stage_part_drop(rdb::WriteBatch& batch, std::string_view name, std::uint32_t from,
                                          std::uint32_t to) const {
  for (std::uint32_t i = from; i < to; ++i) {
    if (rdb::Status status = batch.Delete(family(kCheckpoints), eventlog::checkpoint_part_key(name, i)); !status.ok())
      return status;
  }
  return rdb::Status::OK();
}

bool RocksDbStore::checkpoint_as_file(std::uint64_t bytes) const {
  // Debian's RocksDB 7.8 keeps its assertions, and one in the ingestion of a
  // file (a file number of 0) is reached after a disk-full error even once
  // writes have resumed: a store that has seen any storage error, here or in
  // RocksDB's own background work, writes every checkpoint the plain way.
  std::uint64_t background_errors = 0;
  return bytes >= kIngestedCheckpointBytes && !ever_failed_.load(std::memory_order_acquire) &&
         db_->GetIntProperty("rocksdb.background-errors", &background_errors) && background_errors == 0;
}

Result<void> RocksDbStore::put_checkpoint(std::string_view name, const Checkpoint& checkpoint) {
  if (checkpoint_as_file(checkpoint.bytes.size())) {
    const std::string_view bytes = checkpoint.bytes;
    std::size_t at = 0;
    return put_checkpoint_file(name, checkpoint.covers_through, checkpoint.incarnation, bytes.size(),
                               [&](char* dst, std::size_t n) -> Result<void> {
                                 std::memcpy(dst, bytes.data() + at, n);
                                 at += n;
                                 return {};
                               });
  }
  if (auto room = check_free_space(checkpoint.bytes.size()); !room) return room;
  // Parts of a checkpoint written in parts before go with it.
  const std::uint32_t old_parts = stored_checkpoint_parts(name);
  rdb::WriteBatch batch;
  rdb::Status status = batch.Put(family(kCheckpoints), rdb::Slice(name.data(), name.size()),
                                 eventlog::seal(eventlog::encode_checkpoint(checkpoint)));
  if (status.ok()) status = stage_part_drop(batch, name, 0, old_parts);
  if (!status.ok()) return io_error("stage checkpoint", status);
  return write(batch, "put checkpoint");
}

Result<void> RocksDbStore::put_checkpoint_from(std::string_view name, Sequence covers_through,
                                               std::uint64_t incarnation, std::uint64_t size, const ByteSource& read) {
  if (!checkpoint_as_file(size)) return CheckpointStore::put_checkpoint_from(name, covers_through, incarnation, size, read);
  return put_checkpoint_file(name, covers_through, incarnation, size, read);
}

Result<void> RocksDbStore::put_checkpoint_file(std::string_view name, Sequence covers_through,
                                               std::uint64_t incarnation, std::uint64_t size, const ByteSource& read) {
  // A large checkpoint (the engine's and the recommender's reach hundreds of
  // MB) is written once, as a table file of its own that RocksDB takes in
  // (IngestExternalFile): through a memtable it would be written twice (WAL,
  // then flush), hold its size in memory until flushed, and its flush, which
  // flushes every family at once (atomic_flush), would keep the events'
  // memtables from flushing: a soak saw ingest stopped for 20 s that way.
  // It goes in parts (store_keys.hpp), read from `read` one at a time, so
  // the writer holds one part (and the table file's block of it), never the
  // whole state. The file is synced before RocksDB takes it, and the
  // ingestion is recorded in the MANIFEST, so it is as durable as a synced
  // write. Parts the previous checkpoint had beyond the new one's are
  // deleted after it (a crash in between leaves them unread: the head says
  // how many parts there are).
  if (auto room = check_free_space(size); !room) return room;
  const std::uint32_t old_parts = stored_checkpoint_parts(name);
  resume_if_failed();
  if (auto usable = wal_usable(); !usable) return usable;
  static std::atomic<std::uint64_t> next_file{0};
  const std::string path = data_dir_ + "/checkpoint-" + std::to_string(::getpid()) + "-" +
                           std::to_string(next_file.fetch_add(1)) + ".sst.tmp";
  std::error_code ignored;
  const auto fail = [&](std::string_view what, const rdb::Status& status) -> Result<void> {
    std::filesystem::remove(path, ignored);
    Error error = storage_error(what, status);
    note_problem(error);
    return error;
  };
  eventlog::CheckpointHead head;
  head.covers_through = covers_through;
  head.incarnation = incarnation;
  head.bytes = size;
  head.parts = eventlog::checkpoint_parts_for(size);
  const rdb::Options options(db_->GetDBOptions(), db_->GetOptions(family(kCheckpoints)));
  std::optional<Error> read_failed;
  rdb::Status status;
  {
    rdb::SstFileWriter writer(rdb::EnvOptions(options), options, family(kCheckpoints));
    status = writer.Open(path);
    if (status.ok()) status = eventlog::add_checkpoint_parts(writer, name, head, read, read_failed);
    if (status.ok()) status = writer.Finish();
  }  // a writer not finished abandons its file
  if (read_failed) {
    // Not the store's failure: nothing is noted, the file goes.
    std::filesystem::remove(path, ignored);
    return std::move(*read_failed);
  }
  if (!status.ok()) return fail("write checkpoint file", status);
  rdb::IngestExternalFileOptions ingest;
  ingest.move_files = true;          // linked in, the temporary name removed
  ingest.write_global_seqno = false;  // the file is not rewritten after it is synced
  status = db_->IngestExternalFile(family(kCheckpoints), {path}, ingest);
  if (!status.ok()) {
    note_failed_write(status);  // its memtable flush may have failed on the WAL
    return fail("take in checkpoint file", status);
  }
  clear_problem();
  if (old_parts > head.parts) {
    rdb::WriteBatch batch;
    status = stage_part_drop(batch, name, head.parts, old_parts);
    if (!status.ok()) return io_error("stage checkpoint part drop", status);
    // The checkpoint itself is written: a failure here leaves unread parts.
    if (auto dropped = write(batch, "drop checkpoint parts"); !dropped)
      kLog.warn("old checkpoint parts not dropped",
                {{"checkpoint", std::string(name)}, {"error", dropped.error().detail}});
  }
  return {};
}

Result<std::optional<Checkpoint>> RocksDbStore::get_checkpoint(std::string_view name) const {
  return eventlog::read_checkpoint(*db_, family(kCheckpoints), name);
}

}  // namespace

eventlog::StoreOptions eventlog::store_options(const EventLogConfig& config, rdb::WALRecoveryMode recovery) {
  StoreOptions out;
  rdb::DBOptions& db_options = out.db;
  db_options.keep_log_file_num = kKeepInfoLogFiles;
  db_options.info_log = std::make_shared<InfoLogFile>(config.data_dir + "/LOG");
  // A missing or cut synced WAL fails the open: the MANIFEST records each
  // WAL and its synced size.
  db_options.track_and_verify_wals_in_manifest = true;
  // The write buffer manager's flush (memtables past memtable_budget_mb)
  // otherwise takes the one family with the oldest memtable, often a small
  // one, while a busy family's memtable keeps growing; flushing every
  // family together keeps the total within the budget.
  db_options.atomic_flush = true;
  db_options.wal_recovery_mode = recovery;

  rdb::BlockBasedTableOptions table_options;
  const std::size_t memtable_budget = std::max<std::size_t>(config.memtable_budget_mb, 1) * kMiB;
  if (config.block_cache_mb == 0) {
    table_options.no_block_cache = true;
    db_options.write_buffer_manager = std::make_shared<rdb::WriteBufferManager>(memtable_budget);
  } else {
    // One cache shared by every family holds RocksDB's memory: data blocks,
    // index and filter blocks, and (as reservations) the memtables of every
    // family, which the write buffer manager flushes, largest first, once
    // together they pass memtable_budget_mb. Six families with their own
    // 64 MiB memtables (two each while one flushes) could otherwise hold
    // most of a GiB, and index/filter blocks outside the cache grow with the
    // log. The memtables' reservations push blocks out of the cache, so its
    // capacity is the sum of both budgets.
    auto cache = rdb::NewLRUCache((config.block_cache_mb * kMiB) + memtable_budget);
    table_options.block_cache = cache;
    table_options.cache_index_and_filter_blocks = true;
    // The newest files' index and filter blocks are read on most lookups;
    // pinned, they are never evicted and read again.
    table_options.pin_l0_filter_and_index_blocks_in_cache = true;
    db_options.write_buffer_manager = std::make_shared<rdb::WriteBufferManager>(memtable_budget, cache);
  }
  rdb::ColumnFamilyOptions family_options;
  family_options.write_buffer_size = std::max<std::size_t>(config.write_buffer_mb, 1) * kMiB;
  family_options.compression = pick_compression();
  family_options.table_factory.reset(rdb::NewBlockBasedTableFactory(table_options));

  for (const char* name : kFamilyNames) out.families.emplace_back(name, family_options);
  return out;

}

Result<std::unique_ptr<Storage>> open_rocksdb_store(const EventLogConfig& config) {
  return RocksDbStore::open(config, nullptr, system_steady_time());
}

namespace eventlog {

Result<std::unique_ptr<Storage>> open_rocksdb_store_on(const EventLogConfig& config,
                                                       std::shared_ptr<rdb::FileSystem> file_system,
                                                       SteadyTime& time) {
  return RocksDbStore::open(config, std::move(file_system), time);
}

bool wait_for_rocksdb_recovery(Storage& store, std::chrono::milliseconds timeout) {
  auto* rocksdb = dynamic_cast<RocksDbStore*>(&store);
  return rocksdb != nullptr && rocksdb->wait_for_recovery(timeout);
}

std::uint64_t rocksdb_recoveries_by_itself(Storage& store) {
  auto* rocksdb = dynamic_cast<RocksDbStore*>(&store);
  return rocksdb != nullptr ? rocksdb->recoveries_by_itself() : 0;
}

Result<void> flush_rocksdb_store(Storage& store) {
  auto* rocksdb = dynamic_cast<RocksDbStore*>(&store);
  if (!rocksdb) return make_error(Errc::invalid_argument, "not a RocksDB store");
  return rocksdb->flush();
}

Result<void> put_raw(Storage& store, std::string_view family, std::string_view key, std::string_view value) {
  auto* rocksdb = dynamic_cast<RocksDbStore*>(&store);
  if (!rocksdb) return make_error(Errc::invalid_argument, "not a RocksDB store");
  return rocksdb->put_raw(family, key, value);
}

Result<void> delete_raw(Storage& store, std::string_view family, std::string_view key) {
  auto* rocksdb = dynamic_cast<RocksDbStore*>(&store);
  if (!rocksdb) return make_error(Errc::invalid_argument, "not a RocksDB store");
  return rocksdb->delete_raw(family, key);
}

Result<std::optional<std::string>> raw_value(Storage& store, std::string_view family, std::string_view key) {
  auto* rocksdb = dynamic_cast<RocksDbStore*>(&store);
  if (!rocksdb) return make_error(Errc::invalid_argument, "not a RocksDB store");
  return rocksdb->raw_value(family, key);
}

Result<std::vector<std::string>> raw_keys(Storage& store, std::string_view family) {
  auto* rocksdb = dynamic_cast<RocksDbStore*>(&store);
  if (!rocksdb) return make_error(Errc::invalid_argument, "not a RocksDB store");
  return rocksdb->raw_keys(family);
}

Result<void> drop_dictionary_names(Storage& store) {
  auto* rocksdb = dynamic_cast<RocksDbStore*>(&store);
  if (!rocksdb) return make_error(Errc::invalid_argument, "not a RocksDB store");
  return rocksdb->drop_dictionary_names();
}

Result<void> sync_rocksdb_store(Storage& store) {
  auto* rocksdb = dynamic_cast<RocksDbStore*>(&store);
  if (!rocksdb) return make_error(Errc::invalid_argument, "not a RocksDB store");
  return rocksdb->sync_now();
}

}  // namespace eventlog

}  // namespace shoppulse
