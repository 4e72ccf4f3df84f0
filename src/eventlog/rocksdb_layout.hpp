#pragma once
// How the RocksDB store lays out its data, shared by the store and by the
// offline check and repair (verify / recover). Private to src/eventlog.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>

#include <string_view>
#include <vector>

#include "shoppulse/eventlog/rocksdb_store.hpp"

namespace shoppulse::eventlog {

namespace rdb = ROCKSDB_NAMESPACE;

// Column families, in the order their handles are kept. RocksDB requires the
// default family to be opened; nothing is stored in it.
enum Family : std::size_t { kDefault, kEvents, kDictionary, kRollups, kCheckpoints, kMeta, kFamilyCount };
inline constexpr const char* kFamilyNames[kFamilyCount] = {
    "default", "events", "dictionary", "rollups", "checkpoints", "meta"};

// Meta keys. The block index ("block/" + big-endian first sequence) holds
// each block's summary so opening a large log reads a few bytes per block
// instead of every block. "dropped_through" remembers the last sequence that
// retention removed, so sequences are never reused even when retention
// empties the log.
inline constexpr std::string_view kFormatKey = "format_version";
// 2: checkpoint and rollup values are sealed with a checksum (store_keys.hpp);
// a version 1 database is converted when opened.
// 3: the dictionary family may hold runs of ids under one key
// (store_keys.hpp); a version 2 database is valid as it is and is marked 3
// when opened, so a build that cannot read runs refuses it instead of
// taking them for damage.
inline constexpr std::string_view kFormatVersion = "3";
inline constexpr std::string_view kFormatVersionSingleIds = "2";
inline constexpr std::string_view kFormatVersionUnsealed = "1";
inline constexpr std::string_view kDroppedThroughKey = "dropped_through";

// The options every open uses: the store's own (rocksdb_store.cpp explains
// the corruption settings), or the offline tools' with another recovery mode.
struct StoreOptions {
  rdb::DBOptions db;  // db.write_buffer_manager charges the memtables to the block cache
  std::vector<rdb::ColumnFamilyDescriptor> families;  // in Family order
};
StoreOptions store_options(const EventLogConfig& config, rdb::WALRecoveryMode recovery);

// Table files are hard-linked here before every open and the links removed
// once the open passed every check. RocksDB deletes the table files its
// MANIFEST does not list when it opens, so a damaged MANIFEST would take the
// data with it; the links keep it for `recover`, which rebuilds the MANIFEST.
inline constexpr const char* kPreservedTablesDir = "SHOPPULSE-PRESERVED-TABLES";
// Links every *.sst of dir into kPreservedTablesDir (an existing link is
// kept); errors are returned, nothing is removed.
Result<void> preserve_tables(const std::string& dir);
// Links preserved tables missing from dir back; returns how many.
std::size_t restore_preserved_tables(const std::string& dir);
void drop_preserved_tables(const std::string& dir);

inline std::string_view view(const rdb::Slice& slice) { return {slice.data(), slice.size()}; }

// Checkpoint `name` of the checkpoints family (`family`), whole or
// assembled from its parts (store_keys.hpp), every value checked against its
// checksum; empty when there is none. Parts are read from one snapshot and
// past the block cache, so the reader holds the state and one part.
// Errors: io_error from RocksDB (the status's text), corrupt for a damaged
// or missing value.
Result<std::optional<Checkpoint>> read_checkpoint(rdb::DB& db, rdb::ColumnFamilyHandle* family,
                                                  std::string_view name);
// Adds checkpoint `name`, described by `head` (its parts counted from its
// bytes), to an open table-file writer as the head and its parts, each
// sealed, in key order, reading the state part by part from `read`. When a
// read fails, returns Aborted with the read's error in `read_failed`.
struct CheckpointHead;
rdb::Status add_checkpoint_parts(rdb::SstFileWriter& writer, std::string_view name, const CheckpointHead& head,
                                 const CheckpointStore::ByteSource& read, std::optional<Error>& read_failed);

}  // namespace shoppulse::eventlog
