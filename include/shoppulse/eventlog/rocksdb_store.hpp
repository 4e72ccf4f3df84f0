#pragma once
// The embedded default storage: one RocksDB database with column families for
// events, dictionary, rollups, checkpoints. RocksDB types stay inside src/eventlog.
#include <cstdint>
#include <memory>
#include <string>

#include "shoppulse/eventlog/storage.hpp"

namespace shoppulse {

enum class Durability {
  process,  // WAL on, no fsync: survives kill -9 of the process (default)
  fsync,    // WAL fsync'ed on every append (group commit): survives power loss
};

struct EventLogConfig {
  std::string data_dir = "./data";           // directory of the database
  Durability durability = Durability::process;
  std::int64_t retention_max_age_ms = 7LL * 24 * 3600 * 1000;  // 7 days; 0 = keep forever
  std::uint64_t retention_max_bytes = 0;     // 0 = unlimited
  std::size_t block_cache_mb = 64;           // RocksDB block cache
  std::size_t write_buffer_mb = 64;          // memtable size per column family
};

// Opens (creating if missing) the database. Fails with io_error and RocksDB's
// message when the directory is unusable or locked by another process.
Result<std::unique_ptr<Storage>> open_rocksdb_store(const EventLogConfig& config);

}  // namespace shoppulse
