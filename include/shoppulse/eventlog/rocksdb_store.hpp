#pragma once
// The embedded default storage: one RocksDB database with column families for
// events, dictionary, rollups, checkpoints. RocksDB types stay inside src/eventlog.
#include <cstdint>
#include <memory>
#include <string>

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
  // process mode: how often the WAL is fsync'ed in the background, which
  // bounds what a power loss can take; also how often the durability mark
  // (SHOPPULSE-DURABILITY) records the synced sequence in both modes. ms.
  std::int64_t wal_sync_interval_ms = 1000;
};

// Opens (creating if missing) the database. Fails with io_error and RocksDB's
// message when the directory is unusable or locked by another process, and
// with corrupt when the log is damaged: a WAL record fails its checksum
// anywhere but in an unsynced tail, a synced WAL is missing or short, or the
// log ends before a sequence the durability mark says was synced. A corrupt
// log is never opened partially; `shoppulse recover --to-last-good` repairs it.
Result<std::unique_ptr<Storage>> open_rocksdb_store(const EventLogConfig& config);

}  // namespace shoppulse
