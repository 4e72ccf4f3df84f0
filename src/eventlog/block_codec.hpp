#pragma once
// The byte format of one event-log block: a run of LogRecords with contiguous
// sequences, packed with varints. Private to the eventlog module; both stores
// use it (the memory store only to measure blocks, so both apply the same
// size-based retention).
//
// Layout (all integers LEB128 varints; "s" = zigzag-encoded signed):
//   u8   format version (kBlockFormatVersion)
//   u    record count (>= 1)
//   u    first sequence; record i carries first + i, so sequences are implied
//   s    newest event time in the block, so retention can judge a block by
//        its header alone
//   then per record:
//   s    time delta from the previous record (from 0 for the first), taken
//        modulo 2^64 so any pair of int64 times round-trips
//   u8   event type, u8 rating
//   u    user, product, category, device, location ids; quantity
//   s    price in minor units
//   u    length + bytes of event_id, then of session_id
//
// Decoding checks every length and range against the bytes it has: corrupt
// or truncated input yields Errc::corrupt, never a crash or an out-of-bounds read.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"

namespace shoppulse::eventlog {

inline constexpr std::uint8_t kBlockFormatVersion = 1;

// What a block says about itself without decoding its records.
struct BlockHeader {
  Sequence first_sequence = 0;
  std::uint64_t count = 0;
  TimestampMs newest_time_ms = 0;

  Sequence last_sequence() const noexcept { return first_sequence + count - 1; }
};

// Encodes records (non-empty, sequences contiguous) into one block.
// Fails with invalid_argument otherwise.
Result<std::string> encode_block(std::span<const LogRecord> records);
// Same, into out (replacing its contents, reusing its capacity).
Result<void> encode_block_into(std::span<const LogRecord> records, std::string& out);

// Reads only the header; cheap. Fails with corrupt on malformed bytes.
Result<BlockHeader> decode_block_header(std::string_view bytes);

// Decodes every record, replacing the contents of out (whose capacity is
// reused across calls). Fails with corrupt on malformed bytes; out is then
// unspecified.
Result<BlockHeader> decode_block(std::string_view bytes, std::vector<LogRecord>& out);

}  // namespace shoppulse::eventlog
