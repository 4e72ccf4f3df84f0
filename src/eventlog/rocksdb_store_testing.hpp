#pragma once
// Hooks of the RocksDB store for the event log's own tests: open it on an
// injected rocksdb::FileSystem (fault injection) and monotonic time (the
// pacing of its resumes after a storage failure), sync on demand instead of
// waiting for the background syncer, wait for RocksDB's own recovery.
#include <rocksdb/file_system.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/steady_time.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"

namespace shoppulse::eventlog {

// After a failed write or sync, the next write resumes RocksDB at most this
// often (on the store's monotonic time).
inline constexpr std::chrono::seconds kResumeInterval{1};

Result<std::unique_ptr<Storage>> open_rocksdb_store_on(const EventLogConfig& config,
                                                       std::shared_ptr<ROCKSDB_NAMESPACE::FileSystem> file_system,
                                                       SteadyTime& time = system_steady_time());

// Blocks until every recovery from a background error that RocksDB began on
// its own has ended, or `timeout` of real time passes (a bound that turns a
// hang into a failure): true when they have.
bool wait_for_rocksdb_recovery(Storage& store, std::chrono::milliseconds timeout = std::chrono::seconds(60));
// How many of those recoveries have ended (each logs its outcome).
std::uint64_t rocksdb_recoveries_by_itself(Storage& store);

// What the background syncer does every wal_sync_interval_ms, now.
Result<void> sync_rocksdb_store(Storage& store);

// Writes every memtable to a table file and waits for it.
Result<void> flush_rocksdb_store(Storage& store);

// Stores value under key in the named column family as it is, bypassing
// the store's encoding: damage for tests to find.
Result<void> put_raw(Storage& store, std::string_view family, std::string_view key, std::string_view value);

// Deletes key from the named column family, and lists its keys in order.
Result<void> delete_raw(Storage& store, std::string_view family, std::string_view key);
Result<std::vector<std::string>> raw_keys(Storage& store, std::string_view family);
// The value stored under key in the named column family, as it is.
Result<std::optional<std::string>> raw_value(Storage& store, std::string_view family, std::string_view key);

// Deletes the dictionary's reverse (name -> id) entries and their marker:
// the data dir as a version without them left it.
Result<void> drop_dictionary_names(Storage& store);

}  // namespace shoppulse::eventlog
