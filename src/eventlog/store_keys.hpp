#pragma once
// Keys and small values of the RocksDB store. Integers in keys are big-endian
// so RocksDB's bytewise order is numeric order.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "block_index.hpp"
#include "shoppulse/core/byte_codec.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/eventlog/storage.hpp"

namespace shoppulse::eventlog {

// Prefix of the block index in the meta family; see rocksdb_store.cpp.
inline constexpr std::string_view kBlockIndexPrefix = "block/";
// Prefix of the source offsets in the meta family: + source name -> be64 offset.
inline constexpr std::string_view kSourceOffsetPrefix = "source/";
std::string source_offset_key(std::string_view source);

std::string be64(std::uint64_t value);
// Precondition: bytes.size() >= 8; reads the first eight.
std::uint64_t get_be64(std::string_view bytes);

// events: the block's first sequence.
std::string sequence_key(Sequence first);

// meta: kBlockIndexPrefix + first sequence -> last, newest time, bytes.
std::string block_index_key(Sequence first);
std::string encode_block_summary(const BlockSummary& summary);
Result<BlockSummary> decode_block_summary(std::string_view key, std::string_view value);

// dictionary: one id, kind byte + big-endian 32-bit id -> its name (the only
// shape before format 3), or a run of consecutive ids, kind byte + big-endian
// first and last id -> their names in id order, each as ByteWriter::bytes
// writes it, its varint length first (format 3: an append writes its new ids of a kind as one run). A run's key
// sorts right after the single key of its first id, and runs never overlap,
// so the key at or before (kind, id, last = max) is the one holding id, if
// any. Decoding returns the ids a key holds, without their names.
struct DictionaryKey {
  IdKind kind = IdKind::user;
  Id first = 0;
  Id last = 0;
  bool run = false;  // a run key; false: a single id (first == last)
};
std::string dictionary_key(IdKind kind, Id id);
std::string dictionary_run_key(IdKind kind, Id first, Id last);
// The greatest key a (kind, id) can be held under: seek back from it.
inline std::string dictionary_key_at_or_before(IdKind kind, Id id) { return dictionary_run_key(kind, id, ~Id{0}); }
Result<DictionaryKey> decode_dictionary_key(std::string_view key);
// Calls fn(id, name) for each id of a run key's value, in order; corrupt
// when the value does not hold exactly last - first + 1 names.
template <typename Fn>
Result<void> for_each_dictionary_name(const DictionaryKey& key, std::string_view value, Fn&& fn);
// fn(id, name) for each id a key holds: its one id, or each id of a run.
template <typename Fn>
Result<void> for_each_dictionary_entry(const DictionaryKey& key, std::string_view value, Fn&& fn) {
  if (!key.run) {
    fn(key.first, value);
    return {};
  }
  return for_each_dictionary_name(key, value, fn);
}
// The name of id inside a run's value (first <= id <= last).
Result<std::string_view> dictionary_name_in_run(const DictionaryKey& key, std::string_view value, Id id);

// meta: kDictionaryNamePrefix + kind byte + value -> be32 id, the reverse of
// the dictionary family for the ids a bounded dictionary evicted (written
// before the eviction, never for a new id); it finds an evicted string's id
// with it. kDictionaryNamesThroughKey holds, per kind, a be32 id through
// which every id has its reverse entry (written at a bounded start-up for
// the ids it leaves on disk). A data dir without either is valid.
inline constexpr std::string_view kDictionaryNamePrefix = "name/";
inline constexpr std::string_view kDictionaryNamesThroughKey = "dictionary_names_through";
std::string dictionary_name_key(IdKind kind, std::string_view value);
std::string be32(std::uint32_t value);
// Precondition: bytes.size() >= 4; reads the first four.
std::uint32_t get_be32(std::string_view bytes);

// rollups: the minute with its sign bit flipped, so negative minutes sort
// before positive ones.
std::string minute_key(std::int64_t minute);
Result<std::int64_t> decode_minute_key(std::string_view key);

// Stored values of derived state (checkpoints, rollup minutes) end with a
// big-endian checksum64 of what precedes it (format version 2), so damage is
// found on read instead of decoded into wrong figures.
std::string seal(std::string value);
// The value without its checksum; corrupt when the checksum does not match.
Result<std::string_view> unseal(std::string_view sealed, std::string_view what);

// checkpoints: big-endian covers_through followed by the state's bytes
// (unsealed: the store seals it).
std::string encode_checkpoint(const Checkpoint& checkpoint);
// A head (below) is not a checkpoint: decoding one as such is an error.
Result<Checkpoint> decode_checkpoint(std::string_view value);

// A checkpoint written as a table file of its own is kept in parts of
// kCheckpointPartBytes: the key `name` holds its head, the keys
// checkpoint_part_key(name, 0 .. parts-1) its bytes, each part sealed on its
// own. The writer then never holds more than one part beyond the bytes it
// was given (a table file copies its values), and a reader assembles the
// parts past the block cache. A part key is the name, a zero byte and the
// big-endian index, so it sorts right after its head and before any other
// name (names hold no zero byte).
inline constexpr std::size_t kCheckpointPartBytes = std::size_t{4} << 20;
struct CheckpointHead {
  Sequence covers_through = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t bytes = 0;  // of the state, all parts together
  std::uint32_t parts = 0;
};
inline std::uint32_t checkpoint_parts_for(std::uint64_t bytes) {
  return static_cast<std::uint32_t>((bytes + kCheckpointPartBytes - 1) / kCheckpointPartBytes);
}
// Unsealed, like encode_checkpoint.
std::string encode_checkpoint_head(const CheckpointHead& head);
// The head when `value` (unsealed) is one, empty when it is a whole
// checkpoint; corrupt when it is a malformed head.
Result<std::optional<CheckpointHead>> decode_checkpoint_head(std::string_view value);
std::string checkpoint_part_key(std::string_view name, std::uint32_t index);
inline bool is_checkpoint_part_key(std::string_view key) { return key.find('\0') != std::string_view::npos; }
// All part keys of `name` lie in [checkpoint_parts_begin(name), checkpoint_parts_end(name)).
std::string checkpoint_parts_begin(std::string_view name);
std::string checkpoint_parts_end(std::string_view name);

template <typename Fn>
Result<void> for_each_dictionary_name(const DictionaryKey& key, std::string_view value, Fn&& fn) {
  ByteReader in(value);
  std::uint64_t next = key.first;
  while (!in.at_end()) {
    const std::string_view name = in.bytes();
    if (in.failed()) return make_error(Errc::corrupt, "event log: dictionary run has a name past its end");
    if (next > key.last)
      return make_error(Errc::corrupt, "event log: dictionary run holds more names than its ids");
    fn(static_cast<Id>(next), name);
    ++next;
  }
  if (next != std::uint64_t{key.last} + 1)
    return make_error(Errc::corrupt, "event log: dictionary run holds fewer names than its ids");
  return {};
}

}  // namespace shoppulse::eventlog
