#pragma once
// Hooks of the RocksDB store for the event log's own tests: open it on an
// injected rocksdb::FileSystem (fault injection) and sync on demand instead
// of waiting for the background syncer.
#include <rocksdb/file_system.h>

#include <memory>

#include "shoppulse/eventlog/rocksdb_store.hpp"

namespace shoppulse::eventlog {

Result<std::unique_ptr<Storage>> open_rocksdb_store_on(const EventLogConfig& config,
                                                       std::shared_ptr<ROCKSDB_NAMESPACE::FileSystem> file_system);

// What the background syncer does every wal_sync_interval_ms, now.
Result<void> sync_rocksdb_store(Storage& store);

}  // namespace shoppulse::eventlog
