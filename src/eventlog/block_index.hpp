#pragma once
// What the stores remember about each retained block without decoding it,
// and the retention decision made from those summaries alone. Shared by the
// RocksDB and memory stores so both retain exactly the same blocks.
#include <cstdint>
#include <deque>
#include <span>

#include "shoppulse/core/event.hpp"

namespace shoppulse::eventlog {

struct BlockSummary {
  Sequence first = 0;
  Sequence last = 0;
  TimestampMs newest_time_ms = 0;
  std::uint64_t bytes = 0;  // key + encoded block: the log's logical size
};

// Summarizes a block of contiguous records starting at first.
// Precondition: records is non-empty.
BlockSummary summarize_block(Sequence first, std::span<const LogRecord> records, std::uint64_t bytes);

struct RetentionPlan {
  std::size_t blocks = 0;    // drop this many blocks from the front
  std::uint64_t bytes = 0;   // their total bytes
};

// Oldest-first: drops blocks from the front while the front block's newest
// event is older than now - max_age_ms (0 = no age limit) or the log's
// logical bytes exceed max_bytes (0 = unlimited). It stops at the first block
// that may stay, so the log never gets a hole even when event times are out
// of order. Logical bytes, not bytes on disk, because disk space is reclaimed
// only by a later compaction and would make every call drop more.
RetentionPlan plan_retention(const std::deque<BlockSummary>& blocks, std::uint64_t total_bytes,
                             TimestampMs now, std::int64_t max_age_ms, std::uint64_t max_bytes);

}  // namespace shoppulse::eventlog
