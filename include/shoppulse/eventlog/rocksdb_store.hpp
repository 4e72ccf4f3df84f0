#pragma once
// The embedded default storage: one RocksDB database with column families for
// events, dictionary, rollups, checkpoints. RocksDB types stay inside src/eventlog.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shoppulse/eventlog/storage.hpp"

namespace shoppulse {

enum class Durability {
  // WAL written on every append and fsync'ed in the background every
  // wal_sync_interval_ms: survives kill -9 of the process with nothing lost;
  // a power loss loses at most the events acknowledged in the last interval
  // (plus the sync's own duration), and the log then starts a new
  // incarnation so their sequences are never taken for the new events that
  // reuse them. (default)
  process,
  fsync,  // WAL fsync'ed on every append (group commit): survives power loss
};

struct EventLogConfig {
  std::string data_dir = "./data";           // directory of the database
  Durability durability = Durability::process;
  std::int64_t retention_max_age_ms = 7LL * 24 * 3600 * 1000;  // 7 days; 0 = keep forever
  std::uint64_t retention_max_bytes = 0;     // 0 = unlimited
  std::size_t block_cache_mb = 64;           // RocksDB block cache
  std::size_t write_buffer_mb = 64;          // memtable size per column family
  // Memtables of every column family together: past it all are flushed.
  // They are charged to the block cache, whose capacity grows by
  // this much, so block cache + memtables + index/filter blocks stay within
  // block_cache_mb + memtable_budget_mb (RocksDB may overshoot briefly while
  // a flush runs). MiB.
  std::size_t memtable_budget_mb = 64;
  // Appends and checkpoints are refused (no_space: HTTP 507) while they
  // would leave the data directory's file system with less than this
  // available, so the database's own writes (write-ahead log, flushes,
  // compactions) keep room and never meet a full disk themselves. MiB; 0 =
  // no check.
  std::size_t min_free_disk_mb = 256;
  // process mode: how often the WAL is fsync'ed in the background, which
  // bounds what a power loss can take; also how often the durability mark
  // (SHOPPULSE-DURABILITY) records the synced sequence in both modes. ms.
  std::int64_t wal_sync_interval_ms = 1000;
  // A background scrub reads every table file and checks its block
  // checksums once shortly after open and then this often, at the lowest CPU
  // priority, so damage in data start-up does not read (table files are read
  // on demand) is found and reported as `damage` instead of waiting for a
  // query to hit it. ms; 0 = never.
  std::int64_t scrub_interval_ms = 24LL * 3600 * 1000;
  // A clean close writes the memtables to table files, so the next open
  // replays no WAL. Off only where a test damages the WAL a close leaves, to
  // model a process that died before its close.
  bool flush_at_close = true;
};

// Opens (creating if missing) the database. Fails with io_error and RocksDB's
// message when the directory is unusable or locked by another process, and
// with corrupt when the log is damaged: a WAL record fails its checksum
// anywhere but in an unsynced tail, a synced WAL is missing or short, or the
// log ends before a sequence the durability mark says was synced. A corrupt
// log is never opened partially; `shoppulse recover --to-last-good` repairs it.
Result<std::unique_ptr<Storage>> open_rocksdb_store(const EventLogConfig& config);

// What `shoppulse verify` found in a data directory. Read-only: nothing in
// the directory changes, and it may run beside a live server.
struct VerifyReport {
  bool opened = false;  // the database opened at all
  Sequence first_sequence = 0, last_sequence = 0;
  std::uint64_t blocks = 0, events = 0, dictionary_entries = 0, checkpoints = 0, rollup_minutes = 0;
  std::uint64_t incarnation = 0;  // from the durability mark; 0 without one
  Sequence synced_through = 0;
  std::vector<std::string> problems;  // empty: every check passed
};
// Checks table checksums (all families), every log block (decodes, keys,
// sequence continuity, agreement with the block index), the dictionary (ids
// contiguous, every id an event uses present), checkpoints and rollup
// minutes (checksums; a checkpoint covers no sequence beyond the log) and
// the durability mark (readable; the log reaches its synced sequence).
VerifyReport verify_rocksdb_store(const EventLogConfig& config);

// What `shoppulse recover --to-last-good` did.
struct RecoverReport {
  bool rebuilt_manifest = false;  // the MANIFEST or CURRENT was unusable and was rebuilt from the tables
  Sequence kept_through = 0;      // the log now ends here
  // Sequences removed from the log or known lost (synced once, now gone);
  // 0/0 when none. Events after kept_through that were never synced and
  // are gone cannot be counted: the log never held them on disk.
  Sequence dropped_from = 0, dropped_through = 0;
  std::uint64_t dropped_events = 0;      // removed from the log
  std::uint64_t lost_synced_events = 0;  // synced once, missing before this ran
  std::uint64_t dropped_blocks = 0, dropped_dictionary_entries = 0, dropped_checkpoints = 0,
                dropped_rollup_minutes = 0;
  std::uint64_t old_incarnation = 0, new_incarnation = 0;  // equal when nothing was lost
  std::vector<std::string> notes;  // each damage found, in words
};
// Keeps the longest consistent prefix of the log: a damaged WAL is read up
// to its first bad record; the log is cut at its first block that does not
// decode, breaks sequence continuity or uses a dictionary id that is
// missing; dictionary entries after a gap go. When anything is dropped,
// every checkpoint and rollup goes too (they are rebuilt from the log at
// the next start) and the log starts a new incarnation. The server must
// not be running.
Result<RecoverReport> recover_rocksdb_store(const EventLogConfig& config);

}  // namespace shoppulse
