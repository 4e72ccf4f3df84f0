#include "block_index.hpp"

#include <algorithm>
#include <limits>

namespace shoppulse::eventlog {

BlockSummary summarize_block(Sequence first, std::span<const LogRecord> records, std::uint64_t bytes) {
  BlockSummary summary{first, first + records.size() - 1, records.front().event.time_ms, bytes};
  for (const LogRecord& record : records) {
    summary.newest_time_ms = std::max(summary.newest_time_ms, record.event.time_ms);
  }
  return summary;
}

RetentionPlan plan_retention(const std::deque<BlockSummary>& blocks, std::uint64_t total_bytes,
                             TimestampMs now, std::int64_t max_age_ms, std::uint64_t max_bytes) {
  const bool age_limited = max_age_ms > 0;
  // Saturate instead of overflowing when now is near the bottom of int64.
  const TimestampMs cutoff = age_limited && now < std::numeric_limits<TimestampMs>::min() + max_age_ms
                                 ? std::numeric_limits<TimestampMs>::min()
                                 : now - (age_limited ? max_age_ms : 0);
  RetentionPlan plan;
  std::uint64_t remaining = total_bytes;
  for (const BlockSummary& block : blocks) {
    const bool too_old = age_limited && block.newest_time_ms < cutoff;
    const bool too_big = max_bytes > 0 && remaining > max_bytes;
    if (!too_old && !too_big) break;
    remaining -= block.bytes;
    plan.bytes += block.bytes;
    ++plan.blocks;
  }
  return plan;
}

}  // namespace shoppulse::eventlog
